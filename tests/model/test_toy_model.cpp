// Regression test of the built-in model: runs the evaluation the model card reports (the settings stored in
// resources/models/manyfold-toy/eval_reference.json: clips, steps, size, guidance) and fails when
//  - a task/metric/baseline row the reference model beats is no longer beaten, or
//  - the model's value falls more than the tolerance below the reference (0.5 dB PSNR, 0.02 SSIM, 0.15
//    caption accuracy).
// Rows the reference model already loses are printed, not failed: the model card lists them as not beaten.
// Also: every stage config of the recipe that trained it (recipe/*.json, the stages train_toy_model.sh runs) is a
// valid training config, so the recipe cannot drift from the trainer unnoticed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "mf/eval/report.h"
#include "mf/pipeline/pipeline.h"
#include "mf/tasks/task_id.h"
#include "mf/training/config.h"
#include "mf/training/mfm_stage.h"
#include "mf/training/toy_eval.h"

namespace fs = std::filesystem;

TEST(ToyModel, StaysAtLeastAsGoodAsItsModelCard) {
  const fs::path model = fs::path(MF_SOURCE_DIR) / "resources" / "models" / "manyfold-toy";
  ASSERT_TRUE(fs::exists(model / "model_index.json")) << "the built-in model is missing from " << model;
  std::ifstream in(model / "eval_reference.json");
  ASSERT_TRUE(in) << "missing " << (model / "eval_reference.json");
  const auto ref_json = nlohmann::json::parse(in);
  const auto reference = mf::eval::report_from_json(ref_json);
  const auto& info = ref_json.at("info");

  mf::training::ToyEvalOptions o;
  o.clips = info.at("clips_per_task").get<int>();
  o.steps = info.at("steps").get<int>();
  o.width = info.at("size").at("width").get<int>();
  o.height = info.at("size").at("height").get<int>();
  o.frames = info.at("size").at("frames").get<int>();
  o.dataset_seed = info.at("dataset_seed").get<uint64_t>();
  if (info.contains("guidance") && info.at("guidance").is_number()) o.guidance = info.at("guidance").get<double>();
  o.tasks.clear();
  for (const auto& [task, _] : info.at("tasks").items()) o.tasks.push_back(*mf::tasks::parse_task_id(task));
  mf::pipeline::LoadOptions lo;
  lo.load_depth = o.needs_depth();  // itrans and vexd use the model's depth/
  auto pipe = mf::pipeline::Pipeline::load(model.string(), lo);
  const auto now = mf::training::evaluate_toy_model(*pipe, o);

  auto tolerance = [](const std::string& metric) {
    return metric == "psnr_db" ? 0.5 : metric == "ssim" || metric == "ssim_rgb" ? 0.02 : 0.15;
  };
  for (const auto& r : reference.rows) {
    const mf::eval::ReportRow* cur = nullptr;
    for (const auto& c : now.rows)
      if (c.task == r.task && c.metric == r.metric && c.baseline == r.baseline) cur = &c;
    ASSERT_NE(cur, nullptr) << r.task << " " << r.metric << " " << r.baseline << " is no longer measured";
    const std::string what = r.task + " " + r.metric + " vs " + r.baseline;
    std::cout << what << ": model " << cur->model_value << " (reference " << r.model_value << "), baseline "
              << cur->baseline_value << (r.model_beats_baseline ? "" : "  [not beaten by the reference model]")
              << "\n";
    if (r.model_beats_baseline) EXPECT_TRUE(cur->model_beats_baseline) << what << ": the model no longer beats it";
    EXPECT_GE(cur->model_value, r.model_value - tolerance(r.metric)) << what << ": worse than the model card";
  }
}

TEST(ToyModel, EveryRecipeStageConfigIsValid) {
  const fs::path model = fs::path(MF_SOURCE_DIR) / "resources" / "models" / "manyfold-toy";
  const fs::path recipe = model / "recipe";
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string script = read(recipe / "train_toy_model.sh");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("all_stages=\"([a-z0-9 ]+)\""))) << "no all_stages= line";
  std::stringstream stages(m[1].str());
  std::string stage;
  int checked = 0;
  while (stages >> stage) {
    const fs::path file = recipe / (stage + ".json");
    ASSERT_TRUE(fs::exists(file)) << "train_toy_model.sh runs stage " << stage << " but " << file << " is missing";
    // The script's substitutions, with the installed model standing in for the earlier stages' outputs (a VAE
    // stage reads the folder it starts from: a pipeline's vae/, or the vae/ of an earlier decoder stage).
    std::string text = read(file);
    text = std::regex_replace(text, std::regex("@OUT@/[a-z0-9]+/pipeline/vae|@OUT@/[a-z0-9]+/vae"),
                              (model / "vae").string());
    text = std::regex_replace(text, std::regex("@OUT@/[a-z0-9]+/pipeline"), model.string());
    text = std::regex_replace(text, std::regex("@REPO@"), std::string(MF_SOURCE_DIR));
    text = std::regex_replace(text, std::regex("@OUT@"), "/nonexistent-out");
    mf::training::TrainConfig cfg;
    ASSERT_NO_THROW(cfg = mf::training::TrainConfig::from_json_text(text, file.string())) << file;
    if (cfg.stage == "mfm") {
      std::vector<std::string> problems;
      mf::training::MfmStageOptions::from_json(cfg.mfm, cfg.frames, problems);
      EXPECT_TRUE(problems.empty()) << file << ": " << (problems.empty() ? "" : problems.front());
    }
    ++checked;
  }
  EXPECT_GE(checked, 2);
}
