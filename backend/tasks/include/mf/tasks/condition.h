// Condition frames as the official pipeline builds them from decoded inputs (mfm-reference.md C.3 steps 1-3), in
// two torch-free stages:
//  1. build_condition_frames(): the PIL stage. Places input frames on the condition timeline (known frames per
//     task), resizes frames and masks with the PIL-exact bicubic resampler (icolor: twice), letterboxes for
//     keep_ratio (border mask 0), and returns uint8 RGB frames and L masks at the generation size.
//  2. condition_to_float(): the tensor stage. (x / 255 - 0.5) / 0.5 for pixels, masks to [0, 1], grayscale for
//     colorization, RGB x mask, in float32 or emulating the official bfloat16 casts, into caller-owned arrays
//     laid out [4, T, H, W] (RGB x mask, then a depth channel left at 0 for the depth model) and [1, T, H, W].
// backend/pipeline adds the depth channel (generation tasks, on FramePlan::depth_frames), noise augmentation and
// the CFG duplication.
//
// Thread-safety: pure functions over caller-owned data.
#pragma once

#include <vector>

#include "mf/tasks/geometry.h"
#include "mf/tasks/pil_image.h"
#include "mf/tasks/task_id.h"
#include "mf/tasks/task_spec.h"

namespace mf::tasks {

// Decoded inputs, uint8. Images are one-frame clips. Masks may be L or RGB (converted with PIL's convert("L")).
struct ConditionInputs {
  std::vector<Image8> clip1;  // input 1 (RGB): the image, or every decoded frame of the clip
  std::vector<Image8> clip2;  // input 2 (RGB): itrans' second image / vtrans' second clip; empty otherwise
  std::vector<Image8> mask;   // the mask image (1 frame) or mask video frames; empty = no mask
};

struct ConditionFrames {
  TaskId task = TaskId::T2V;
  ConditionGeometry geometry;   // for t2v/t2i only `canvas` is set (the requested size)
  FramePlan plan;
  // [T] RGB / L images at geometry.canvas (black frame and mask 0 where nothing is known; 255 = keep). Both are
  // empty for t2v/t2i, whose condition is all zeros (condition_to_float writes the zeros).
  std::vector<Image8> frames;
  std::vector<Image8> masks;
  int width() const { return geometry.canvas.width; }
  int height() const { return geometry.canvas.height; }
  int num_frames() const { return plan.num_frames; }
};

// Builds the PIL-stage condition for `spec`'s task from decoded inputs. Throws mf::Error(BadInput) with an
// actionable message for: missing/extra inputs, a mask of another size than the input, a mask video shorter than
// the frames it must cover, non-RGB inputs, clips too short for vexd/vtrans. The official code silently stretches
// a mismatched mask; Manyfold refuses it.
ConditionFrames build_condition_frames(const TaskSpec& spec, const ConditionInputs& inputs);
// The same with explicit parameters (requested box, crop, upscale, requested frame count).
ConditionFrames build_condition_frames(TaskId task, const ConditionInputs& inputs, Size requested, CropMode crop,
                                       int upscale, int requested_frames);

enum class ConditionPrecision {
  Float32,   // every step in float32 (what the parity goldens recorded, run in float32 on CPU)
  BFloat16,  // round to bfloat16 where the official bf16 run casts (the released driver's mixed precision)
};

// vexd/vtrans keep the input frames outside the generated window and put them back around the output (C.9):
// frames_pre = input-1 frames [0, pre_frames), frames_post = input-2 frames [8, 8 + post_frames), each resized
// straight to the generation size with PIL bicubic (no letterbox, as the official code does). The pipeline
// normalises them to [-1, 1] and concatenates them with the decoded video.
struct KeptFrames {
  std::vector<Image8> pre;
  std::vector<Image8> post;
};
KeptFrames kept_input_frames(const ConditionInputs& inputs, const ConditionFrames& c);

// Writes the conditional half: pixel_values [4, T, H, W] (RGB x mask; channel 3 = depth, set to 0 here) and
// masks [1, T, H, W] in [0, 1]. Both arrays must hold 4*T*H*W and T*H*W floats.
void condition_to_float(const ConditionFrames& c, ConditionPrecision precision, float* pixel_values, float* masks);

}  // namespace mf::tasks
