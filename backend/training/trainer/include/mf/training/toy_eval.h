// Quality of a model on held-out toy-world clips, per task, against the simple baselines of mf_eval (issue #10's
// metrics table): the model runs through the real pipeline (Pipeline::prepare/denoise/decode_video with the
// decoded inputs handed over in PrepareOverrides, so no file round trip), inputs made by make_task_inputs exactly
// as in training but from clips the trainer never sees (the validation split: another scene-seed range).
//
//   task            region measured            metrics        baselines
//   vinp / iinp     the hole                   PSNR, SSIM     OpenCV Telea inpainting
//   voutp / ioutp   the border                 PSNR, SSIM     edge replication
//   vcolor / icolor the whole frame            PSNR, SSIM     grey + mean training chroma
//   vsr / isr       the whole frame            PSNR, SSIM     nearest and bicubic upscaling of the input
//   itrans          the frames between the     PSNR, SSIM     linear blend of the first and last frame
//                   first and the last
//   vexd            the frames after the 8     PSNR, SSIM     the last known frame, repeated
//                   known ones
//   t2v             caption following          accuracy       the same captions checked on other scenes' clips
//                   (colour + direction of the main shape, mf::eval::check_caption)
//
// itrans and vexd run at the clip length (`frames`, 17), not the official 97 (a Manyfold option; see
// tasks::plan_frames), with the model folder's depth model on their known frames, as in the product.
//
// Model outputs are turned into 8-bit frames the way the pipeline writes videos (clamp, x/2 + 0.5, round).
//
// Threading: runs on the calling thread; the pipeline is used by it alone.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mf/eval/report.h"
#include "mf/pipeline/pipeline.h"
#include "mf/tasks/task_id.h"

namespace mf::training {

struct ToyEvalOptions {
  std::vector<tasks::TaskId> tasks = default_tasks();
  int clips = 8;               // held-out clips per task
  int steps = 20;              // sampling steps
  std::optional<double> guidance;  // default: the task's official guidance
  int width = 96, height = 64, frames = 17;
  uint64_t dataset_seed = 1;   // the training run's seed: its validation split is the held-out set
  int max_shapes = 2;
  int sr_factor = 4;
  int chroma_clips = 16;       // training clips for the mean-chroma baseline
  uint64_t seed = 1;           // sampling seeds (seed + clip index)
  // When set: for the first clip of each task, <render_dir>/<task>.png, rows input | model | ground truth (t2v:
  // model | ground truth) and columns the first, middle and last frames (images: one column).
  std::string render_dir;

  // vinp iinp voutp ioutp vcolor icolor vsr isr itrans vexd t2v
  static std::vector<tasks::TaskId> default_tasks();
  // Whether any of `tasks` conditions on depth (the pipeline then needs the model folder's depth/).
  bool needs_depth() const;
};

// Progress: (task, clip, clips).
using ToyEvalProgress = std::function<void(const std::string& task, int clip, int clips)>;

// Throws mf::Error from the pipeline (e.g. a model without a text encoder) or BadInput for sizes the toy world
// or a task cannot make.
mf::eval::EvalReport evaluate_toy_model(mf::pipeline::Pipeline& pipeline, const ToyEvalOptions& options,
                                        const ToyEvalProgress& progress = nullptr);

// The report as a Markdown table (task | metric | model | baseline | baseline value | beats).
std::string report_markdown(const mf::eval::EvalReport& report);

}  // namespace mf::training
