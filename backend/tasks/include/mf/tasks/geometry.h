// Condition geometry and frame bookkeeping of the official pipeline (mfm-reference.md C.3, C.5, C.9), as pure
// functions on sizes and counts. backend/pipeline turns these plans into tensors.
//
// Spatial rule (C.3 step 2), for an input of (iw, ih) and a requested box (Wt, Ht):
//  1. portrait swap: unless crop is keep_ratio_h, an input with iw < ih swaps Wt and Ht;
//  2. icolor first resizes every frame to (Wt, Ht) (distorting), then continues with the ORIGINAL (iw, ih);
//  3. s = min(Wt / iw, Ht / ih); (iw', ih') = Python round(iw * s), round(ih * s) (half to even), each floored
//     to a multiple of 16; frames and masks are resized to (iw', ih') with PIL bicubic;
//  4. keep_ratio / keep_ratio_h: pasted at ((Wt - iw') // 2, (Ht - ih') // 2) on a black Wt x Ht canvas, the mask
//     likewise on a black (0 = generate) canvas; keep_res: the generation size is (iw', ih');
//  5. isr's output is resized (nearest) to (iw * upscale, ih * upscale), icolor's to (iw, ih).
//
// Temporal rule: see FramePlan. Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "mf/tasks/task_id.h"
#include "mf/tasks/task_spec.h"

namespace mf::tasks {

struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size& o) const { return width == o.width && height == o.height; }
  bool operator!=(const Size& o) const { return !(*this == o); }
  bool empty() const { return width <= 0 || height <= 0; }
};

struct ConditionGeometry {
  Size input;          // (iw, ih) of the first input frame
  Size box;            // the requested (Wt, Ht) after the portrait swap
  bool swapped = false;
  Size pre_resize;     // icolor only: frames are first resized to this (= box); empty otherwise
  Size fitted;         // (iw', ih'): what frames and masks are resized to
  Size canvas;         // the generation size (W, H): box for keep_ratio*, fitted for keep_res
  int offset_x = 0;    // where `fitted` is pasted inside `canvas` (0 for keep_res)
  int offset_y = 0;
  Size output_resize;  // isr: (iw, ih) x upscale; icolor: (iw, ih); empty = the output keeps `canvas`
  bool letterboxed() const { return canvas != fitted; }
};

// Geometry for a task with an input (not t2v/t2i). Throws mf::Error(BadInput) when the input is empty, the
// aspect fit rounds a side to 0 (an extremely thin input for the box), or a letterbox offset is not integral
// (a box that is not a multiple of 16; the official PIL paste fails there).
ConditionGeometry condition_geometry(TaskId task, Size input, Size requested, CropMode crop, int upscale);

// Python's round() on a double: half to even.
int python_round(double v);

// ---- frames ----

struct FramePlan {
  int num_frames = 0;              // T of the condition and of the generation (pixel frames)
  std::vector<int> known;          // frames whose content comes from the inputs (mask 1 before any mask file)
  std::vector<int> depth_frames;   // frames that receive depth (generation tasks: = known)
  // Input 1: frames [input_first, input_first + input_count) are placed at condition frames [0, input_count)
  // (vexd/vtrans: the last 8 frames; editing tasks: the first num_frames; image tasks: the image).
  int input_first = 0;
  int input_count = 0;
  // Input 2 (itrans: 1 image at the last frame, 96 by default; vtrans: its first 8 frames, 89..96 by default).
  int input2_count = 0;
  int input2_at = 0;               // condition frame of input 2's first used frame
  bool mask_from_file = false;     // the task's mask (image or video) decides which pixels are known
  int mask_frames_needed = 0;      // frames a mask video must have (>= num_frames); 1 for a mask image
  int pre_frames = 0;              // vexd/vtrans: input-1 frames [0, pre_frames) prepended to the output
  int post_frames = 0;             // vtrans: input-2 frames [8, 8 + post_frames) appended to the output
};

// The official frame plan (generation tasks at a num_frames other than 97: the same plan on that length).
// requested_frames is TaskSpec::num_frames; input_frames / input2_frames are the decoded
// lengths of the input clips (1 for images, ignored for t2v/t2i). Throws mf::Error(BadInput) with an actionable
// message for clips that are too short (vexd/vtrans need at least 8 frames per clip, others at least 1).
FramePlan plan_frames(TaskId task, int requested_frames, int input_frames = 1, int input2_frames = 0,
                      bool has_mask = false);

// latent_T = (num_frames - 1) // 4 + 1.
int latent_frames(int num_frames);
// Frames the CogVideoX decoder returns for latent_T latent frames: 1 -> 1, odd -> 4 (T - 1) + 1, even -> 4 T.
int decoded_frames(int latent_t);

// The official driver drops the first 3 frames whenever the final frame count is a multiple of 4 (C.9). That is
// right for an even latent count (the decoder returned 4T frames) but spurious for vexd/vtrans, whose prepended/
// appended input frames can make the total a multiple of 4 and then 3 real input frames are cut.
enum class Drop3Policy {
  Driver,          // exactly as infer_mfm_pipeline.py: drop 3 if total % 4 == 0 (parity with the driver's files)
  EvenLatentOnly,  // Manyfold's default: drop 3 only when the decoder returned 4T frames (even latent_T)
  Never,           // keep everything (what MfMPipeline.__call__ itself returns)
};

struct OutputFrames {
  int decoded = 0;      // frames out of the VAE for the generated part
  int with_inputs = 0;  // + pre_frames + post_frames (MfMPipeline's return value)
  int dropped = 0;      // frames removed by the drop-3 rule ...
  int dropped_at = 0;   // ... starting at this frame (Driver: 0; EvenLatentOnly: the generated part's start)
  int final_count = 0;  // frames written
};

OutputFrames output_frames(const FramePlan& plan, Drop3Policy policy = Drop3Policy::EvenLatentOnly);

// The driver writes a video when num_frames > 16 and otherwise averages the frames into one PNG (C.9); image
// tasks (num_frames 1) are PNGs either way.
inline bool driver_writes_video(int num_frames) { return num_frames > 16; }

}  // namespace mf::tasks
