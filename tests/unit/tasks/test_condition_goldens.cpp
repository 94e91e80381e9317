// Condition frames vs the official MfMPipeline (../shared/parity/pipeline): for every task, rebuild the
// conditional half from the recorded inputs (inputs.safetensors) and the recorded call, and compare with
// out.conditional_pixel_values (RGB x mask, depth) and out.conditional_masks. This pins down frame counts, known
// frames, portrait swap, aspect fit, letterbox placement, PIL bicubic resizing of frames and masks (Pillow 11.2.1
// on the reference side), grayscale for colorization and the value normalisation.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/tasks/condition.h"
#include "mf/tasks/geometry.h"
#include "tiny_safetensors.h"

using namespace mf::tasks;

namespace {

const std::string kPipe = std::string(MF_SHARED_DIR) + "/parity/pipeline";

const mf::testing::TinySafetensors& inputs_file() {
  static mf::testing::TinySafetensors f(kPipe + "/inputs/inputs.safetensors");
  return f;
}

// "inputs/NAME.mp4" -> frames of video.NAME; "inputs/NAME.png" -> image.NAME (RGB or L).
std::vector<Image8> load_input(const std::string& path) {
  const size_t slash = path.find('/');
  const size_t dot = path.rfind('.');
  const std::string name = path.substr(slash + 1, dot - slash - 1);
  const std::string ext = path.substr(dot + 1);
  std::vector<int64_t> shape;
  std::vector<Image8> out;
  if (ext == "mp4") {
    const auto bytes = inputs_file().u8("video." + name, &shape);
    const int T = static_cast<int>(shape[0]), H = static_cast<int>(shape[1]), W = static_cast<int>(shape[2]);
    for (int t = 0; t < T; ++t) {
      Image8 im(W, H, 3);
      std::copy(bytes.begin() + static_cast<size_t>(t) * H * W * 3, bytes.begin() + static_cast<size_t>(t + 1) * H * W * 3,
                im.pixels.begin());
      out.push_back(std::move(im));
    }
  } else {
    const auto bytes = inputs_file().u8("image." + name, &shape);
    const int H = static_cast<int>(shape[0]), W = static_cast<int>(shape[1]);
    const int C = shape.size() == 3 ? static_cast<int>(shape[2]) : 1;
    Image8 im(W, H, C);
    im.pixels = bytes;
    out.push_back(std::move(im));
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t b = 0;
  while (true) {
    const size_t e = s.find(sep, b);
    parts.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return parts;
}

struct Golden {
  TaskId task;
  ConditionFrames cond;
  std::vector<float> pv, masks;  // reference
  std::vector<int64_t> pv_shape, mask_shape;
};

Golden build(const std::string& key) {
  mf::testing::TinySafetensors f(kPipe + "/mfm_pipeline_" + key + ".safetensors");
  const auto& md = f.metadata();
  Golden g;
  g.task = *parse_task_id(md.at("task"));
  const auto call = nlohmann::json::parse(md.at("call"));
  ConditionInputs in;
  const std::string input_path = md.at("input_path");
  if (!input_path.empty()) {
    const auto parts = split(input_path, ';');
    in.clip1 = load_input(parts[0]);
    if (parts.size() > 1) in.clip2 = load_input(parts[1]);
  }
  if (!md.at("mask_path").empty()) in.mask = load_input(md.at("mask_path"));
  const CropMode crop = call.contains("crop_type") ? *parse_crop_mode(call["crop_type"].get<std::string>())
                                                   : CropMode::KeepRatio;
  const int upscale = call.value("upscale", 4);
  g.cond = build_condition_frames(g.task, in, {call["width"].get<int>(), call["height"].get<int>()}, crop, upscale,
                                  call["num_frames"].get<int>());
  g.pv = f.floats("out.conditional_pixel_values", &g.pv_shape);
  g.masks = f.floats("out.conditional_masks", &g.mask_shape);
  return g;
}

const char* kAllTasks[] = {"t2v", "t2i", "i2v", "itrans", "vexd", "vtrans", "vinp", "voutp",
                           "vcolor", "vsr", "vedit", "isr", "icolor", "iinp", "ioutp"};

}  // namespace

TEST(ConditionGoldens, ShapesMasksAndPixelsMatchOfficialPipeline) {
  for (const char* key : kAllTasks) {
    SCOPED_TRACE(key);
    const Golden g = build(key);
    const ConditionFrames& c = g.cond;
    const int T = c.num_frames(), H = c.height(), W = c.width();
    ASSERT_EQ(g.pv_shape, (std::vector<int64_t>{1, 4, T, H, W}));
    ASSERT_EQ(g.mask_shape, (std::vector<int64_t>{1, 1, T, H, W}));
    std::vector<float> pv(g.pv.size()), masks(g.masks.size());
    condition_to_float(c, ConditionPrecision::Float32, pv.data(), masks.data());
    const size_t plane = static_cast<size_t>(H) * W, per_ch = plane * T;
    size_t mask_bad = 0, rgb_bad = 0, depth_bad = 0;
    double depth_max_err = 0;
    for (size_t i = 0; i < per_ch; ++i) mask_bad += masks[i] != g.masks[i];
    for (size_t i = 0; i < 3 * per_ch; ++i) rgb_bad += pv[i] != g.pv[i];
    // Depth stand-in on the known frames of generation tasks: 0.5 + 4 * luma / 255 of the processed frame.
    std::vector<bool> has_depth(static_cast<size_t>(T), false);
    for (int t : c.plan.depth_frames) has_depth[t] = true;
    for (int t = 0; t < T; ++t) {
      for (size_t i = 0; i < plane; ++i) {
        float expect = 0.0f;
        if (has_depth[t]) {
          const uint8_t* px = &c.frames[t].pixels[3 * i];
          expect = 0.5f + 4.0f * (0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2]) / 255.0f;
        }
        const double err = std::fabs(double(expect) - g.pv[3 * per_ch + t * plane + i]);
        depth_max_err = std::max(depth_max_err, err);
        depth_bad += err > 1e-5;
      }
    }
    EXPECT_EQ(mask_bad, 0u) << "mask values differ";
    EXPECT_EQ(rgb_bad, 0u) << "RGB x mask values differ";
    EXPECT_EQ(depth_bad, 0u) << "depth differs (max error " << depth_max_err << ")";
  }
}

TEST(ConditionGoldens, GeometryPlacesKnownFramesAndLetterbox) {
  // Spot checks that read like the reference table (C.3), on top of the value comparison above.
  {
    const Golden g = build("i2v");  // 120x80 landscape into 64x48 keep_ratio: fitted 64x32 at (0, 8)
    EXPECT_EQ(g.cond.geometry.fitted, (Size{64, 32}));
    EXPECT_EQ(g.cond.geometry.offset_y, 8);
    EXPECT_EQ(g.cond.plan.known, (std::vector<int>{0}));
    const size_t plane = 48 * 64;
    EXPECT_EQ(g.masks[0 * plane + 0], 0.0f);             // border row: generate
    EXPECT_EQ(g.masks[0 * plane + 8 * 64 + 5], 1.0f);    // inside the picture: keep
    EXPECT_EQ(g.masks[1 * plane + 8 * 64 + 5], 0.0f);    // frame 1 is unknown
  }
  {
    const Golden g = build("icolor");  // portrait 72x112, box 48x64 swapped to 64x48: double resize, fitted 16x48
    EXPECT_TRUE(g.cond.geometry.swapped);
    EXPECT_EQ(g.cond.geometry.pre_resize, (Size{64, 48}));
    EXPECT_EQ(g.cond.geometry.fitted, (Size{16, 48}));
    EXPECT_EQ(g.cond.geometry.offset_x, 24);
    EXPECT_EQ(g.cond.geometry.output_resize, (Size{72, 112}));
  }
  {
    const Golden g = build("vtrans");
    std::vector<int> known;
    for (int i = 0; i < 8; ++i) known.push_back(i);
    for (int i = 89; i < 97; ++i) known.push_back(i);
    EXPECT_EQ(g.cond.plan.known, known);
    EXPECT_EQ(g.cond.plan.pre_frames, 13);
    EXPECT_EQ(g.cond.plan.post_frames, 5);
    EXPECT_EQ(output_frames(g.cond.plan, Drop3Policy::Never).with_inputs, 115);  // out.video has 115 frames
  }
  {
    const Golden g = build("isr");
    EXPECT_EQ(g.cond.geometry.output_resize, (Size{96, 64}));  // out.video is [.., 64, 96]
  }
}

TEST(ConditionGoldens, OutputFrameCountsMatchOutVideo) {
  for (const char* key : kAllTasks) {
    SCOPED_TRACE(key);
    const Golden g = build(key);
    mf::testing::TinySafetensors f(kPipe + "/mfm_pipeline_" + std::string(key) + ".safetensors");
    std::vector<int64_t> shape;
    f.floats("out.video", &shape);
    ASSERT_EQ(shape.size(), 5u);
    EXPECT_EQ(shape[2], output_frames(g.cond.plan, Drop3Policy::Never).with_inputs);
    const Size out = g.cond.geometry.output_resize.empty() ? g.cond.geometry.canvas : g.cond.geometry.output_resize;
    EXPECT_EQ(shape[3], out.height);
    EXPECT_EQ(shape[4], out.width);
  }
}

TEST(ConditionGoldens, Bf16PrecisionRoundsLikeTorch) {
  const Golden g = build("vcolor");
  const ConditionFrames& c = g.cond;
  std::vector<float> pv(g.pv.size()), masks(g.masks.size()), pv32(g.pv.size()), m32(g.masks.size());
  condition_to_float(c, ConditionPrecision::BFloat16, pv.data(), masks.data());
  condition_to_float(c, ConditionPrecision::Float32, pv32.data(), m32.data());
  double max_err = 0;
  for (size_t i = 0; i < pv.size(); ++i) {
    max_err = std::max(max_err, std::fabs(double(pv[i]) - pv32[i]));
    uint32_t bits;
    std::memcpy(&bits, &pv[i], 4);
    EXPECT_EQ(bits & 0xffffu, 0u) << "value " << i << " is not a bfloat16";
    if (bits & 0xffffu) break;
  }
  EXPECT_GT(max_err, 0.0);      // bf16 rounding is visible ...
  EXPECT_LT(max_err, 1.6e-2);   // ... but within a bf16 ulp of values in [-1, 1] (plus one for the product)
}

TEST(ConditionGoldens, KeptInputFramesMatchOutVideo) {
  // vexd/vtrans: out.video starts with the untouched input frames (and vtrans ends with clip 2's tail), resized
  // straight to the generation size and normalised to [-1, 1]; stored as float16.
  for (const char* key : {"vexd", "vtrans"}) {
    SCOPED_TRACE(key);
    mf::testing::TinySafetensors f(kPipe + "/mfm_pipeline_" + std::string(key) + ".safetensors");
    const auto& md = f.metadata();
    const auto parts = split(md.at("input_path"), ';');
    ConditionInputs in;
    in.clip1 = load_input(parts[0]);
    if (parts.size() > 1) in.clip2 = load_input(parts[1]);
    const Golden g = build(key);
    const KeptFrames kept = kept_input_frames(in, g.cond);
    EXPECT_EQ(static_cast<int>(kept.pre.size()), g.cond.plan.pre_frames);
    EXPECT_EQ(static_cast<int>(kept.post.size()), g.cond.plan.post_frames);
    std::vector<int64_t> shape;
    const auto video = f.floats("out.video", &shape);
    const int T = static_cast<int>(shape[2]), H = static_cast<int>(shape[3]), W = static_cast<int>(shape[4]);
    const size_t plane = static_cast<size_t>(H) * W;
    double max_err = 0;
    auto compare = [&](const Image8& im, int t) {
      ASSERT_EQ(im.width, W);
      ASSERT_EQ(im.height, H);
      for (int ch = 0; ch < 3; ++ch)
        for (size_t i = 0; i < plane; ++i) {
          const float expect = (im.pixels[3 * i + ch] / 255.0f - 0.5f) / 0.5f;
          max_err = std::max(max_err, std::fabs(double(expect) - video[(ch * T + t) * plane + i]));
        }
    };
    for (size_t k = 0; k < kept.pre.size(); ++k) compare(kept.pre[k], static_cast<int>(k));
    for (size_t k = 0; k < kept.post.size(); ++k)
      compare(kept.post[k], T - static_cast<int>(kept.post.size()) + static_cast<int>(k));
    EXPECT_LE(max_err, 1.0 / 1024);  // float16 storage of values in [-1, 1]
  }
}
