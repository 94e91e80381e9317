// Compiled with -ffp-contract=off (see CMakeLists.txt): the float maths mirrors torch's op-by-op rounding.
#include "mf/tasks/condition.h"

#include <cstring>
#include <memory>
#include <string>

#include "mf/core/error.h"

namespace mf::tasks {

namespace {

std::string size_str(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

float bf16_round(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    bits = (bits | 0x00400000u) & 0xffff0000u;
  } else {
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
  }
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

}  // namespace

ConditionFrames build_condition_frames(const TaskSpec& spec, const ConditionInputs& inputs) {
  return build_condition_frames(spec.task, inputs, {spec.width, spec.height}, spec.crop, spec.upscale,
                                spec.num_frames);
}

ConditionFrames build_condition_frames(TaskId task, const ConditionInputs& in, Size requested, CropMode crop,
                                       int upscale, int requested_frames) {
  const TaskFacts& f = task_facts(task);
  const std::string key = f.key;
  ConditionFrames c;
  c.task = task;

  if (f.input == InputKind::None) {
    check(in.clip1.empty() && in.clip2.empty() && in.mask.empty(), ErrorCode::BadInput,
          key + " generates from text alone: remove the input image/video and mask");
    check(!requested.empty() && requested.width % 16 == 0 && requested.height % 16 == 0, ErrorCode::BadInput,
          key + ": the size " + size_str(requested.width, requested.height) + " must be multiples of 16");
    c.plan = plan_frames(task, requested_frames);
    c.geometry.box = requested;
    c.geometry.canvas = requested;
    c.geometry.fitted = requested;
    return c;
  }

  // ---- inputs
  const char* noun = f.input == InputKind::Video ? "video" : "image";
  check(!in.clip1.empty(), ErrorCode::BadInput, key + ": the input " + noun + " is missing or has no frames");
  if (f.input == InputKind::Image)
    check(in.clip1.size() == 1, ErrorCode::BadInput,
          key + " needs a single image, but the input has " + std::to_string(in.clip1.size()) +
              " frames; use the video task of the same kind for videos");
  const Image8& first = in.clip1.front();
  for (size_t i = 0; i < in.clip1.size(); ++i) {
    const Image8& fr = in.clip1[i];
    check(fr.channels == 3, ErrorCode::BadInput,
          key + ": input frame " + std::to_string(i) + " has " + std::to_string(fr.channels) +
              " channel(s); decode inputs as RGB");
    check(fr.width == first.width && fr.height == first.height, ErrorCode::BadInput,
          key + ": input frame " + std::to_string(i) + " is " + size_str(fr.width, fr.height) +
              " but frame 0 is " + size_str(first.width, first.height) + "; every frame must have the same size");
  }
  if (f.num_inputs == 2) {
    check(!in.clip2.empty(), ErrorCode::BadInput,
          key + " needs a second " + noun + " (what the transition leads into)");
    if (f.input == InputKind::Image)
      check(in.clip2.size() == 1, ErrorCode::BadInput, key + ": the second input must be a single image");
    for (size_t i = 0; i < in.clip2.size(); ++i)
      check(in.clip2[i].channels == 3 && in.clip2[i].width == in.clip2[0].width &&
                in.clip2[i].height == in.clip2[0].height,
            ErrorCode::BadInput,
            key + ": frame " + std::to_string(i) + " of the second input is not RGB of the same size as its frame 0");
  } else {
    check(in.clip2.empty(), ErrorCode::BadInput, key + " takes one input; remove the second one");
  }

  // ---- mask
  const bool has_mask = !in.mask.empty();
  if (f.mask == MaskUse::Forbidden)
    check(!has_mask, ErrorCode::BadInput, key + " does not take a mask (the official pipeline ignores it); remove it");
  if (f.mask == MaskUse::Required)
    check(has_mask, ErrorCode::BadInput,
          key + " needs a mask (white = keep, black = generate); without one nothing would be generated");

  c.plan = plan_frames(task, requested_frames, static_cast<int>(in.clip1.size()), static_cast<int>(in.clip2.size()),
                       has_mask);
  const FramePlan& p = c.plan;
  if (has_mask) {
    check(static_cast<int>(in.mask.size()) >= p.mask_frames_needed, ErrorCode::BadInput,
          key + ": the mask video has " + std::to_string(in.mask.size()) + " frame(s) but " +
              std::to_string(p.mask_frames_needed) + " input frames are used; give a mask frame for every frame");
    for (size_t i = 0; i < static_cast<size_t>(p.mask_frames_needed); ++i) {
      const Image8& m = in.mask[i];
      check(m.width == first.width && m.height == first.height, ErrorCode::BadInput,
            key + ": the mask" + (f.input == InputKind::Video ? " frame " + std::to_string(i) : std::string()) +
                " is " + size_str(m.width, m.height) + " but the input is " + size_str(first.width, first.height) +
                "; masks must have the input's size");
      check(m.channels == 1 || m.channels == 3, ErrorCode::BadInput,
            key + ": the mask must be grayscale (L) or RGB, found " + std::to_string(m.channels) + " channels");
    }
  }

  // ---- geometry
  c.geometry = condition_geometry(task, {first.width, first.height}, requested, crop, upscale);
  const ConditionGeometry& g = c.geometry;
  const int T = p.num_frames;

  // icolor: frames are first resized (distorting) to the box, then to the fitted size.
  std::unique_ptr<PilBicubicResizer> pre;
  if (!g.pre_resize.empty() && g.pre_resize != g.input)
    pre = std::make_unique<PilBicubicResizer>(first.width, first.height, g.pre_resize.width, g.pre_resize.height);
  const Size src1 = g.pre_resize.empty() ? g.input : g.pre_resize;
  const PilBicubicResizer fit1(src1.width, src1.height, g.fitted.width, g.fitted.height);
  const PilBicubicResizer fit_mask(first.width, first.height, g.fitted.width, g.fitted.height);
  std::unique_ptr<PilBicubicResizer> fit2;
  if (!in.clip2.empty())
    fit2 = std::make_unique<PilBicubicResizer>(in.clip2[0].width, in.clip2[0].height, g.fitted.width,
                                               g.fitted.height);

  auto place = [&](Image8 img) {
    if (!g.letterboxed()) return img;
    return pil_paste_on_black(img, g.canvas.width, g.canvas.height, g.offset_x, g.offset_y);
  };
  auto resize_frame1 = [&](const Image8& src) {
    if (pre) return fit1.resize(pre->resize(src));
    if (src1 == g.fitted) return src;
    return fit1.resize(src);
  };
  auto resize_mask = [&](const Image8& m) {
    const Image8 l = m.channels == 3 ? pil_rgb_to_l(m) : m;
    if (g.input == g.fitted) return l;
    return fit_mask.resize(l);
  };

  const Image8 black_frame(g.canvas.width, g.canvas.height, 3, 0);
  const Image8 black_mask(g.canvas.width, g.canvas.height, 1, 0);
  const Image8 white_mask = place(resize_mask(Image8(first.width, first.height, 1, 255)));

  c.frames.assign(static_cast<size_t>(T), black_frame);
  c.masks.assign(static_cast<size_t>(T), black_mask);
  for (int t = 0; t < p.input_count; ++t) {
    c.frames[t] = place(resize_frame1(in.clip1[p.input_first + t]));
    c.masks[t] = has_mask ? place(resize_mask(in.mask[t])) : white_mask;
  }
  for (int k = 0; k < p.input2_count; ++k) {
    const Image8& src = in.clip2[k];
    const Image8 fitted = (Size{src.width, src.height} == g.fitted) ? src : fit2->resize(src);
    c.frames[p.input2_at + k] = place(fitted);
    c.masks[p.input2_at + k] = white_mask;
  }
  return c;
}

KeptFrames kept_input_frames(const ConditionInputs& in, const ConditionFrames& c) {
  KeptFrames k;
  const Size out = c.geometry.canvas;
  auto resize_all = [&](const std::vector<Image8>& clip, int first, int count, std::vector<Image8>& dst) {
    if (count <= 0) return;
    check(static_cast<int>(clip.size()) >= first + count, ErrorCode::BadInput,
          std::string(to_string(c.task)) + ": the input clip is shorter than the frame plan it was built with");
    const Image8& f0 = clip[first];
    const PilBicubicResizer r(f0.width, f0.height, out.width, out.height);
    for (int i = first; i < first + count; ++i)
      dst.push_back(Size{clip[i].width, clip[i].height} == out ? clip[i] : r.resize(clip[i]));
  };
  resize_all(in.clip1, 0, c.plan.pre_frames, k.pre);
  resize_all(in.clip2, c.plan.input2_count, c.plan.post_frames, k.post);
  return k;
}

void condition_to_float(const ConditionFrames& c, ConditionPrecision precision, float* pixel_values, float* masks) {
  const int T = c.num_frames(), H = c.height(), W = c.width();
  const size_t plane = static_cast<size_t>(H) * W;
  const size_t per_channel = static_cast<size_t>(T) * plane;
  std::fill(pixel_values, pixel_values + 4 * per_channel, 0.0f);
  std::fill(masks, masks + per_channel, 0.0f);
  if (c.frames.empty()) return;  // t2v / t2i: all-zero condition
  const bool bf = precision == ConditionPrecision::BFloat16;
  auto R = [bf](float v) { return bf ? bf16_round(v) : v; };
  const bool gray = task_facts(c.task).grayscale_input;
  for (int t = 0; t < T; ++t) {
    const Image8& fr = c.frames[t];
    const Image8& mk = c.masks[t];
    for (size_t i = 0; i < plane; ++i) {
      // transforms.ToTensor + Normalize([0.5], [0.5]) in float32, then .to(dtype).
      const float m01 = mk.pixels[i] / 255.0f;
      const float mn = R((m01 - 0.5f) / 0.5f);
      const float m = R(R(mn * 0.5f) + 0.5f);
      float rgb[3];
      for (int ch = 0; ch < 3; ++ch) {
        const float x = fr.pixels[3 * i + ch] / 255.0f;
        rgb[ch] = R((x - 0.5f) / 0.5f);
      }
      if (gray) {
        // images_cond * 0.5 + 0.5 -> rgb_to_grayscale (0.2989, 0.587, 0.114) -> * 2 - 1
        float u[3];
        for (int ch = 0; ch < 3; ++ch) u[ch] = R(R(rgb[ch] * 0.5f) + 0.5f);
        const float l = R(R(R(0.2989f * u[0]) + R(0.587f * u[1])) + R(0.114f * u[2]));
        const float v = R(R(l * 2.0f) - 1.0f);
        rgb[0] = rgb[1] = rgb[2] = v;
      }
      for (int ch = 0; ch < 3; ++ch) pixel_values[ch * per_channel + t * plane + i] = R(rgb[ch] * m);
      masks[t * plane + i] = m;
    }
  }
}

}  // namespace mf::tasks
