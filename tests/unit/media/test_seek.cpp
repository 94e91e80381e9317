// Frame-accurate random access: seeking must return exactly the frames a linear decode gives.
#include <algorithm>
#include <random>

#include "media_test_util.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"

namespace mf::media::test {
namespace {

std::vector<Image> linear_decode(const fs::path& p) {
  VideoReader r(p);
  std::vector<Image> out;
  DecodedFrame f;
  while (r.read(f)) {
    EXPECT_EQ(f.index, static_cast<int64_t>(out.size()));
    out.push_back(std::move(f.image));
  }
  EXPECT_EQ(r.seek_count(), 0);
  return out;
}

void check_random_seeks(const fs::path& p, int64_t n, int probes, uint32_t seed) {
  const auto linear = linear_decode(p);
  ASSERT_EQ(static_cast<int64_t>(linear.size()), n);
  VideoReader r(p);
  ASSERT_EQ(r.frame_count(), n);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  int mismatches = 0;
  for (int k = 0; k < probes; ++k) {
    const int64_t i = pick(rng);
    DecodedFrame f = r.frame(i);
    ASSERT_EQ(f.index, i);
    if (f.image.data != linear[i].data) {
      ++mismatches;
      ADD_FAILURE() << p.filename() << ": frame " << i << " after seeking differs from the linear decode (PSNR "
                    << psnr(f.image, linear[i]) << " dB)";
    }
    // The next read continues right after the sought frame.
    if (k % 10 == 0 && i + 1 < n) {
      DecodedFrame g;
      ASSERT_TRUE(r.read(g));
      EXPECT_EQ(g.index, i + 1);
      EXPECT_EQ(g.image.data, linear[i + 1].data);
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(r.seek_count(), 0);
}

TEST(MediaSeek, H264HundredRandomFramesMatchLinearDecode) {
  TempDir dir;
  const fs::path p = dir / "seek.mp4";
  EncodeOptions o;
  o.gop = 60;  // long GOPs with B-frames: seeking must decode forward from the keyframe
  o.crf = 20;
  o.preset = "veryfast";
  {
    VideoWriter w(p, 64, 48, o);
    for (int t = 0; t < 300; ++t) w.write(pattern_frame(64, 48, t));
    w.finish();
  }
  VideoReader r(p);
  EXPECT_EQ(r.frame_count(), 300);
  EXPECT_GE(r.keyframes().size(), 5u);  // 300 / 60
  check_random_seeks(p, 300, 100, 1234);
}

TEST(MediaSeek, SequentialFrameCallsDoNotSeek) {
  TempDir dir;
  const fs::path p = dir / "seq.mp4";
  EncodeOptions o;
  o.gop = 30;
  std::vector<Image> src;
  for (int t = 0; t < 40; ++t) src.push_back(pattern_frame(64, 48, t));
  write_video(p, src, o);
  VideoReader r(p);
  for (int64_t i = 0; i < 40; ++i) EXPECT_EQ(r.frame(i).index, i);
  EXPECT_EQ(r.seek_count(), 0);
  // Re-asking for the current frame or going back seeks once each.
  r.frame(39);
  r.frame(5);
  EXPECT_EQ(r.seek_count(), 2);
}

TEST(MediaSeek, OtherContainersAndCodecs) {
  TempDir dir;
  struct C {
    Codec codec;
    const char* file;
  };
  for (const C& c : {C{Codec::Vp9, "s.webm"}, C{Codec::H265, "s.mkv"}, C{Codec::ProRes422, "s.mov"},
                     C{Codec::Mjpeg, "s.avi"}, C{Codec::Gif, "s.gif"}, C{Codec::H264, "s_h264.avi"},
                     C{Codec::H264, "s.mkv"}}) {
    EncodeOptions o;
    o.codec = c.codec;
    o.gop = 15;
    o.preset = "veryfast";
    std::vector<Image> src;
    for (int t = 0; t < 45; ++t) src.push_back(pattern_frame(64, 48, t));
    write_video(dir / c.file, src, o);
    SCOPED_TRACE(c.file);
    check_random_seeks(dir / c.file, 45, 20, 99);
  }
}

TEST(MediaSeek, TimeSeekAndBounds) {
  TempDir dir;
  const fs::path p = dir / "t.mov";
  EncodeOptions o;
  o.fps = Rational(30000, 1001);
  std::vector<Image> src;
  for (int t = 0; t < 30; ++t) src.push_back(pattern_frame(64, 48, t));
  write_video(p, src, o);
  VideoReader r(p);
  EXPECT_EQ(r.time_of(10), Rational(10010, 30000));
  EXPECT_EQ(r.index_at(r.time_of(10)), 10);
  EXPECT_EQ(r.index_at(Rational(10010 - 1, 30000)), 9);
  EXPECT_EQ(r.frame_at(Rational(1, 2)).index, 14);  // 0.5 s * 29.97 = 14.985
  EXPECT_TRUE(throws_mf([&] { r.frame(30); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([&] { r.frame(-1); }, {ErrorCode::BadInput}));
}

}  // namespace
}  // namespace mf::media::test
