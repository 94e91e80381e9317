// `manyfold plan`: the engine's memory plan for an MfM model at a given size, computed from configs (no weights).
#include <filesystem>
#include <iostream>

#include "command.h"
#include "mf/core/error.h"

#ifdef MF_ENGINE_AVAILABLE
#include "mf/engine/memory_plan.h"

namespace fs = std::filesystem;

namespace {

int run_plan(const std::vector<std::string>& argv) {
  const std::vector<std::string> known{"config", "frames", "height", "width", "dtype", "budget-gb", "host-gb",
                                       "no-cfg", "math-attention", "cpu", "json"};
  mf::cli::Args args(argv, {"no-cfg", "math-attention", "cpu", "json"});
  auto unknown = args.unknown(known);
  if (!unknown.empty()) return mf::cli::usage_error("plan", "unknown option " + unknown[0]);
  const std::string config = args.get_or("config", "2b");
  mf::mfm::Config dit;
  mf::vae::VaeConfig vae;
  mf::text::T5Config t5 = mf::text::T5Config::xl();
  std::string label;
  if (config == "2b" || config == "2B") {
    dit = mf::mfm::Config::mfm_2b();
    label = "MfM-2B";
  } else if (config == "8b" || config == "8B") {
    dit = mf::mfm::Config::mfm_8b();
    label = "MfM-8B";
  } else if (fs::is_directory(config)) {
    dit = mf::mfm::Config::from_file((fs::path(config) / "transformer" / "config.json").string());
    vae = mf::vae::VaeConfig::from_folder((fs::path(config) / "vae").string());
    t5 = mf::text::T5Config::from_file((fs::path(config) / "text_encoder" / "config.json").string());
    label = config;
  } else {
    return mf::cli::usage_error("plan", "--config must be 2b, 8b or an MfM pipeline folder (got '" + config + "')");
  }
  const std::string dtype = args.get_or("dtype", "bf16");
  if (dtype != "bf16" && dtype != "fp32") return mf::cli::usage_error("plan", "--dtype must be bf16 or fp32");
  mf::engine::PlanRequest rq;
  const bool big = label == "MfM-8B";
  rq.num_frames = args.get_int("frames", 97);
  rq.height = args.get_int("height", big ? 720 : 352);
  rq.width = args.get_int("width", big ? 1280 : 640);
  rq.batch = args.has("no-cfg") ? 1 : 2;
  rq.dtype_bytes = dtype == "bf16" ? 2 : 4;
  rq.efficient_attention = !args.has("math-attention");
  rq.device_is_host = args.has("cpu");
  rq.device_budget_bytes = static_cast<int64_t>(args.get_double("budget-gb", 24.0) * double(int64_t(1) << 30));
  rq.host_budget_bytes = static_cast<int64_t>(args.get_double("host-gb", 64.0) * double(int64_t(1) << 30));
  auto plan = mf::engine::plan_memory(label, dit, vae, t5, rq);
  if (args.has("json")) {
    std::cout << plan.to_json().dump(2) << "\n";
  } else {
    std::cout << plan.to_text();
    if (!args.has("budget-gb")) std::cout << "  (device budget is the default 24 GiB; pass --budget-gb N)\n";
  }
  return plan.fits ? mf::cli::kExitOk : mf::exit_code_for(mf::ErrorCode::OutOfMemory);
}

}  // namespace

MF_CLI_COMMAND("plan", "memory plan of an MfM job (weights, activations, residency) from configs",
               "manyfold plan [--config 2b|8b|PIPELINE_DIR] [--frames 97] [--height H] [--width W] [--dtype bf16|fp32]\n"
               "              [--budget-gb 24] [--host-gb 64] [--no-cfg] [--math-attention] [--cpu] [--json]\n"
               "  Estimates peak device and host memory of a job from the model configs and the job's shapes (no\n"
               "  weights are read): parameters and weight bytes per component, DiT activations at the token count\n"
               "  (attention included), T5, VAE decode with and without tiling; then picks the first residency that\n"
               "  fits the budget (all resident; T5 released; + VAE tiling; + DiT blocks streamed from host memory).\n"
               "  Defaults: 2b at 97x352x640, 8b at 97x720x1280, bf16, CFG (batch 2), memory-efficient attention.\n"
               "  Exit 0 when it fits, the OutOfMemory exit code when no residency fits.",
               run_plan);
#endif  // MF_ENGINE_AVAILABLE
