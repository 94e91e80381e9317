#include "mf/tasks/geometry.h"
#include "mf/tasks/task_spec.h"

#include <algorithm>
#include <cmath>

#include "mf/core/error.h"

namespace mf::tasks {

namespace {

std::string size_str(Size s) { return std::to_string(s.width) + "x" + std::to_string(s.height); }

}  // namespace

int python_round(double v) { return static_cast<int>(std::nearbyint(v)); }  // default mode: half to even

ConditionGeometry condition_geometry(TaskId task, Size input, Size requested, CropMode crop, int upscale) {
  const TaskFacts& f = task_facts(task);
  check(f.input != InputKind::None, ErrorCode::Internal,
        std::string("condition_geometry: ") + f.key + " has no input to fit");
  check(!input.empty(), ErrorCode::BadInput,
        std::string(f.key) + ": the input has no pixels (" + size_str(input) + "); check that the file decodes");
  check(!requested.empty(), ErrorCode::BadInput,
        std::string(f.key) + ": the requested size " + size_str(requested) + " is empty");

  ConditionGeometry g;
  g.input = input;
  int W = requested.width, H = requested.height;
  if (crop != CropMode::KeepRatioH && input.width < input.height) {
    std::swap(W, H);
    g.swapped = true;
  }
  g.box = {W, H};
  if (task == TaskId::ISR) g.output_resize = {input.width * upscale, input.height * upscale};
  if (task == TaskId::IColor) {
    g.output_resize = input;
    g.pre_resize = g.box;
  }
  // Python: scale = min(width / image_width, height / image_height); round(image_width * scale); // 16 * 16.
  const double scale = std::min(static_cast<double>(W) / input.width, static_cast<double>(H) / input.height);
  const int rw = python_round(input.width * scale);
  const int rh = python_round(input.height * scale);
  g.fitted = {rw / 16 * 16, rh / 16 * 16};
  check(!g.fitted.empty(), ErrorCode::BadInput,
        std::string(f.key) + ": a " + size_str(input) + " input fitted into a " + size_str(g.box) +
            " box is " + std::to_string(rw) + "x" + std::to_string(rh) +
            ", which rounds down to 0 at the 16-pixel grid; use a larger box or a less elongated input");
  if (crop == CropMode::KeepRes) {
    g.canvas = g.fitted;
  } else {
    g.canvas = g.box;
    check((W - g.fitted.width) % 2 == 0 && (H - g.fitted.height) % 2 == 0, ErrorCode::BadInput,
          std::string(f.key) + ": cannot centre a " + size_str(g.fitted) + " picture in a " + size_str(g.box) +
              " box (odd border); use a box whose sides are multiples of 16");
    g.offset_x = (W - g.fitted.width) / 2;
    g.offset_y = (H - g.fitted.height) / 2;
  }
  return g;
}

namespace {

// The frame count of a generation task: the requested one (the official pipeline's 97 unless the user chose
// another), 4k+1 and long enough to generate at least one frame besides the known ones.
int generation_frames(TaskId task, int requested) {
  const std::string key = task_facts(task).key;
  const int lo = min_generation_frames(task);
  check(requested >= lo && is_valid_frame_count(requested), ErrorCode::BadInput,
        key + ": num_frames " + std::to_string(requested) + " is not possible; use 4k+1 frames, at least " +
            std::to_string(lo) + " (the official pipeline uses " + std::to_string(kDefaultNumFrames) + ")");
  return requested;
}

}  // namespace

FramePlan plan_frames(TaskId task, int requested_frames, int input_frames, int input2_frames, bool has_mask) {
  const TaskFacts& f = task_facts(task);
  const std::string key = f.key;
  FramePlan p;
  auto all_frames = [&](int n) {
    std::vector<int> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[i] = i;
    return v;
  };
  switch (task) {
    case TaskId::T2V:
    case TaskId::T2I: {
      check(requested_frames >= 1, ErrorCode::BadInput,
            key + ": num_frames must be at least 1 (found " + std::to_string(requested_frames) + ")");
      p.num_frames = task == TaskId::T2I ? 1 : requested_frames;
      break;
    }
    case TaskId::I2V:
    case TaskId::ITrans: {
      p.num_frames = generation_frames(task, requested_frames);
      p.input_count = 1;
      p.known = {0};
      if (task == TaskId::ITrans) {
        p.input2_count = 1;
        p.input2_at = p.num_frames - 1;
        p.known.push_back(p.num_frames - 1);
      }
      p.depth_frames = p.known;
      break;
    }
    case TaskId::VExd:
    case TaskId::VTrans: {
      const int n0 = f.trans_nums[0];
      check(input_frames >= n0, ErrorCode::BadInput,
            key + ": the input clip has " + std::to_string(input_frames) + " frame(s); " + key + " continues from its last " +
                std::to_string(n0) + " frames, so it needs at least " + std::to_string(n0));
      p.num_frames = generation_frames(task, requested_frames);
      p.input_first = input_frames - n0;
      p.input_count = n0;
      p.pre_frames = input_frames - n0;
      p.known = all_frames(n0);
      if (task == TaskId::VTrans) {
        const int n1 = f.trans_nums[1];
        check(input2_frames >= n1, ErrorCode::BadInput,
              key + ": the second clip has " + std::to_string(input2_frames) + " frame(s); the transition leads into "
                    "its first " + std::to_string(n1) + " frames, so it needs at least " + std::to_string(n1));
        p.input2_count = n1;
        p.input2_at = p.num_frames - n1;
        for (int i = p.num_frames - n1; i < p.num_frames; ++i) p.known.push_back(i);
        p.post_frames = input2_frames - n1;
      }
      p.depth_frames = p.known;
      break;
    }
    case TaskId::IInp:
    case TaskId::IOutp:
    case TaskId::IColor:
    case TaskId::ISR: {
      p.num_frames = 1;
      p.input_count = 1;
      p.known = {0};
      p.mask_from_file = has_mask;
      p.mask_frames_needed = has_mask ? 1 : 0;
      break;
    }
    case TaskId::VInp:
    case TaskId::VOutp:
    case TaskId::VColor:
    case TaskId::VSR:
    case TaskId::VEdit: {
      check(input_frames >= 1, ErrorCode::BadInput,
            key + ": the input clip has no frames; check that the video decodes");
      check(requested_frames >= 1, ErrorCode::BadInput,
            key + ": num_frames must be at least 1 (found " + std::to_string(requested_frames) + ")");
      // vlen = min(num_frames, (len - 1) // 4 * 4 + 1)
      const int usable = (input_frames - 1) / 4 * 4 + 1;
      p.num_frames = std::min(requested_frames, usable);
      p.input_count = p.num_frames;
      p.known = all_frames(p.num_frames);
      p.mask_from_file = has_mask;
      p.mask_frames_needed = has_mask ? p.num_frames : 0;
      break;
    }
  }
  return p;
}

int latent_frames(int num_frames) { return (num_frames - 1) / 4 + 1; }

int decoded_frames(int latent_t) {
  if (latent_t <= 1) return latent_t;
  return latent_t % 2 == 1 ? 4 * (latent_t - 1) + 1 : 4 * latent_t;
}

OutputFrames output_frames(const FramePlan& plan, Drop3Policy policy) {
  OutputFrames o;
  const int lt = latent_frames(plan.num_frames);
  o.decoded = decoded_frames(lt);
  o.with_inputs = o.decoded + plan.pre_frames + plan.post_frames;
  switch (policy) {
    case Drop3Policy::Driver: o.dropped = (o.with_inputs % 4 == 0) ? 3 : 0; break;
    case Drop3Policy::EvenLatentOnly:
      o.dropped = (lt > 1 && lt % 2 == 0) ? 3 : 0;
      o.dropped_at = plan.pre_frames;
      break;
    case Drop3Policy::Never: o.dropped = 0; break;
  }
  o.final_count = o.with_inputs - o.dropped;
  return o;
}

}  // namespace mf::tasks
