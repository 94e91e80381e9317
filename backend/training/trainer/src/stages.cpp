// make_stage: the stage a training config names.
#include "mf/core/error.h"
#include "mf/training/depth_stage.h"
#include "mf/training/mfm_stage.h"
#include "mf/training/vae_stage.h"

namespace mf::training {

std::unique_ptr<Stage> make_stage(const TrainConfig& cfg) {
  if (cfg.stage == "vae") return std::make_unique<VaeStage>(cfg);
  if (cfg.stage == "depth") {
    std::vector<std::string> problems;
    auto o = DepthStageOptions::from_json(cfg.depth.empty() ? nlohmann::json::object() : cfg.depth, problems);
    mf::check(problems.empty(), mf::ErrorCode::BadInput, problems.empty() ? "" : problems.front());
    return std::make_unique<DepthStage>(cfg, o);
  }
  if (cfg.stage == "mfm") {
    std::vector<std::string> problems;
    auto o = MfmStageOptions::from_json(cfg.mfm, cfg.frames, problems);
    mf::check(problems.empty(), mf::ErrorCode::BadInput, problems.empty() ? "" : problems.front());
    return std::make_unique<MfmStage>(cfg, o);
  }
  throw mf::Error(mf::ErrorCode::BadInput, "unknown training stage \"" + cfg.stage + "\" (known: vae, depth, mfm)");
}

}  // namespace mf::training
