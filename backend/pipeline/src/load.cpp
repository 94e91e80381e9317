// Pipeline::load: an official diffusers-layout MfM pipeline folder (or a test folder from make_test_pipeline) plus
// a Depth-Anything-V2 folder, into Components.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "mf/core/error.h"
#include "mf/io/pipeline_folder.h"
#include "mf/io/tensor_io.h"
#include "mf/pipeline/components.h"
#include "mf/pipeline/pipeline.h"
#include "mf/text/embedding_cache.h"

namespace fs = std::filesystem;

namespace mf::pipeline {
namespace detail {
void set_text_encoder_dir(Pipeline& p, const std::string& dir);
}

namespace {

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream f(path);
  check(static_cast<bool>(f), ErrorCode::MissingModel, "cannot open " + path.string());
  try {
    return nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    throw mf::Error(ErrorCode::BadFile, path.string() + " is not valid JSON: " + e.what());
  }
}

nlohmann::json fingerprints_of(const fs::path& dir) {
  nlohmann::json files = nlohmann::json::array();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension().string();
    if (ext == ".safetensors" || e.path().filename() == "spiece.model") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) files.push_back(file_fingerprint(p.string()));
  return files;
}

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::unique_ptr<Pipeline> Pipeline::load(const std::string& folder, const LoadOptions& options) {
  const fs::path root(folder);
  const std::string how =
      " Point --model at an MfM pipeline folder in the official diffusers layout (LetsThink/MfM-Pipieline-2B: "
      "model_index.json, transformer/, vae/, text_encoder/, tokenizer/, scheduler/), or write a test folder with "
      "`manyfold make-test-pipeline DIR --config tiny`.";
  check(fs::is_directory(root), ErrorCode::MissingModel, "model folder not found: " + folder + "." + how);
  check(fs::exists(root / "model_index.json"), ErrorCode::MissingModel,
        folder + " is not a pipeline folder: model_index.json is missing." + how);
  for (const char* sub : {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"}) {
    check(fs::is_directory(root / sub), ErrorCode::MissingModel,
          "the pipeline folder " + folder + " has no " + sub + "/ subfolder (incomplete download?)." + how);
  }
  const nlohmann::json index = read_json_file(root / "model_index.json");
  const io::PipelineFolder pf = io::read_pipeline_folder(folder);
  io::require_ok(pf);  // BadFile / Unsupported listing every problem, naming files and keys

  Components c;
  c.test_fixture = index.value("_manyfold_test_fixture", false);
  const mfm::ModelOptions mo{options.dtype == torch::kBFloat16 ? torch::kBFloat16 : torch::kFloat, options.device};

  // Transformer.
  const auto* tr = pf.component("transformer");
  const mfm::Config tcfg = mfm::Config::from_file((root / "transformer" / "config.json").string());
  const std::string tw = tr && !tr->weights.empty() ? tr->weights : (root / "transformer").string();
  c.transformer = mfm::load_transformer(io::WeightSource::open(tw), tcfg, mo);
  c.transformer->eval();

  // VAE (bf16 policy: the VAE is cast with the pipeline, A.7).
  c.vae = std::make_shared<vae::CogVideoXVae>(
      vae::CogVideoXVae::load((root / "vae").string(), options.device, mo.dtype));

  // Tokenizer and T5 (T5 in the pipeline dtype, `wo` included, A.7/H.27).
  c.tokenizer = std::make_shared<text::T5Tokenizer>(text::T5Tokenizer::load((root / "tokenizer").string()));
  c.text_encoder = text::load_t5_encoder((root / "text_encoder").string(), mo.dtype, options.device);
  c.text_model_id = text::t5_model_id(c.tokenizer->fingerprint(), (root / "text_encoder").string(), mo.dtype);

  // Scheduler (the shift comes only from scheduler_config.json, H.10).
  const fs::path sched = root / "scheduler" / "scheduler_config.json";
  check(fs::exists(sched), ErrorCode::MissingModel, "missing " + sched.string() + "." + how);
  c.scheduler = sampling::parse_scheduler_config(read_json_file(sched), sched.string());

  // Depth-Anything-V2 (fp32 always, A.7).
  const fs::path depth_dir = options.depth_model_dir.empty() ? root / "depth" : fs::path(options.depth_model_dir);
  if (options.load_depth && fs::exists(depth_dir / "config.json")) {
    c.depth = std::make_shared<depth::DepthEstimator>(depth::DepthEstimator::load(depth_dir.string(), options.device));
  } else if (!options.load_depth) {
    c.depth_missing_reason = "the depth model was not loaded (LoadOptions::load_depth is off)";
  } else {
    c.depth_missing_reason =
        "no depth model was found in " + depth_dir.string() +
        " (config.json missing). Tasks i2v, itrans, vexd and vtrans need Depth-Anything-V2-Small: download "
        "depth-anything/Depth-Anything-V2-Small-hf into " + (root / "depth").string() +
        ", or pass --depth-model DIR. The other tasks run without it.";
  }

  // Preview coefficients fitted for this VAE, if any.
  for (const fs::path& dir : {root / "preview", fs::path(MF_PIPELINE_RESOURCE_DIR) / "preview"}) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    auto pv = vae::find_preview(dir.string(), *c.vae);
    if (pv.channels() > 0) {
      c.preview = std::make_shared<vae::LatentPreview>(pv);
      break;
    }
  }

  // Identity and fingerprints for the recipe.
  nlohmann::json files;
  uint64_t h = 1469598103934665603ull;
  for (const char* sub : {"transformer", "vae", "text_encoder", "tokenizer"}) {
    files[sub] = fingerprints_of(root / sub);
    for (const auto& f : files[sub]) {
      for (char ch : f.value("fnv1a64_first_mib", std::string()) + std::to_string(f.value("size", 0ull))) {
        h ^= static_cast<uint8_t>(ch);
        h *= 1099511628211ull;
      }
    }
  }
  if (c.depth) files["depth"] = fingerprints_of(depth_dir);
  c.model_id = fs::absolute(root).lexically_normal().filename().string();
  if (c.model_id.empty()) c.model_id = fs::absolute(root).lexically_normal().parent_path().filename().string();
  c.model_id += "@" + hex64(h).substr(0, 12);
  c.info["folder"] = fs::absolute(root).lexically_normal().string();
  c.info["pipeline_class"] = pf.pipeline_class;
  c.info["files"] = files;
  c.info["scheduler"] = {{"shift", c.scheduler.shift}, {"num_train_timesteps", c.scheduler.num_train_timesteps}};
  c.info["depth_model"] = c.depth ? depth_dir.string() : std::string();

  auto p = make_pipeline(std::move(c), options);
  detail::set_text_encoder_dir(*p, (root / "text_encoder").string());
  return p;
}

}  // namespace mf::pipeline
