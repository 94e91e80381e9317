// `manyfold train`: Manyfold's own trainer for the built-in toy model (backend/training/trainer). One stage per
// run (vae, depth or mfm), configured by a JSON file; checkpoints, exact resume, loss.csv and summary.json in --out.
#ifdef MF_TRAINING_AVAILABLE
#include <csignal>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "mf/core/error.h"
#include "mf/training/training.h"

namespace {

namespace fs = std::filesystem;

mf::training::Trainer* g_trainer = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_trainer) g_trainer->request_stop();  // an atomic store
  std::signal(SIGINT, SIG_DFL);              // a second Ctrl+C ends the process at once
  std::signal(SIGTERM, SIG_DFL);
}

int run_train(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"resume"});
  const auto unknown = args.unknown({"config", "out", "resume", "device"});
  if (!unknown.empty()) return mf::cli::usage_error("train", "unknown option " + unknown[0]);
  if (!args.positionals().empty())
    return mf::cli::usage_error("train", "unexpected argument '" + args.positionals()[0] + "'");
  const auto config_path = args.get("config");
  if (!config_path) return mf::cli::usage_error("train", "give the training config: --config FILE.json");

  auto cfg = mf::training::TrainConfig::from_file(*config_path);
  if (const auto device = args.get("device")) {
    auto j = cfg.to_json();
    j["device"] = *device;
    cfg = mf::training::TrainConfig::from_json(j, *config_path + " with --device " + *device);
  }
  cfg.torch_device();  // a CUDA device on a machine without one fails here, before any model is built
  if (cfg.threads > 0) torch::set_num_threads(cfg.threads);
  const std::string out = args.get_or("out", "train-" + cfg.stage);

  auto stage = mf::training::make_stage(cfg);
  mf::training::TrainerOptions opt;
  opt.out_dir = out;
  mf::training::Trainer trainer(*stage, cfg, opt);
  if (args.has("resume")) {
    if (!trainer.resume())
      std::cerr << "manyfold train: no checkpoint in " << out << "/checkpoints; starting at step 0\n";
  }
  std::cerr << "manyfold train: stage " << cfg.stage << ", " << cfg.steps << " steps of " << cfg.batch << " clips "
            << cfg.width << "x" << cfg.height << "x" << cfg.frames << " on " << cfg.device << ", "
            << torch::get_num_threads() << " threads, output " << out << "\n";

  g_trainer = &trainer;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  int64_t step = 0;
  try {
    step = trainer.run();
  } catch (...) {
    g_trainer = nullptr;
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    throw;
  }
  g_trainer = nullptr;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  const auto& s = trainer.summary();
  if (step < cfg.steps) {
    std::cerr << "manyfold train: stopped at step " << step << " of " << cfg.steps
              << "; continue with: manyfold train --config " << *config_path << " --out " << out << " --resume\n";
    return 130;
  }
  if (auto* vae = dynamic_cast<mf::training::VaeStage*>(stage.get())) {
    const int T = cfg.frames;
    const auto pngs = vae->write_reconstruction_pngs((fs::path(out) / "preview").string(), 0, {0, T / 2, T - 1});
    if (!pngs.empty()) std::cerr << "manyfold train: reconstructions (input | output) in " << out << "/preview\n";
  }
  std::cout << s.dump(2) << "\n";
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("train", "train a component of the built-in toy model on the toy world (stages vae, depth, mfm)",
               "manyfold train --config FILE.json [--out DIR] [--resume] [--device cpu|cuda|cuda:N]\n"
               "  Trains the stage the config names on procedural toy-world clips with AdamW: \"vae\" the CogVideoX-\n"
               "  architecture VAE, \"depth\" a small Depth-Anything-V2, \"mfm\" the MfM transformer with a small T5 on a\n"
               "  frozen VAE (multi-task, official condition construction). Writes to DIR (default train-<stage>):\n"
               "  train_config.json, checkpoints/ (atomic, every checkpoint_every steps, every checkpoint_minutes and\n"
               "  on Ctrl+C), loss.csv, summary.json and, at the end, the component in its official layout (vae/,\n"
               "  depth/, or a whole pipeline/ folder for mfm; vae adds reconstruction previews in preview/).\n"
               "  The recipe of the built-in model: resources/models/manyfold-toy/recipe (train_toy_model.sh).\n"
               "  --resume continues from the latest checkpoint exactly where the run stopped (same config required,\n"
               "  except steps and the checkpoint/log cadence). Config keys: see backend/training/trainer/include/\n"
               "  mf/training/config.h; e.g. {\"stage\": \"vae\", \"steps\": 400, \"batch\": 2, \"lr\": 5e-4, \"width\": 96,\n"
               "  \"height\": 64, \"frames\": 9, \"seed\": 0, \"checkpoint_every\": 100, \"checkpoint_minutes\": 10,\n"
               "  \"log_every\": 10, \"vae\": {\"kl_weight\": 1e-4}}. Every config problem is listed at once (exit 3).\n"
               "  --device overrides the config's \"device\" (default cpu; cuda needs a CUDA build of LibTorch and a GPU).\n"
               "  Stopped early: exit 130 after writing a checkpoint.",
               run_train);
#endif
