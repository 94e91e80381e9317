// `manyfold eval-toy`: the built-in model's quality on held-out toy-world clips, per task, against simple
// baselines (mf::training::evaluate_toy_model); writes the report as JSON and a Markdown table.
#ifdef MF_TRAINING_AVAILABLE
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "mf/core/error.h"
#include "mf/io/runtime.h"
#include "mf/pipeline/pipeline.h"
#include "mf/training/training.h"

namespace {

namespace fs = std::filesystem;

int run_eval_toy(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {});
  const auto unknown = args.unknown({"model", "clips", "steps", "guidance", "out", "markdown", "tasks", "width",
                                     "height", "frames", "dataset-seed", "threads", "render", "device"});
  if (!unknown.empty()) return mf::cli::usage_error("eval-toy", "unknown option " + unknown[0]);
  const auto model = args.get("model");
  if (!model) return mf::cli::usage_error("eval-toy", "give the model folder: --model DIR");
  if (args.has("threads")) torch::set_num_threads(args.get_int("threads", 1));
  mf::training::ToyEvalOptions o;
  o.clips = args.get_int("clips", o.clips);
  o.steps = args.get_int("steps", o.steps);
  o.width = args.get_int("width", o.width);
  o.height = args.get_int("height", o.height);
  o.frames = args.get_int("frames", o.frames);
  o.dataset_seed = static_cast<uint64_t>(args.get_int("dataset-seed", static_cast<int>(o.dataset_seed)));
  if (args.has("guidance")) o.guidance = args.get_double("guidance", 6.0);
  if (auto r = args.get("render")) o.render_dir = *r;
  if (auto t = args.get("tasks")) {
    o.tasks.clear();
    std::stringstream ss(*t);
    std::string k;
    while (std::getline(ss, k, ',')) {
      const auto id = mf::tasks::parse_task_id(k);
      if (!id) return mf::cli::usage_error("eval-toy", "unknown task '" + k + "' (known: " + mf::tasks::task_key_list() + ")");
      o.tasks.push_back(*id);
    }
  }
  mf::pipeline::LoadOptions lo;
  lo.load_depth = o.needs_depth();  // itrans and vexd put the model's depth on their known frames
  if (const auto device = args.get("device")) lo.device = mf::io::resolve_device(*device);
  auto pipe = mf::pipeline::Pipeline::load(*model, lo);
  std::string last;
  const auto report = mf::training::evaluate_toy_model(*pipe, o, [&](const std::string& task, int i, int n) {
    if (task != last) std::cerr << (last.empty() ? "" : "\n") << "eval " << task << " ";
    last = task;
    std::cerr << (i + 1) << "/" << n << " " << std::flush;
  });
  std::cerr << "\n";
  const std::string json_text = mf::eval::report_to_json_string(report);
  const std::string md = mf::training::report_markdown(report);
  if (auto out = args.get("out")) {
    std::ofstream f(*out);
    f << json_text << "\n";
    if (!f) throw mf::Error(mf::ErrorCode::Io, "cannot write " + *out);
  }
  if (auto out = args.get("markdown")) {
    std::ofstream f(*out);
    f << md;
    if (!f) throw mf::Error(mf::ErrorCode::Io, "cannot write " + *out);
  }
  std::cout << md;
  const auto fails = report.failures();
  std::cout << (fails.empty() ? "the model beats every baseline\n"
                              : "the model does NOT beat " + std::to_string(fails.size()) + " baseline row(s)\n");
  return fails.empty() ? mf::cli::kExitOk : 1;
}

}  // namespace

MF_CLI_COMMAND("eval-toy", "measure a model on held-out toy-world clips against simple per-task baselines",
               "manyfold eval-toy --model DIR [--clips 8] [--steps 20] [--guidance G] [--tasks vinp,t2v,...]\n"
               "                  [--width 96 --height 64 --frames 17] [--dataset-seed 1] [--out report.json]\n"
               "                  [--markdown table.md] [--render DIR] [--threads N] [--device cpu|cuda|cuda:N]\n"
               "  --render DIR writes DIR/<task>.png for each task's first clip: input | model | ground truth rows,\n"
               "  first / middle / last frames.\n"
               "  Runs each task (default vinp iinp voutp ioutp vcolor icolor vsr isr itrans vexd t2v) through the\n"
               "  pipeline on held-out clips (the validation split of the toy dataset of --dataset-seed, which\n"
               "  training never sees) and compares PSNR/SSIM in the regenerated region with OpenCV Telea\n"
               "  inpainting, edge replication, grey + mean chroma, nearest/bicubic upscaling, a linear blend of\n"
               "  the first and last frame (itrans), the last known frame repeated (vexd; both at --frames, with the\n"
               "  model folder's depth/), and t2v caption following (colour and\n"
               "  direction of the main shape) with the same captions checked on other scenes' clips. Prints a\n"
               "  Markdown table; exit 1 when the model loses to any baseline.",
               run_eval_toy);
#endif
