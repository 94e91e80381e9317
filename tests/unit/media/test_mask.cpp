// Mask helpers: mask videos and image sequences, grow/shrink, feather, fps resampling, motion score.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "media_test_util.h"
#include "mf/media/mask.h"
#include "mf/media/writer.h"

namespace mf::media::test {
namespace {

Image square_mask(int w, int h, int x0, int y0, int size) {
  Image m = Image::make(w, h, 1);
  for (int y = y0; y < y0 + size; ++y)
    for (int x = x0; x < x0 + size; ++x) m.row(y)[x] = 255;
  return m;
}

int area(const Image& m, int thr = 128) {
  int a = 0;
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) a += m.row(y)[x] >= thr;
  return a;
}

TEST(MediaMask, GrowShrinkFeather) {
  Image m = square_mask(64, 48, 20, 15, 12);
  EXPECT_EQ(area(m), 144);
  Image g = grow_shrink(m, 2);
  Image s = grow_shrink(m, -2);
  EXPECT_GT(area(g), 144);
  EXPECT_EQ(area(s), 64);  // a square shrinks by exactly 2 on each side: 8x8
  EXPECT_EQ(g.row(15 + 6)[20 - 2], 255);  // grown 2 px left of the edge
  EXPECT_EQ(g.row(15 + 6)[20 - 3], 0);
  EXPECT_EQ(grow_shrink(m, 0).data, m.data);
  // Masks touching the border do not erode from outside the frame.
  Image full = square_mask(16, 16, 0, 0, 16);
  EXPECT_EQ(area(grow_shrink(full, -3)), 256);

  Image f = feather(m, 4);
  EXPECT_EQ(f.row(21)[26], 255);  // centre
  EXPECT_EQ(f.row(2)[2], 0);      // far away
  int soft = 0;
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) soft += f.row(y)[x] > 0 && f.row(y)[x] < 255;
  EXPECT_GT(soft, 40);
  EXPECT_EQ(feather(m, 0).data, m.data);
  EXPECT_TRUE(throws_mf([&] { feather(pattern_frame(8, 8, 0), 2); }, {ErrorCode::BadInput}));
  EXPECT_EQ(area(threshold_mask(f, 128)), area(threshold_mask(f, 128)));
}

TEST(MediaMask, MaskVideoReadsSingleChannel) {
  TempDir dir;
  std::vector<Image> masks, rgb;
  for (int t = 0; t < 8; ++t) {
    masks.push_back(square_mask(64, 48, 4 + 4 * t, 10, 16));
    Image c = Image::make(64, 48, 3);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x)
        for (int k = 0; k < 3; ++k) c.at(x, y)[k] = masks.back().row(y)[x];
    rgb.push_back(c);
  }
  EncodeOptions o;
  o.crf = 4;
  write_video(dir / "mask.mp4", rgb, o);
  auto back = read_mask_video(dir / "mask.mp4");
  ASSERT_EQ(back.size(), masks.size());
  for (size_t i = 0; i < masks.size(); ++i) {
    ASSERT_EQ(back[i].channels, 1);
    // Compression softens edges by a few levels; binarised it is the same mask.
    EXPECT_LE(max_abs_diff(threshold_mask(back[i]), masks[i]), 0) << i;
  }
  auto half = read_mask_video(dir / "mask.mp4", 32, 24);
  EXPECT_EQ(half[0].width, 32);
  EXPECT_EQ(half[0].height, 24);
}

TEST(MediaMask, MaskSequencesFromFoldersAndPatterns) {
  TempDir dir;
  fs::create_directories(dir / "gray");
  std::vector<Image> masks;
  for (int i = 1; i <= 11; ++i) {  // m1..m11: natural order must put m2 before m10
    masks.push_back(square_mask(32, 24, i, 2, 8));
    write_png(dir / "gray" / ("m" + std::to_string(i) + ".png"), masks.back());
  }
  auto files = list_image_sequence(dir / "gray");
  ASSERT_EQ(files.size(), 11u);
  EXPECT_EQ(files[1].filename(), "m2.png");
  auto back = read_mask_sequence(dir / "gray");
  ASSERT_EQ(back.size(), 11u);
  for (size_t i = 0; i < back.size(); ++i) EXPECT_EQ(back[i].data, masks[i].data) << i;

  // RGBA painted masks: alpha is the mask.
  fs::create_directories(dir / "rgba");
  for (int i = 0; i < 3; ++i) {
    cv::Mat bgra(24, 32, CV_8UC4, cv::Scalar(50, 100, 150, 0));
    cv::rectangle(bgra, cv::Rect(4 + i, 4, 10, 10), cv::Scalar(50, 100, 150, 255), cv::FILLED);
    char name[32];
    std::snprintf(name, sizeof name, "a_%03d.png", i);
    ASSERT_TRUE(cv::imwrite((dir / "rgba" / name).string(), bgra));
  }
  auto a = read_mask_sequence((dir / "rgba" / "a_%03d.png").string());
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(area(a[1]), 100);
  EXPECT_EQ(a[1].row(4)[5], 255);
  EXPECT_EQ(a[1].row(4)[4], 0);

  EXPECT_TRUE(throws_mf([&] { read_mask_sequence(dir / "nothing_here"); }, {ErrorCode::BadInput}));
  write_png(dir / "gray" / "m12.png", square_mask(16, 16, 0, 0, 4));
  EXPECT_TRUE(throws_mf([&] { read_mask_sequence(dir / "gray"); }, {ErrorCode::BadInput}));
}

TEST(MediaMask, ResampleFps) {
  // 30 -> 24 fps: one second stays one second, frames picked at k/24 s.
  auto idx = resample_indices(30, Rational(30), Rational(24));
  ASSERT_EQ(idx.size(), 24u);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[1], 1);   // 1/24 s = 1.25 frames -> frame 1
  EXPECT_EQ(idx[4], 5);   // 4/24 s = 5 frames exactly
  EXPECT_EQ(idx[23], 28); // 23/24 s = 28.75
  // 24 -> 30 repeats frames; NTSC rates stay exact.
  auto up = resample_indices(24, Rational(24), Rational(30));
  ASSERT_EQ(up.size(), 30u);
  EXPECT_EQ(up[5], 4);
  auto ntsc = resample_indices(1001, Rational(30000, 1001), Rational(30));
  EXPECT_EQ(ntsc.size(), 1002u);  // 33.3667 s at 30 fps
  EXPECT_EQ(ntsc.back(), 1000);
  // VFR source times.
  std::vector<double> t = {0.0, 0.04, 0.05, 0.2, 0.21, 0.5};
  auto v = resample_indices(t, 0.6, Rational(10));
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v, (std::vector<int64_t>{0, 2, 3, 4, 4, 5}));
  std::vector<Image> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(pattern_frame(8, 8, i));
  auto r = resample_fps(frames, Rational(10), Rational(5));
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[1].data, frames[2].data);
  EXPECT_TRUE(throws_mf([] { resample_indices(10, Rational(0), Rational(24)); }, {ErrorCode::BadInput}));
}

TEST(MediaMask, MotionScoreGrowsWithMotion) {
  auto clip = [](int speed) {
    std::vector<Image> f;
    for (int t = 0; t < 8; ++t) {
      Image img = Image::make(96, 64, 3);
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 96; ++x) {
          const int xs = x - speed * t;
          const uint8_t v = static_cast<uint8_t>(128 + 100 * std::sin(xs * 0.3) * std::cos(y * 0.25));
          img.at(x, y)[0] = img.at(x, y)[1] = img.at(x, y)[2] = v;
        }
      f.push_back(img);
    }
    return f;
  };
  const double still = motion_score(clip(0));
  const double slow = motion_score(clip(1));
  const double fast = motion_score(clip(3));
  EXPECT_LT(still, 0.05);
  EXPECT_GT(slow, 0.5);
  EXPECT_GT(fast, slow * 2);
  EXPECT_NEAR(slow, 1.0, 0.35);  // one pixel per frame
  // From a file: same order of magnitude as from frames.
  TempDir dir;
  EncodeOptions o;
  o.crf = 6;
  write_video(dir / "m.mp4", clip(2), o);
  const double from_file = motion_score(dir / "m.mp4");
  EXPECT_NEAR(from_file, motion_score(clip(2)), 0.4);
  EXPECT_EQ(motion_score(std::vector<Image>{}), 0.0);
}

// A textured square moving right on a smooth background; masks cover it on the painted frames.
Image moving_square_frame(int x0) {
  Image f = Image::make(96, 64, 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 96; ++x) {
      uint8_t* p = f.at(x, y);
      const bool inside = x >= x0 && x < x0 + 20 && y >= 20 && y < 40;
      const int v = inside ? ((((x - x0) / 4 + (y - 20) / 4) % 2) ? 230 : 120) : 40 + y / 2;
      p[0] = static_cast<uint8_t>(v);
      p[1] = static_cast<uint8_t>(inside ? 60 : v);
      p[2] = static_cast<uint8_t>(inside ? 30 : 90);
    }
  return f;
}

int overlap(const Image& a, const Image& b) {
  int n = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) n += (a.row(y)[x] >= 128) && (b.row(y)[x] >= 128);
  return n;
}

TEST(MediaMask, FlowInterpolationFollowsTheMotion) {
  const Image fa = moving_square_frame(20), ft = moving_square_frame(32), fb = moving_square_frame(44);
  const Image ma = square_mask(96, 64, 20, 20, 20), mb = square_mask(96, 64, 44, 20, 20);
  const Image truth = square_mask(96, 64, 32, 20, 20);
  const Image mt = interpolate_mask_flow(fa, ma, fb, mb, ft, 0.5);
  ASSERT_EQ(mt.channels, 1);
  ASSERT_EQ(mt.width, 96);
  // Holding either painted mask covers 8 of the square's 20 columns; the propagated one follows the square.
  const double iou = static_cast<double>(overlap(mt, truth)) / (area(mt) + area(truth) - overlap(mt, truth));
  const double hold_iou = static_cast<double>(overlap(ma, truth)) / (area(ma) + area(truth) - overlap(ma, truth));
  EXPECT_LT(hold_iou, 0.3);
  EXPECT_GT(iou, 0.75) << "area " << area(mt) << " overlap " << overlap(mt, truth);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 96; ++x) ASSERT_TRUE(mt.row(y)[x] == 0 || mt.row(y)[x] == 255);
  // t = 0 on frame_a itself gives mask_a back (zero flow); sizes that differ are refused.
  EXPECT_GT(overlap(interpolate_mask_flow(fa, ma, fb, mb, fa, 0.0), ma), area(ma) * 9 / 10);
  EXPECT_THROW(interpolate_mask_flow(fa, square_mask(48, 32, 0, 0, 8), fb, mb, ft, 0.5), mf::Error);
  EXPECT_THROW(interpolate_mask_flow(fa, ma, fb, mb, ft, 1.5), mf::Error);
}

}  // namespace
}  // namespace mf::media::test
