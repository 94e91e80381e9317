// Tests of mf_eval: PSNR/SSIM known values and region masking, clip aggregation, the per-task baselines on
// toy clips, the caption-following detector (ground truth ~100%, noise ~0%) and the report's JSON round trip.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/eval/eval.h"
#include "mf/toyworld/toyworld.h"

using namespace mf::eval;
namespace tw = mf::toyworld;

namespace {

constexpr int kW = 160, kH = 96;

cv::Mat random_frame(uint64_t seed, int lo = 0, int hi = 256, cv::Size size = {kW, kH}) {
  cv::RNG rng(seed);
  cv::Mat m(size, CV_8UC3);
  rng.fill(m, cv::RNG::UNIFORM, cv::Scalar::all(lo), cv::Scalar::all(hi));
  return m;
}

tw::ToyClip toy_clip(uint64_t seed, int frames = 9, int shapes_min = 1, int shapes_max = 2) {
  tw::SamplerOptions o;
  o.width = kW;
  o.height = kH;
  o.frames = frames;
  o.min_shapes = shapes_min;
  o.max_shapes = shapes_max;
  return tw::render(tw::sample_scene(seed, o));
}

// A mask regenerating the rectangle r (0 inside r, 255 elsewhere).
cv::Mat rect_mask(cv::Rect r, cv::Size size = {kW, kH}) {
  cv::Mat m = keep_all_mask(size);
  m(r).setTo(0);
  return m;
}

bool equal_where(const cv::Mat& a, const cv::Mat& b, const cv::Mat& where) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::Mat any;
  cv::transform(diff, any, cv::Matx13f(1, 1, 1));
  any.setTo(0, where == 0);
  return cv::countNonZero(any) == 0;
}

template <typename F>
void expect_bad_input(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected one mentioning '" << needle << "'";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------- metrics

TEST(EvalMetrics, IdenticalFramesGiveInfinitePsnrAndSsimOne) {
  const cv::Mat a = random_frame(1);
  EXPECT_EQ(mse(a, a), 0.0);
  EXPECT_TRUE(std::isinf(psnr(a, a)));
  EXPECT_GT(psnr(a, a), 0.0);
  EXPECT_EQ(ssim(a, a), 1.0);
  const cv::Mat m = rect_mask({10, 10, 30, 20});
  EXPECT_TRUE(std::isinf(psnr(a, a, m)));
  EXPECT_EQ(ssim(a, a, m), 1.0);
}

TEST(EvalMetrics, ConstantOffsetOfTenIs28_13dB) {
  const cv::Mat a = random_frame(2, 0, 246);
  cv::Mat b;
  cv::add(a, cv::Scalar::all(10), b);
  EXPECT_DOUBLE_EQ(mse(a, b), 100.0);
  const double p = psnr(a, b);
  EXPECT_NEAR(p, 10.0 * std::log10(65025.0 / 100.0), 1e-12);
  EXPECT_NEAR(p, 28.13, 0.005);
  EXPECT_NEAR(psnr_from_mse(1.0), 48.1308036, 1e-6);
  // A constant shift of the luma keeps the structure: SSIM is high but below 1.
  const double s = ssim(a, b);
  EXPECT_LT(s, 1.0);
  EXPECT_GT(s, 0.9);
}

TEST(EvalMetrics, SsimFallsWithNoiseAndIsSymmetric) {
  const tw::ToyClip clip = toy_clip(3);
  const cv::Mat& a = clip.frames[0];
  double prev = 1.0;
  for (double sigma : {4.0, 16.0, 48.0}) {
    cv::Mat noise(a.size(), CV_16SC3);
    cv::RNG rng{uint64_t(sigma)};
    rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
    cv::Mat b16, b;
    a.convertTo(b16, CV_16SC3);
    b16 += noise;
    b16.convertTo(b, CV_8UC3);
    const double s = ssim(a, b);
    EXPECT_LT(s, prev) << "sigma " << sigma;
    EXPECT_GT(s, -1.0);
    EXPECT_NEAR(s, ssim(b, a), 1e-12);
    prev = s;
  }
  const cv::Mat map = ssim_map(a, a);
  EXPECT_EQ(map.size(), a.size());
  EXPECT_EQ(map.type(), CV_64FC1);
}

TEST(EvalMetrics, RgbSsimTellsColoursApartWhereLumaSsimCannot) {
  const tw::ToyClip clip = toy_clip(3);
  const cv::Mat& truth = clip.frames[0];
  // The truth's luma in every channel, shifted to the truth's mean colour: what a colorizer that knows only the
  // average colour produces. Its luma is almost exactly the truth's, its colours are not.
  const cv::Mat y = luma(truth);
  cv::Scalar mean = cv::mean(truth);
  const double my = 0.299 * mean[0] + 0.587 * mean[1] + 0.114 * mean[2];
  cv::Mat grey(truth.size(), CV_8UC3);
  for (int r = 0; r < truth.rows; ++r)
    for (int x = 0; x < truth.cols; ++x)
      for (int c = 0; c < 3; ++c)
        grey.ptr<uint8_t>(r)[3 * x + c] = cv::saturate_cast<uint8_t>(y.ptr<double>(r)[x] + mean[c] - my);
  EXPECT_GT(ssim(grey, truth), 0.97);  // luma SSIM: nearly perfect
  const double rgb = ssim(grey, truth, {}, SsimOn::Rgb);
  EXPECT_LT(rgb, ssim(grey, truth) - 0.02);  // RGB SSIM sees the wrong colours
  EXPECT_EQ(ssim(truth, truth, {}, SsimOn::Rgb), 1.0);
  EXPECT_NEAR(rgb, ssim(truth, grey, {}, SsimOn::Rgb), 1e-12);
  // the accumulator measures what it was built for
  ScoreAccumulator luma_acc, rgb_acc(SsimOn::Rgb);
  luma_acc.add_frame(grey, truth);
  rgb_acc.add_frame(grey, truth);
  EXPECT_DOUBLE_EQ(luma_acc.result().ssim, ssim(grey, truth));
  EXPECT_DOUBLE_EQ(rgb_acc.result().ssim, rgb);
  EXPECT_DOUBLE_EQ(luma_acc.result().psnr, rgb_acc.result().psnr);
}

TEST(EvalMetrics, ErrorsOutsideTheRegionDoNotCount) {
  const cv::Mat truth = random_frame(4);
  const cv::Rect r(40, 30, 50, 30);
  const cv::Mat mask = rect_mask(r);
  cv::Mat out = truth.clone();
  // Garbage everywhere outside the region: the region PSNR stays infinite.
  cv::Mat garbage = random_frame(5);
  garbage.copyTo(out, mask);
  EXPECT_TRUE(std::isinf(psnr(out, truth, mask)));
  EXPECT_LT(psnr(out, truth), 20.0);
  EXPECT_EQ(region_pixels(mask, truth.size()), r.area());
  // An offset of 10 inside the region counts fully (truth raised to >= 10 there so nothing clips).
  cv::Mat t2 = truth.clone();
  cv::Mat t2r = t2(r);
  cv::max(t2r, cv::Scalar::all(10), t2r);
  cv::Mat in2 = t2.clone();
  cv::Mat in2r = in2(r);
  cv::subtract(in2r, cv::Scalar::all(10), in2r);
  EXPECT_DOUBLE_EQ(mse(in2, t2, mask), 100.0);
  // SSIM in a region far from the region's border ignores the garbage outside.
  const cv::Mat inner = rect_mask({55, 38, 20, 14});
  EXPECT_EQ(ssim(out, truth, inner), 1.0);
  EXPECT_LT(ssim(out, truth), 0.5);
}

TEST(EvalMetrics, EmptyRegionAndBadInputsAreErrors) {
  const cv::Mat a = random_frame(6), b = random_frame(7);
  const cv::Mat keep = keep_all_mask(a.size());
  expect_bad_input([&] { psnr(a, b, keep); }, "empty region");
  expect_bad_input([&] { ssim(a, b, keep); }, "empty region");
  expect_bad_input([&] { compare_clips({a, a}, {b, b}, {keep}); }, "empty region");
  expect_bad_input([&] { psnr(a, random_frame(8, 0, 256, {80, 48})); }, "different sizes");
  expect_bad_input([&] { psnr(a, b, cv::Mat(10, 10, CV_8UC1, cv::Scalar(0))); }, "mask");
  cv::Mat grey;
  cv::cvtColor(a, grey, cv::COLOR_RGB2GRAY);
  expect_bad_input([&] { psnr(grey, grey); }, "CV_8UC3");
  expect_bad_input([&] { compare_clips({a, a}, {b}); }, "frames");
  expect_bad_input([&] { compare_clips({a, a, a}, {b, b, b}, {keep, keep}); }, "masks");
  expect_bad_input([&] { psnr_from_mse(-1.0); }, "MSE");
}

TEST(EvalMetrics, ClipScoresPoolTheMseAndSkipKeptFrames) {
  const cv::Mat a = random_frame(9, 0, 246);
  cv::Mat a10;
  cv::add(a, cv::Scalar::all(10), a10);
  // Frame 0 off by 10, frame 1 exact: pooled MSE 50.
  ClipScores s = compare_clips({a10, a}, {a, a});
  EXPECT_DOUBLE_EQ(s.mse, 50.0);
  EXPECT_NEAR(s.psnr, 10.0 * std::log10(65025.0 / 50.0), 1e-12);
  EXPECT_EQ(s.frames, 2);
  EXPECT_EQ(s.pixels, 2 * int64_t(kW) * kH);
  EXPECT_NEAR(s.ssim, 0.5 * (ssim(a10, a) + 1.0), 1e-12);
  // The same with frame 1 kept entirely: only frame 0 is measured.
  s = compare_clips({a10, random_frame(10)}, {a, a}, frame_selection_masks(a.size(), {true, false}));
  EXPECT_DOUBLE_EQ(s.mse, 100.0);
  EXPECT_EQ(s.frames, 1);
  // The accumulator over two clips equals one clip of all frames.
  ScoreAccumulator acc;
  acc.add_clip({a10}, {a});
  acc.add_clip({a}, {a});
  EXPECT_DOUBLE_EQ(acc.result().mse, 50.0);
  // Identical clips: infinite PSNR, SSIM 1.
  s = compare_clips({a, a}, {a, a}, {rect_mask({0, 0, 20, 20})});
  EXPECT_TRUE(std::isinf(s.psnr));
  EXPECT_EQ(s.ssim, 1.0);
}

// ---------------------------------------------------------------- baselines

TEST(EvalBaselines, InpaintingTeleaKeepsKnownPixelsAndBeatsBlack) {
  const tw::ToyClip clip = toy_clip(11);
  const cv::Mat mask = rect_mask({60, 30, 40, 30});
  // The model's input: the truth with the region destroyed.
  std::vector<cv::Mat> input = fill_black(clip.frames, {mask});
  for (size_t i = 0; i < input.size(); ++i) EXPECT_TRUE(equal_where(input[i], clip.frames[i], mask));
  const std::vector<cv::Mat> out = inpaint_telea(input, {mask});
  ASSERT_EQ(out.size(), clip.frames.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].size(), cv::Size(kW, kH));
    EXPECT_EQ(out[i].type(), CV_8UC3);
    EXPECT_TRUE(equal_where(out[i], input[i], mask)) << "frame " << i;
  }
  const ClipScores telea = compare_clips(out, clip.frames, {mask});
  const ClipScores black = compare_clips(input, clip.frames, {mask});
  EXPECT_GT(telea.psnr, black.psnr + 3.0);
  EXPECT_GT(telea.ssim, black.ssim);
  // Per-frame masks work the same; a keep-all mask copies the frame.
  std::vector<cv::Mat> masks(clip.frames.size(), mask);
  masks[0] = keep_all_mask(mask.size());
  const std::vector<cv::Mat> out2 = inpaint_telea(input, masks);
  EXPECT_TRUE(equal_where(out2[0], input[0], keep_all_mask(mask.size())));
  expect_bad_input([&] { inpaint_telea(input, {mask, mask}); }, "masks");
}

TEST(EvalBaselines, OutpaintingReplicatesTheEdgeOfTheKeptRectangle) {
  const tw::ToyClip clip = toy_clip(12);
  const cv::Rect keep(32, 16, 96, 64);
  cv::Mat mask(kH, kW, CV_8UC1, cv::Scalar(0));
  mask(keep).setTo(255);
  const std::vector<cv::Mat> input = fill_black(clip.frames, {mask});
  const std::vector<cv::Mat> out = outpaint_replicate(input, {mask});
  ASSERT_EQ(out.size(), input.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].size(), cv::Size(kW, kH));
    cv::Mat expected;
    cv::copyMakeBorder(clip.frames[i](keep).clone(), expected, keep.y, kH - keep.br().y, keep.x, kW - keep.br().x,
                       cv::BORDER_REPLICATE);
    EXPECT_TRUE(equal_where(out[i], expected, keep_all_mask(mask.size()) == 255)) << "frame " << i;
  }
  EXPECT_GT(compare_clips(out, clip.frames, {mask}).psnr, compare_clips(input, clip.frames, {mask}).psnr);
  expect_bad_input([&] { outpaint_replicate(input, {regenerate_all_mask(mask.size())}); }, "keeps no pixel");
}

TEST(EvalBaselines, ColorizationWithTheMeanChroma) {
  // The mean chroma of a solid colour is that colour's chroma.
  const cv::Mat solid(kH, kW, CV_8UC3, cv::Scalar(200, 60, 30));
  cv::Mat ycc;
  cv::cvtColor(solid, ycc, cv::COLOR_RGB2YCrCb);
  const cv::Vec3b v = ycc.at<cv::Vec3b>(0, 0);
  MeanChroma mc = mean_chroma({{solid, solid}});
  EXPECT_DOUBLE_EQ(mc.cr, v[1]);
  EXPECT_DOUBLE_EQ(mc.cb, v[2]);
  EXPECT_EQ(mc.pixels, 2 * int64_t(kW) * kH);
  // Colouring the grey of the solid frame with its own mean chroma gives the colour back (within rounding).
  const std::vector<cv::Mat> back = colorize_mean_chroma(to_grey_rgb({solid}), mc);
  cv::Mat d;
  cv::absdiff(back[0], solid, d);
  double mx;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  EXPECT_LE(mx, 3.0);

  // Toy clips: reference chroma from "training" clips, applied to a held-out clip's grey frames.
  std::vector<std::vector<cv::Mat>> train;
  for (uint64_t s = 100; s < 104; ++s) train.push_back(toy_clip(s, 3).frames);
  mc = mean_chroma(train);
  const tw::ToyClip held = toy_clip(13);
  const std::vector<cv::Mat> grey = to_grey_rgb(held.frames);
  const std::vector<cv::Mat> out = colorize_mean_chroma(grey, mc);
  ASSERT_EQ(out.size(), held.frames.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].size(), cv::Size(kW, kH));
    EXPECT_EQ(out[i].type(), CV_8UC3);
    // The luma is the input's except where the RGB conversion saturates.
    cv::Mat yo, yi;
    cv::cvtColor(out[i], yo, cv::COLOR_RGB2GRAY);
    cv::cvtColor(grey[i], yi, cv::COLOR_RGB2GRAY);
    cv::Mat dy;
    cv::absdiff(yo, yi, dy);
    EXPECT_GE(cv::countNonZero(dy <= 2), int(0.8 * dy.total())) << "frame " << i;
  }
  // CV_8UC1 grey input works the same.
  cv::Mat g1;
  cv::cvtColor(grey[0], g1, cv::COLOR_RGB2GRAY);
  const std::vector<cv::Mat> out1 = colorize_mean_chroma({g1}, mc);
  EXPECT_TRUE(equal_where(out1[0], out[0], keep_all_mask(g1.size())));
  expect_bad_input([&] { mean_chroma({}); }, "no reference frames");
}

TEST(EvalBaselines, SuperResolutionSizesAndNearestReplication) {
  const tw::ToyClip clip = toy_clip(14);
  const std::vector<cv::Mat> low = downscale_area(clip.frames, {kW / 2, kH / 2});
  ASSERT_EQ(low.size(), clip.frames.size());
  EXPECT_EQ(low[0].size(), cv::Size(kW / 2, kH / 2));
  const std::vector<cv::Mat> nn = upscale_nearest(low, {kW, kH});
  const std::vector<cv::Mat> bc = upscale_bicubic(low, {kW, kH});
  ASSERT_EQ(nn.size(), low.size());
  ASSERT_EQ(bc.size(), low.size());
  for (size_t i = 0; i < nn.size(); ++i) {
    EXPECT_EQ(nn[i].size(), cv::Size(kW, kH));
    EXPECT_EQ(bc[i].size(), cv::Size(kW, kH));
    EXPECT_EQ(bc[i].type(), CV_8UC3);
  }
  // Exact 2x nearest: every low-res pixel becomes a 2x2 block.
  bool blocks = true;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) blocks = blocks && nn[0].at<cv::Vec3b>(y, x) == low[0].at<cv::Vec3b>(y / 2, x / 2);
  EXPECT_TRUE(blocks);
  // Non-integer factors give the target size too.
  EXPECT_EQ(upscale_bicubic(downscale_area(clip.frames, {53, 31}), {kW, kH})[0].size(), cv::Size(kW, kH));
  // Both upscalings beat a flat grey frame.
  std::vector<cv::Mat> grey(clip.frames.size(), cv::Mat(kH, kW, CV_8UC3, cv::Scalar::all(128)));
  const double grey_psnr = compare_clips(grey, clip.frames).psnr;
  EXPECT_GT(compare_clips(nn, clip.frames).psnr, grey_psnr);
  EXPECT_GT(compare_clips(bc, clip.frames).psnr, grey_psnr);
  expect_bad_input([&] { upscale_bicubic(low, {0, kH}); }, "target size");
}

TEST(EvalBaselines, FrameInterpolationBlendsFirstAndLast) {
  const tw::ToyClip clip = toy_clip(15, 9);
  const int T = int(clip.frames.size());
  const std::vector<cv::Mat> out = interpolate_linear(clip.frames.front(), clip.frames.back(), T);
  ASSERT_EQ(int(out.size()), T);
  const cv::Mat all = keep_all_mask({kW, kH});
  EXPECT_TRUE(equal_where(out.front(), clip.frames.front(), all));
  EXPECT_TRUE(equal_where(out.back(), clip.frames.back(), all));
  cv::Mat mid;
  cv::addWeighted(clip.frames.front(), 0.5, clip.frames.back(), 0.5, 0.0, mid);
  EXPECT_TRUE(equal_where(out[T / 2], mid, all));
  // Measured on the in-between frames only; beats black frames.
  std::vector<bool> regen(T, true);
  regen.front() = regen.back() = false;
  const std::vector<cv::Mat> masks = frame_selection_masks({kW, kH}, regen);
  std::vector<cv::Mat> black(T, cv::Mat(kH, kW, CV_8UC3, cv::Scalar::all(0)));
  const ClipScores s = compare_clips(out, clip.frames, masks);
  EXPECT_EQ(s.frames, T - 2);
  EXPECT_GT(s.psnr, compare_clips(black, clip.frames, masks).psnr);
  expect_bad_input([&] { interpolate_linear(clip.frames[0], clip.frames[1], 1); }, "at least 2");
}

TEST(EvalBaselines, ExtensionRepeatsTheLastKnownFrame) {
  const tw::ToyClip clip = toy_clip(16, 9);
  const std::vector<cv::Mat> known(clip.frames.begin(), clip.frames.begin() + 4);
  const std::vector<cv::Mat> out = extend_repeat_last(known, 9);
  ASSERT_EQ(out.size(), 9u);
  const cv::Mat all = keep_all_mask({kW, kH});
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(out[i].size(), cv::Size(kW, kH));
    EXPECT_TRUE(equal_where(out[i], known[std::min(i, 3)], all)) << "frame " << i;
  }
  std::vector<bool> regen(9, true);
  for (int i = 0; i < 4; ++i) regen[i] = false;
  EXPECT_EQ(compare_clips(out, clip.frames, frame_selection_masks({kW, kH}, regen)).frames, 5);
  expect_bad_input([&] { extend_repeat_last(known, 3); }, "fewer");
}

// ---------------------------------------------------------------- caption detector

TEST(EvalDetector, ParseCaptionAgreesWithTheScene) {
  tw::SamplerOptions o;
  o.width = kW;
  o.height = kH;
  o.frames = 17;
  o.max_shapes = 4;
  o.p_pan = 0.5;
  o.p_colour_change = 0.4;
  o.p_still = 0.2;
  int pans = 0, changes = 0, still_pans = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const tw::Scene s = tw::sample_scene(seed, o);
    const CaptionTarget a = caption_target(s);
    const CaptionTarget b = parse_caption(tw::caption(s));
    EXPECT_EQ(a.colour, b.colour) << tw::caption(s);
    EXPECT_EQ(a.colour_to.has_value(), b.colour_to.has_value()) << tw::caption(s);
    if (a.colour_to && b.colour_to) {
      EXPECT_EQ(*a.colour_to, *b.colour_to);
    }
    EXPECT_EQ(a.direction, b.direction) << tw::caption(s);
    EXPECT_EQ(a.background, b.background) << tw::caption(s);
    pans += s.camera.pan != tw::Direction::Still;
    changes += a.colour_to.has_value();
    still_pans += s.camera.pan != tw::Direction::Still && s.shapes[0].direction == tw::Direction::Still;
  }
  EXPECT_GT(pans, 10);
  EXPECT_GT(changes, 10);
  EXPECT_GT(still_pans, 0);
  expect_bad_input([] { parse_caption("the red circle moves left"); }, "'a' or 'an'");
  expect_bad_input([] { parse_caption("a mauve circle moves left over a plain blue background"); }, "colour");
  EXPECT_EQ(opposite(tw::Direction::UpLeft), tw::Direction::DownRight);
}

TEST(EvalDetector, GroundTruthScoresHighAndNoiseLow) {
  tw::SamplerOptions o;
  o.width = kW;
  o.height = kH;
  o.frames = 17;
  o.min_shapes = 2;
  o.max_shapes = 2;
  CaptionAccuracy gt, noise, smooth_noise, reversed, shuffled, wrong_colour;
  int moving = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t seed = 1000; seed < 1050; ++seed) {
    const tw::Scene s = tw::sample_scene(seed, o);
    const tw::ToyClip clip = tw::render(s);
    const CaptionTarget target = caption_target(s);
    const CaptionCheck c = check_caption(clip.frames, s);
    gt.add(c);
    if (!c.ok())
      std::printf("  ground truth miss: seed %llu '%s': colour_found %d (%.2f) direction_ok %d, d = (%.1f, %.1f)\n",
                  (unsigned long long)seed, clip.caption.c_str(), c.colour_found, c.found_fraction, c.direction_ok,
                  c.dx, c.dy);
    // Uniform noise video of the same size.
    std::vector<cv::Mat> nz;
    for (int t = 0; t < o.frames; ++t) nz.push_back(random_frame(seed * 100 + t));
    noise.add(check_caption(nz, target));
    // Smooth noise (blobs of every colour, independent from frame to frame).
    for (cv::Mat& f : nz) {
      cv::GaussianBlur(f, f, cv::Size(0, 0), 5.0);
      cv::normalize(f, f, 0, 255, cv::NORM_MINMAX);
    }
    smooth_noise.add(check_caption(nz, target));
    // The clip played backwards moves the other way (only meaningful for moving shapes).
    if (target.direction != tw::Direction::Still) {
      ++moving;
      reversed.add(check_caption(std::vector<cv::Mat>(clip.frames.rbegin(), clip.frames.rend()), target));
      // Frames in a scrambled order: the right colour, but no coherent motion.
      std::vector<cv::Mat> scrambled;
      for (int t = 0; t < o.frames; ++t) scrambled.push_back(clip.frames[(t * 7) % o.frames]);
      shuffled.add(check_caption(scrambled, target));
    }
    // A colour the scene does not contain.
    CaptionTarget wrong = target;
    for (int k = 0; k < tw::kNumColours; ++k) {
      const tw::Colour col = static_cast<tw::Colour>(k);
      bool used = false;
      for (const tw::Shape& sh : s.shapes) used = used || sh.colour == col || (sh.colour_to && *sh.colour_to == col);
      used = used || s.background.colour_a == col || s.background.colour_b == col;
      if (!used) {
        wrong.colour = col;
        wrong.colour_to.reset();
        break;
      }
    }
    wrong_colour.add(check_caption(clip.frames, wrong));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  caption accuracy: ground truth %.2f (colour %d/%d, direction %d/%d), noise %.2f, smooth noise %.2f "
              "(colour found %d), reversed %.2f and scrambled %.2f (%d moving), absent colour %.2f; %.0f ms for 50 "
              "scenes\n",
              gt.accuracy(), gt.colour_found, gt.clips, gt.direction_ok, gt.clips, noise.accuracy(),
              smooth_noise.accuracy(), smooth_noise.colour_found, reversed.accuracy(), shuffled.accuracy(), moving,
              wrong_colour.accuracy(), ms);
  EXPECT_GE(gt.accuracy(), 0.9);
  EXPECT_LE(noise.accuracy(), 0.1);
  EXPECT_LE(smooth_noise.accuracy(), 0.1);
  EXPECT_GT(moving, 30);
  EXPECT_LE(reversed.accuracy(), 0.1);
  EXPECT_LE(shuffled.accuracy(), 0.1);
  EXPECT_LE(wrong_colour.accuracy(), 0.1);
}

TEST(EvalDetector, DimmingLightColourChangeAndStillShapeUnderPan) {
  tw::Scene s;
  s.width = kW;
  s.height = kH;
  s.frames = 17;
  s.background.kind = tw::BackgroundKind::StripesVertical;
  s.background.colour_a = tw::Colour::Blue;
  s.background.colour_b = tw::Colour::White;
  s.background.period = 30;
  tw::Shape sh;
  sh.kind = tw::ShapeKind::Circle;
  sh.colour = tw::Colour::Red;
  sh.size = 16;
  sh.x0 = 50;
  sh.y0 = 60;
  sh.direction = tw::Direction::UpRight;
  sh.speed = 2.0;
  s.shapes.push_back(sh);
  s.lighting = {1.0, 0.35};
  CaptionCheck c = check_caption(tw::render(s).frames, s);
  EXPECT_TRUE(c.colour_found);
  EXPECT_TRUE(c.direction_ok) << c.dx << " " << c.dy;
  EXPECT_EQ(c.measured, tw::Direction::UpRight);
  EXPECT_NEAR(c.frames.front().gain, 1.0, 0.03);
  EXPECT_NEAR(c.frames.back().gain, 0.35, 0.03);
  EXPECT_NEAR(c.dx, 2.0 * 16 / std::sqrt(2.0), 1.0);
  EXPECT_NEAR(c.dy, -2.0 * 16 / std::sqrt(2.0), 1.0);
  // Without brightness invariance the dimmed red (77, 14, 14) is nearest to black.
  DetectorOptions plain;
  plain.brightness_invariant = false;
  EXPECT_FALSE(check_caption(tw::render(s).frames, s, plain).frames.back().found);

  // Colour change red -> yellow (through orange-like blends).
  s.lighting = {};
  s.shapes[0].colour_to = tw::Colour::Yellow;
  c = check_caption(tw::render(s).frames, s);
  EXPECT_TRUE(c.ok()) << c.found_fraction;
  EXPECT_EQ(c.found_fraction, 1.0);

  // Still shape while the camera pans right: it drifts left on screen.
  s.shapes[0].colour_to.reset();
  s.shapes[0].direction = tw::Direction::Still;
  s.shapes[0].speed = 0;
  s.camera = {tw::Direction::Right, 0.5};
  const CaptionTarget t = caption_target(s);
  EXPECT_EQ(t.direction, tw::Direction::Left);
  c = check_caption(tw::render(s).frames, t);
  EXPECT_TRUE(c.ok()) << c.dx << " " << c.dy;
  CaptionTarget still = t;
  still.direction = tw::Direction::Still;
  EXPECT_FALSE(check_caption(tw::render(s).frames, still).direction_ok);
  s.camera = {};
  EXPECT_TRUE(check_caption(tw::render(s).frames, still).ok());
  expect_bad_input([] { check_caption({}, CaptionTarget{}); }, "no frames");
}

// ---------------------------------------------------------------- report

TEST(EvalReport, JsonRoundTripWithInfinities) {
  EvalReport r;
  r.model = "manyfold-toy@abc123";
  r.info = {{"clips", 32}, {"size", "160x96"}};
  r.add("vinp", "psnr_db", 31.5, "telea_inpaint", 27.25);
  r.add("vinp", "ssim", 0.91, "telea_inpaint", 0.93);
  r.add("vsr", "psnr_db", std::numeric_limits<double>::infinity(), "bicubic", 30.0);
  r.add("t2v", "caption_accuracy", 0.8, "none", 0.0);
  r.add("x", "lpips", 0.1, "y", 0.2, false);
  EXPECT_TRUE(r.rows[0].model_beats_baseline);
  EXPECT_FALSE(r.rows[1].model_beats_baseline);
  EXPECT_TRUE(r.rows[2].model_beats_baseline);
  EXPECT_TRUE(r.rows[4].model_beats_baseline);
  EXPECT_FALSE(r.model_beats_all());
  ASSERT_EQ(r.failures().size(), 1u);
  EXPECT_EQ(r.failures()[0].metric, "ssim");
  EXPECT_FALSE(beats(1.0, 1.0, true));
  EXPECT_FALSE(beats(std::nan(""), 0.0, true));
  EXPECT_FALSE(EvalReport{}.model_beats_all());

  const std::string text = report_to_json_string(r);
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["rows"][2]["model"], "inf");
  EXPECT_EQ(j["model_beats_all_baselines"], false);
  const EvalReport back = report_from_json_string(text);
  EXPECT_EQ(back.model, r.model);
  EXPECT_EQ(back.info, r.info);
  ASSERT_EQ(back.rows.size(), r.rows.size());
  for (size_t i = 0; i < r.rows.size(); ++i) {
    EXPECT_EQ(back.rows[i].task, r.rows[i].task);
    EXPECT_EQ(back.rows[i].metric, r.rows[i].metric);
    EXPECT_EQ(back.rows[i].higher_is_better, r.rows[i].higher_is_better);
    EXPECT_EQ(back.rows[i].model_value, r.rows[i].model_value);
    EXPECT_EQ(back.rows[i].baseline, r.rows[i].baseline);
    EXPECT_EQ(back.rows[i].baseline_value, r.rows[i].baseline_value);
    EXPECT_EQ(back.rows[i].model_beats_baseline, r.rows[i].model_beats_baseline);
  }
  EXPECT_EQ(report_to_json(back), report_to_json(r));

  nlohmann::json bad = j;
  bad["rows"][0].erase("metric");
  expect_bad_input([&] { report_from_json(bad); }, "rows[0]: missing field 'metric'");
  bad = j;
  bad["rows"][1]["model"] = "fast";
  expect_bad_input([&] { report_from_json(bad); }, "rows[1].model");
  bad = j;
  bad["schema"] = 2;
  expect_bad_input([&] { report_from_json(bad); }, "schema");
  try {
    report_from_json_string("{not json");
    ADD_FAILURE() << "no exception";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
  }
}
