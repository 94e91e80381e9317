// `manyfold generate`: runs MfM jobs with flags mirroring the official infer_mfm_pipeline.py, a job JSON, or a
// batch file (prompt lines for t2v/t2i, .jsonl / .csv rows as the official *_inputs files).
// Jobs run through the engine (mf_engine), as in the studio.
#if defined(MF_PIPELINE_AVAILABLE) && defined(MF_ENGINE_AVAILABLE)

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "engine_run.h"
#include "mf/core/error.h"
#include "mf/engine/engine.h"
#include "mf/engine/pipeline_backend.h"
#include "mf/pipeline/pipeline.h"
#include "mf/tasks/batch.h"
#include "mf/tasks/prompt.h"

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kKnown = {
    "task",        "input",     "mask",       "prompt",  "negative-prompt", "num-inference-steps",
    "guidance-scale", "motion-score", "seed",  "height",  "width",           "num-frames",
    "crop-type",   "upscale",   "noise-aug-strength", "fps", "model",       "out",
    "job",         "dtype",     "depth-model", "drop3",  "use-t-schedule",  "quiet", "lora",
    "keep-known-pixels"};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw mf::Error(mf::ErrorCode::BadInput, "cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool folder_is_test_fixture(const std::string& model) {
  std::ifstream f(fs::path(model) / "model_index.json");
  if (!f) return false;
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_object() && j.value("_manyfold_test_fixture", false);
}

mf::tasks::TaskSpec spec_from_flags(const mf::cli::Args& a, mf::tasks::TaskId task) {
  mf::tasks::TaskSpec s = mf::tasks::official_defaults(task);
  if (a.has("prompt")) s.prompt = *a.get("prompt");
  if (a.has("negative-prompt")) s.negative_prompt = *a.get("negative-prompt");
  s.steps = a.get_int("num-inference-steps", s.steps);
  s.guidance_scale = a.get_double("guidance-scale", s.guidance_scale);
  s.motion_score = a.get_double("motion-score", s.motion_score);
  if (a.has("seed")) s.seed = static_cast<uint64_t>(std::stoull(*a.get("seed")));
  s.height = a.get_int("height", s.height);
  s.width = a.get_int("width", s.width);
  s.num_frames = a.get_int("num-frames", s.num_frames);
  if (a.has("crop-type")) {
    auto c = mf::tasks::parse_crop_mode(*a.get("crop-type"));
    if (!c) throw std::invalid_argument("--crop-type must be keep_res, keep_ratio or keep_ratio_h");
    s.crop = *c;
  }
  s.upscale = a.get_int("upscale", s.upscale);
  s.noise_aug_strength = a.get_double("noise-aug-strength", s.noise_aug_strength);
  if (a.has("fps")) {
    const std::string f = *a.get("fps");
    const auto slash = f.find('/');
    s.fps.num = std::stoll(f.substr(0, slash));
    s.fps.den = slash == std::string::npos ? 1 : std::stoll(f.substr(slash + 1));
  }
  if (a.has("use-t-schedule")) s.use_t_schedule = true;
  if (a.has("keep-known-pixels")) s.keep_known_pixels = true;
  if (a.has("mask")) s.mask = *a.get("mask");
  for (const auto& l : a.get_all("lora")) {
    // PATH or PATH:SCALE (the scale after the last ':' when it parses as a number).
    mf::tasks::LoraRef r{l, 1.0};
    const auto colon = l.rfind(':');
    if (colon != std::string::npos && colon + 1 < l.size()) {
      try {
        size_t used = 0;
        const double v = std::stod(l.substr(colon + 1), &used);
        if (used == l.size() - colon - 1) r = {l.substr(0, colon), v};
      } catch (const std::exception&) {
      }
    }
    s.loras.push_back(r);
  }
  return s;
}

int run_generate(const std::vector<std::string>& argv) {
  mf::cli::Args a(argv, {"use-t-schedule", "quiet", "keep-known-pixels"});
  const auto unknown = a.unknown(kKnown);
  if (!unknown.empty()) return mf::cli::usage_error("generate", "unknown option " + unknown[0]);
  mf::cli::Progress progress;
  progress.quiet = a.has("quiet");

  // ---- the jobs ----
  std::vector<mf::tasks::TaskSpec> specs;
  bool batch = false;
  if (a.has("job")) {
    const std::string path = *a.get("job");
    specs.push_back(mf::tasks::task_spec_from_json_string(read_file(path), path));
  } else {
    if (!a.has("task")) return mf::cli::usage_error("generate", "--task is required (" + mf::tasks::task_key_list() + ")");
    const auto task = mf::tasks::parse_task_id(*a.get("task"));
    if (!task) return mf::cli::usage_error("generate", "unknown task '" + *a.get("task") + "' (" +
                                                           mf::tasks::task_key_list() + ")");
    const auto base = spec_from_flags(a, *task);
    std::vector<std::string> inputs = a.get_all("input");
    const std::string first = inputs.empty() ? "" : inputs[0];
    const std::string ext = fs::path(first).extension().string();
    if (inputs.size() == 1 && ext == ".jsonl") {
      specs = mf::tasks::specs_from_jsonl(read_file(first), base, first);
      batch = true;
    } else if (inputs.size() == 1 && ext == ".csv") {
      specs = mf::tasks::specs_from_csv(read_file(first), base, first);
      batch = true;
    } else if (inputs.size() == 1 && ext == ".txt" && mf::tasks::task_facts(*task).input == mf::tasks::InputKind::None) {
      specs = mf::tasks::specs_from_prompt_lines(read_file(first), base);
      batch = true;
    } else {
      mf::tasks::TaskSpec s = base;
      std::string joined;
      for (size_t i = 0; i < inputs.size(); ++i) joined += (i ? ";" : "") + inputs[i];
      if (!joined.empty()) mf::tasks::set_inputs_from_official_path(s, joined);
      specs.push_back(s);
    }
  }
  if (specs.empty()) throw mf::Error(mf::ErrorCode::BadInput, "the batch file has no jobs");
  // Validate every job before loading the model (every error at once).
  std::string problems;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto issues = mf::tasks::validate(specs[i]);
    if (mf::tasks::has_errors(issues))
      problems += (specs.size() > 1 ? "job " + std::to_string(i + 1) + ":\n" : "") +
                  mf::tasks::format_issues(issues) + "\n";
  }
  if (!problems.empty()) throw mf::Error(mf::ErrorCode::BadInput, "invalid job:\n" + problems);

  // ---- the model ----
  mf::pipeline::LoadOptions lo;
  const std::string dtype = a.get_or("dtype", "bf16");
  if (dtype == "bf16" || dtype == "bfloat16") lo.dtype = torch::kBFloat16;
  else if (dtype == "fp32" || dtype == "float32") lo.dtype = torch::kFloat32;
  else return mf::cli::usage_error("generate", "--dtype must be bf16 or fp32");
  lo.depth_model_dir = a.get_or("depth-model", "");
  mf::tasks::Drop3Policy drop3 = mf::tasks::Drop3Policy::EvenLatentOnly;
  const std::string d3 = a.get_or("drop3", "even-latent");
  if (d3 == "driver") drop3 = mf::tasks::Drop3Policy::Driver;
  else if (d3 == "never") drop3 = mf::tasks::Drop3Policy::Never;
  else if (d3 != "even-latent") return mf::cli::usage_error("generate", "--drop3 must be even-latent, driver or never");
  std::string model = a.get_or("model", specs[0].model);
  if (model.empty())
    throw mf::Error(mf::ErrorCode::MissingModel,
                    "no model given: pass --model DIR with an MfM pipeline folder (official diffusers layout), or "
                    "write a test folder with `manyfold make-test-pipeline DIR --config tiny`");
  progress.line("model " + model + " (" + dtype + ")");
  if (folder_is_test_fixture(model))
    std::cerr << "warning: " << model
              << " is a TEST FIXTURE with random weights (make-test-pipeline): outputs are noise, not generations\n";

  // ---- run ----
  const std::string out = a.get_or("out", "");
  std::vector<std::string> paths;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string stem =
        mf::tasks::official_output_stem(specs[i].task, static_cast<int>(i), specs[i].prompt);
    if (batch || specs.size() > 1) {
      const fs::path dir = out.empty() ? fs::path(".") : fs::path(out);
      paths.push_back((dir / stem).string());
    } else if (!out.empty()) {
      paths.push_back(out);
    } else if (!specs[i].output.empty()) {
      paths.push_back(specs[i].output);
    } else {
      paths.push_back(stem);
    }
  }
  for (const auto& f : mf::cli::run_jobs_on_engine(model, dtype == "fp32" || dtype == "float32" ? "fp32" : "bf16",
                                                  lo, drop3, specs, paths, progress))
    std::cout << f << "\n";
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND(
    "generate", "run an MfM task (t2v, i2v, vinp, ...) and write the video/PNG with its recipe",
    "manyfold generate --model DIR --task TASK [--input PATH]... [--mask PATH] [--prompt TEXT] [--out PATH]\n"
    "                  [--negative-prompt TEXT] [--num-inference-steps N] [--guidance-scale G]\n"
    "                  [--motion-score M] [--seed S] [--height H] [--width W] [--num-frames N]\n"
    "                  [--crop-type keep_res|keep_ratio|keep_ratio_h] [--upscale K] [--noise-aug-strength A]\n"
    "                  [--fps R] [--dtype bf16|fp32] [--depth-model DIR] [--drop3 even-latent|driver|never]\n"
    "                  [--use-t-schedule] [--lora FILE[:SCALE]]... [--keep-known-pixels] [--quiet]\n"
    "manyfold generate --model DIR --job JOB.json [--out PATH]\n"
    "  Flags mirror the official infer_mfm_pipeline.py; defaults are its per-task defaults.\n"
    "  --input takes the image/video (twice, or 'a;b', for itrans/vtrans), or a batch file: prompt lines (.txt,\n"
    "  t2v/t2i), .jsonl rows {\"prompt\", \"image\"|\"video\", \"mask\"} or .csv rows prompt,path,mask_path; a batch\n"
    "  writes <task>_<index>_<prompt> files into --out (a folder).\n"
    "  --keep-known-pixels (vinp, iinp, voutp, ioutp): the output keeps the input outside the mask and the\n"
    "  model's pixels inside it, blended over a few pixels (not part of the official pipeline).\n"
    "  --lora applies a LoRA (.safetensors, peft or kohya keys) to the transformer for this job (repeatable).\n"
    "  Output: video tasks an H.264 .mp4, image tasks a .png, plus <name>.json with the recipe (also embedded).\n"
    "  --drop3: even-latent (default) drops the first 3 frames only after an even latent count; driver does\n"
    "  exactly what the official script does; never keeps every frame.\n"
    "  Exit codes: 0 ok, 2 usage, 3 bad input (validation, missing/corrupt input files, mask size), 4 bad file,\n"
    "  5 missing model, 6 unsupported, 7 out of memory, 8 cancelled, 9 I/O error, 10 internal error.",
    run_generate);

#endif  // MF_PIPELINE_AVAILABLE && MF_ENGINE_AVAILABLE
