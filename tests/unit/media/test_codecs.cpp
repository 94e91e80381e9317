// Encode -> decode round trips for every codec the writer offers, colour handling, 10-bit, rotation, VFR.
#include <array>
#include <cmath>
#include <map>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "media_test_util.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"

namespace mf::media::test {
namespace {

constexpr int kW = 64, kH = 48, kN = 12;

struct RoundTripCase {
  Codec codec;
  std::string file;   // file name (extension picks the container) or pattern
  double min_psnr;    // +inf = must be exact
  Rational fps;
  bool exact_fps;     // container keeps the rational exactly (MP4/MOV time scales)
};

std::string case_name(const ::testing::TestParamInfo<RoundTripCase>& i) {
  std::string n = std::string(to_string(i.param.codec)) + "_" + fs::path(i.param.file).extension().string().substr(1);
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, FramesSizeFpsAndPixels) {
  const RoundTripCase& c = GetParam();
  if (!encoder_available(c.codec)) GTEST_SKIP() << "no encoder for " << to_string(c.codec) << " in this FFmpeg";
  TempDir dir;
  const fs::path out = dir / c.file;
  std::vector<Image> src;
  for (int t = 0; t < kN; ++t) src.push_back(pattern_frame(kW, kH, t));
  EncodeOptions o;
  o.codec = c.codec;
  o.fps = c.fps;
  if (c.codec == Codec::H264 || c.codec == Codec::H265) o.crf = 8;
  if (c.codec == Codec::Vp9 || c.codec == Codec::Av1) o.crf = 10;
  if (c.codec == Codec::Gif) {  // the web palette holds multiples of 51 exactly
    src.clear();
    for (int t = 0; t < kN; ++t) {
      Image img = Image::make(kW, kH, 3);
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
          img.at(x, y)[0] = static_cast<uint8_t>(51 * ((x / 8 + t) % 6));
          img.at(x, y)[1] = static_cast<uint8_t>(51 * ((y / 8) % 6));
          img.at(x, y)[2] = static_cast<uint8_t>(t % 2 ? 255 : 0);
        }
      src.push_back(img);
    }
  }
  write_video(out, src, o);

  VideoReader r(out);
  const MediaInfo& info = r.info();
  EXPECT_EQ(info.frame_count, kN);
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  if (c.codec == Codec::Png) EXPECT_EQ(info.fps, Rational(25));  // image sequences carry no rate: FFmpeg's 25
  else if (c.exact_fps) EXPECT_EQ(info.fps, c.fps) << info.fps.str();
  else EXPECT_NEAR(info.fps.to_double(), c.fps.to_double(), 0.01 * c.fps.to_double()) << info.fps.str();
  if (c.codec != Codec::Png) {
    EXPECT_NEAR(info.duration_s, kN / c.fps.to_double(), 0.5 / c.fps.to_double());
  }
  EXPECT_FALSE(info.variable_frame_rate);

  DecodedFrame f;
  int n = 0;
  double worst = INFINITY;
  while (r.read(f)) {
    ASSERT_LT(n, kN);
    EXPECT_EQ(f.index, n);
    ASSERT_EQ(f.image.width, kW);
    ASSERT_EQ(f.image.height, kH);
    worst = std::min(worst, psnr(f.image, src[n]));
    ++n;
  }
  EXPECT_EQ(n, kN);
  if (std::isinf(c.min_psnr)) EXPECT_TRUE(std::isinf(worst)) << "lossless codec changed pixels: " << worst << " dB";
  else EXPECT_GE(worst, c.min_psnr);
  RecordProperty("worst_psnr_db", std::to_string(worst));
  std::printf("%s worst PSNR %.2f dB\n", c.file.c_str(), worst);
}

const double kExact = INFINITY;
INSTANTIATE_TEST_SUITE_P(
    Media, RoundTrip,
    ::testing::Values(RoundTripCase{Codec::H264, "a.mp4", 40, {24, 1}, true},
                      RoundTripCase{Codec::H264, "a.mov", 40, {30000, 1001}, true},
                      RoundTripCase{Codec::H265, "a.mp4", 40, {25, 1}, true},
                      RoundTripCase{Codec::H265, "a.mkv", 40, {24, 1}, false},
                      RoundTripCase{Codec::Vp9, "a.webm", 40, {24, 1}, false},
                      RoundTripCase{Codec::ProRes422, "a.mov", 40, {24000, 1001}, true},
                      RoundTripCase{Codec::ProRes4444, "a.mov", 40, {24, 1}, true},
                      RoundTripCase{Codec::Av1, "a.mkv", 40, {24, 1}, false},
                      RoundTripCase{Codec::Mjpeg, "a.avi", 40, {24, 1}, false},
                      RoundTripCase{Codec::Ffv1, "a.mkv", kExact, {24, 1}, false},
                      RoundTripCase{Codec::Gif, "a.gif", kExact, {10, 1}, false},
                      RoundTripCase{Codec::Png, "seq/f_%04d.png", kExact, {24, 1}, false}),
    case_name);

TEST(MediaCodecs, SinglePngIsExactAndKeepsGray) {
  TempDir dir;
  Image rgb = pattern_frame(kW, kH, 3);
  write_png(dir / "a.png", rgb);
  Image back = read_image(dir / "a.png");
  EXPECT_EQ(max_abs_diff(back, rgb), 0);
  MediaInfo info = probe(dir / "a.png");
  EXPECT_TRUE(info.is_image);
  EXPECT_EQ(info.frame_count, 1);

  Image g = to_gray(rgb);
  write_png(dir / "g.png", g);
  EXPECT_EQ(max_abs_diff(read_image(dir / "g.png", PixelFormat::Gray8), g), 0);
}

TEST(MediaCodecs, StillImageFormatsDecode) {
  // Files written by OpenCV's codecs (independent of FFmpeg) read through the same VideoReader path.
  TempDir dir;
  Image img = pattern_frame(kW, kH, 0);
  cv::Mat rgb(kH, kW, CV_8UC3, img.data.data(), img.stride), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  struct Still {
    const char* ext;
    std::vector<int> params;
    double min_psnr;
  };
  for (const Still& s : {Still{"bmp", {}, INFINITY}, Still{"tiff", {}, INFINITY},
                         Still{"webp", {cv::IMWRITE_WEBP_QUALITY, 101}, INFINITY},
                         Still{"jpg", {cv::IMWRITE_JPEG_QUALITY, 100}, 38.0}}) {
    const fs::path p = dir / (std::string("still.") + s.ext);
    ASSERT_TRUE(cv::imwrite(p.string(), bgr, s.params)) << s.ext;
    MediaInfo info = probe(p);
    EXPECT_TRUE(info.is_image) << s.ext << " " << info.container;
    EXPECT_EQ(info.frame_count, 1) << s.ext;
    Image back = read_image(p);
    ASSERT_EQ(back.width, kW) << s.ext;
    ASSERT_EQ(back.height, kH) << s.ext;
    if (std::isinf(s.min_psnr)) EXPECT_EQ(max_abs_diff(back, img), 0) << s.ext;
    else EXPECT_GE(psnr(back, img), s.min_psnr) << s.ext;
  }
}

TEST(MediaCodecs, TenBitH265DecodesAtFullPrecision) {
  if (!encoder_available(Codec::H265)) GTEST_SKIP();
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 6; ++t) src.push_back(pattern_frame(kW, kH, t));
  EncodeOptions o;
  o.codec = Codec::H265;
  o.pixel_format = "yuv420p10le";
  o.crf = 8;
  try {
    write_video(dir / "ten.mkv", src, o);
  } catch (const mf::Error& e) {
    GTEST_SKIP() << "libx265 without 10-bit support: " << e.what();
  }
  VideoReader r(dir / "ten.mkv");
  EXPECT_EQ(r.info().streams[r.info().video_stream].bit_depth, 10);
  DecodedFrame f;
  int n = 0;
  while (r.read(f)) EXPECT_GE(psnr(f.image, src[n++]), 40.0);
  EXPECT_EQ(n, 6);
}

TEST(MediaCodecs, ProResIsHighBitDepth) {
  TempDir dir;
  for (Codec c : {Codec::ProRes422, Codec::ProRes4444}) {
    EncodeOptions o;
    o.codec = c;
    write_video(dir / "p.mov", {pattern_frame(kW, kH, 0)}, o);
    MediaInfo info = probe(dir / "p.mov");
    EXPECT_EQ(info.codec, "prores");
    // FFmpeg decodes 422 as 10-bit and 4444 as 12-bit.
    EXPECT_EQ(info.streams[info.video_stream].bit_depth, c == Codec::ProRes422 ? 10 : 12);
    EXPECT_GE(psnr(read_image(dir / "p.mov"), pattern_frame(kW, kH, 0)), 40.0);
  }
}

// Solid colours survive with the right matrix and range: decoding BT.709 as BT.601 (or limited as full)
// would be off by 10-40 levels.
TEST(MediaCodecs, ColourMatrixAndRangeAreHonoured) {
  TempDir dir;
  const std::vector<std::array<uint8_t, 3>> colours = {
      {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 120, 40}, {16, 16, 16}, {240, 240, 240}};
  struct Variant {
    const char* name;
    std::map<std::string, std::string> opts;
    const char* space;
    const char* range;
  };
  const std::vector<Variant> variants = {
      {"bt709_tv", {}, "bt709", "tv"},
      {"bt601_tv", {{"colorspace", "smpte170m"}, {"color_primaries", "smpte170m"}, {"color_trc", "smpte170m"}},
       "smpte170m", "tv"},
      {"bt709_pc", {{"color_range", "pc"}}, "bt709", "pc"},
  };
  for (auto& v : variants) {
    std::vector<Image> src;
    for (auto& c : colours) src.push_back(solid(kW, kH, c[0], c[1], c[2]));
    EncodeOptions o;
    o.codec = Codec::H264;
    o.crf = 0;
    o.codec_options = v.opts;
    const fs::path p = dir / (std::string(v.name) + ".mp4");
    write_video(p, src, o);
    VideoReader r(p);
    const StreamInfo& s = r.info().streams[r.info().video_stream];
    EXPECT_EQ(s.color_space, v.space) << v.name;
    EXPECT_EQ(s.color_range, v.range) << v.name;
    DecodedFrame f;
    size_t n = 0;
    while (r.read(f)) {
      EXPECT_LE(max_abs_diff(f.image, src[n]), 3) << v.name << " colour " << n;
      ++n;
    }
    EXPECT_EQ(n, colours.size());
  }
}

TEST(MediaCodecs, RotationMetadataIsApplied) {
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 4; ++t) src.push_back(pattern_frame(kW, kH, t));
  EncodeOptions o;
  o.rotation = 90;
  o.crf = 8;
  write_video(dir / "rot.mp4", src, o);

  VideoReader r(dir / "rot.mp4");
  EXPECT_EQ(r.info().rotation, 90);
  EXPECT_EQ(r.info().width, kH);
  EXPECT_EQ(r.info().height, kW);
  DecodeOptions raw;
  raw.apply_rotation = false;
  VideoReader u(dir / "rot.mp4", raw);
  DecodedFrame a, b;
  int n = 0;
  while (r.read(a)) {
    ASSERT_TRUE(u.read(b));
    ASSERT_EQ(a.image.width, kH);
    EXPECT_EQ(max_abs_diff(a.image, rotate_cw(b.image)), 0);
    EXPECT_GE(psnr(a.image, rotate_cw(src[n])), 40.0);
    ++n;
  }
  EXPECT_EQ(n, 4);
}

TEST(MediaCodecs, FastColourIsCloseToAccurate) {
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 4; ++t) src.push_back(pattern_frame(kW, kH, t));
  EncodeOptions o;
  o.crf = 8;
  write_video(dir / "f.mp4", src, o);
  DecodeOptions fast;
  fast.fast_color = true;
  auto a = read_frames(dir / "f.mp4");
  auto f = read_frames(dir / "f.mp4", fast);
  ASSERT_EQ(f.size(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_GE(psnr(f[i], src[i]), 34.0);
    EXPECT_GE(psnr(a[i], src[i]), psnr(f[i], src[i]));  // accurate is never worse
  }
}

TEST(MediaCodecs, OutputSizeAndGrayOptions) {
  TempDir dir;
  write_video(dir / "s.mp4", {pattern_frame(kW, kH, 0), pattern_frame(kW, kH, 1)});
  DecodeOptions o;
  o.width = 32;  // height follows the aspect: 24
  o.format = PixelFormat::Gray8;
  auto frames = read_frames(dir / "s.mp4", o);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].width, 32);
  EXPECT_EQ(frames[0].height, 24);
  EXPECT_EQ(frames[0].channels, 1);
}

TEST(MediaCodecs, VariableFrameRateUsesTimestamps) {
  TempDir dir;
  EncodeOptions o;
  o.fps = Rational(30, 1);
  o.time_base = Rational(1, 1000);
  o.crf = 8;
  const std::vector<Rational> times = {Rational(0), Rational(40, 1000), Rational(50, 1000), Rational(200, 1000),
                                       Rational(210, 1000), Rational(500, 1000)};
  {
    VideoWriter w(dir / "vfr.mkv", kW, kH, o);
    for (size_t i = 0; i < times.size(); ++i) w.write(pattern_frame(kW, kH, int(i) * 5), times[i]);
    w.finish();
  }
  VideoReader r(dir / "vfr.mkv");
  EXPECT_TRUE(r.info().variable_frame_rate);
  ASSERT_EQ(r.frame_count(), 6);
  auto ft = r.frame_times();
  for (size_t i = 0; i < times.size(); ++i) EXPECT_NEAR(ft[i], times[i].to_double(), 1e-3);
  // The frame on screen at 0.1 s is the one shown from 0.05 s.
  EXPECT_EQ(r.index_at(Rational(1, 10)), 2);
  EXPECT_EQ(r.index_at(Rational(0)), 0);
  EXPECT_EQ(r.index_at(Rational(499, 1000)), 4);
  DecodedFrame f = r.frame_at(Rational(205, 1000));
  EXPECT_EQ(f.index, 3);
  EXPECT_GE(psnr(f.image, pattern_frame(kW, kH, 15)), 40.0);
  EXPECT_TRUE(throws_mf([&] { r.index_at(Rational(-1, 10)); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([&] { r.index_at(Rational(10)); }, {ErrorCode::BadInput}));
}

TEST(MediaCodecs, AudioIsCopiedWhenAsked) {
  TempDir dir;
  write_wav(dir / "tone.wav", 1.0);
  std::vector<Image> src;
  for (int t = 0; t < 24; ++t) src.push_back(pattern_frame(kW, kH, t));
  for (const char* name : {"av.mov", "av.mkv"}) {
    EncodeOptions o;
    o.audio_from = dir / "tone.wav";
    write_video(dir / name, src, o);
    MediaInfo info = probe(dir / name);
    EXPECT_TRUE(info.has_audio) << name;
    EXPECT_EQ(info.frame_count, 24) << name;
    bool pcm = false;
    for (auto& s : info.streams)
      if (s.type == "audio") {
        pcm = s.codec == "pcm_s16le" && s.sample_rate == 48000 && s.channels == 1;
        EXPECT_NEAR(s.duration_s > 0 ? s.duration_s : 1.0, 1.0, 0.05) << name;
      }
    EXPECT_TRUE(pcm) << name;
  }
  // MP4 cannot carry PCM: a clear error, and no half-written file left behind.
  EncodeOptions o;
  o.audio_from = dir / "tone.wav";
  EXPECT_TRUE(throws_mf([&] { write_video(dir / "av.mp4", src, o); }, {ErrorCode::Unsupported}));
  EXPECT_FALSE(fs::exists(dir / "av.mp4"));
  // Without audio_from the output has no audio.
  write_video(dir / "silent.mov", src);
  EXPECT_FALSE(probe(dir / "silent.mov").has_audio);
}

TEST(MediaCodecs, ClearErrorsForBadRequests) {
  TempDir dir;
  EncodeOptions o;
  o.codec = Codec::ProRes422;
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "p.webm", kW, kH, o); }, {ErrorCode::Unsupported}));
  o.codec = Codec::H264;
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "odd.mp4", 63, 48, o); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "x.unknownext", kW, kH, o); }, {ErrorCode::BadInput}));
  o.recipe_json = "{not json";
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "r.mp4", kW, kH, o); }, {ErrorCode::BadInput}));
  o.recipe_json.clear();
  o.pixel_format = "yuv444p12le";
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "pf.mp4", kW, kH, o); }, {ErrorCode::BadInput}));
  o.pixel_format.clear();
  o.codec_options["no_such_option"] = "1";
  EXPECT_TRUE(throws_mf([&] { VideoWriter(dir / "opt.mp4", kW, kH, o); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([] { parse_codec("h266"); }, {ErrorCode::BadInput}));
  EXPECT_EQ(parse_codec("HEVC"), Codec::H265);
  VideoWriter w(dir / "w.mp4", kW, kH);
  EXPECT_TRUE(throws_mf([&] { w.write(pattern_frame(32, 32, 0)); }, {ErrorCode::BadInput}));
  w.write(pattern_frame(kW, kH, 0));
  w.finish();
  EXPECT_EQ(probe(dir / "w.mp4").frame_count, 1);
  for (Codec c : {Codec::H264, Codec::H265, Codec::Vp9, Codec::ProRes422, Codec::Png})
    EXPECT_TRUE(encoder_available(c)) << to_string(c);
}

TEST(MediaCodecs, RationalParsing) {
  EXPECT_EQ(parse_rational("30000/1001"), Rational(30000, 1001));
  EXPECT_EQ(parse_rational("25"), Rational(25));
  EXPECT_EQ(parse_rational("29.97"), Rational(2997, 100));
  EXPECT_EQ(Rational(48, 2).str(), "24");
  EXPECT_TRUE(Rational(1, 3) < Rational(1, 2));
  EXPECT_TRUE(throws_mf([] { parse_rational("abc"); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([] { parse_rational("1/0"); }, {ErrorCode::BadInput}));
}

}  // namespace
}  // namespace mf::media::test

namespace mf::media::test {
namespace {

TEST(MediaCodecs, OddSizesSixteenBitAndAlphaImages) {
  TempDir dir;
  // Odd sizes: 4:4:4 MJPEG and PNG need no even dimensions.
  std::vector<Image> src = {pattern_frame(63, 47, 0), pattern_frame(63, 47, 1)};
  EncodeOptions o;
  o.codec = Codec::Mjpeg;
  write_video(dir / "odd.avi", src, o);
  auto back = read_frames(dir / "odd.avi");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].width, 63);
  EXPECT_EQ(back[0].height, 47);
  EXPECT_GE(psnr(back[1], src[1]), 38.0);

  // 16-bit RGB and 8-bit RGBA PNGs (written by OpenCV) come out as RGB8.
  cv::Mat bgr16(20, 30, CV_16UC3), bgra(20, 30, CV_8UC4);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 30; ++x) {
      bgr16.at<cv::Vec3w>(y, x) = cv::Vec3w(static_cast<uint16_t>(257 * (x * 8)), static_cast<uint16_t>(257 * (y * 12)), 65535);
      bgra.at<cv::Vec4b>(y, x) = cv::Vec4b(static_cast<uint8_t>(x * 8), static_cast<uint8_t>(y * 12), 255, static_cast<uint8_t>(x));
    }
  ASSERT_TRUE(cv::imwrite((dir / "deep.png").string(), bgr16));
  ASSERT_TRUE(cv::imwrite((dir / "alpha.png").string(), bgra));
  for (const char* name : {"deep.png", "alpha.png"}) {
    Image img = read_image(dir / name);
    ASSERT_EQ(img.channels, 3) << name;
    ASSERT_EQ(img.width, 30) << name;
    for (int y = 0; y < 20; y += 7)
      for (int x = 0; x < 30; x += 7) {
        EXPECT_NEAR(img.at(x, y)[0], 255, 1) << name;
        EXPECT_NEAR(img.at(x, y)[1], y * 12, 1) << name;
        EXPECT_NEAR(img.at(x, y)[2], x * 8, 1) << name;
      }
  }
  // A PNG sequence read through the pattern seeks like a video.
  EncodeOptions p;
  p.codec = Codec::Png;
  std::vector<Image> seq;
  for (int t = 0; t < 6; ++t) seq.push_back(pattern_frame(16, 12, t));
  write_video(dir / "s_%03d.png", seq, p);
  VideoReader r(dir / "s_%03d.png");
  ASSERT_EQ(r.frame_count(), 6);
  EXPECT_EQ(r.frame(4).image.data, seq[4].data);
  EXPECT_EQ(r.frame(1).image.data, seq[1].data);
}

}  // namespace
}  // namespace mf::media::test
