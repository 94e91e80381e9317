// `manyfold make-test-pipeline` and `manyfold generate` as a user runs them (the built binary, MF_MANYFOLD_BIN):
// outputs and recipes, the test-fixture warning, batch input, and the documented exit codes for bad inputs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../common/cli_run.h"

namespace fs = std::filesystem;

namespace {

using mf::test::CliResult;

CliResult run(const std::vector<std::string>& args) { return mf::test::run_cli(MF_MANYFOLD_BIN, args); }

const fs::path& work() {
  static const fs::path d = [] {
    auto p = fs::temp_directory_path() / ("mf_gen_cli_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

const std::string& model_dir() {
  static const std::string m = [] {
    const auto d = work() / "tiny";
    const auto r = run({"make-test-pipeline", d.string(), "--config", "tiny", "--tokenizer",
                        std::string(MF_SHARED_DIR) + "/parity/pipeline/tokenizer"});
    EXPECT_EQ(r.rc, 0) << r.err;
    return d.string();
  }();
  return m;
}

std::vector<std::string> small(std::vector<std::string> a) {
  for (const char* s : {"--model", "", "--height", "32", "--width", "48", "--num-inference-steps", "1", "--seed", "5",
                        "--dtype", "fp32", "--quiet"})
    a.push_back(s);
  a[a.size() - 12] = model_dir();
  return a;
}

TEST(GenerateCli, MakeTestPipelineIsMarkedAsAFixture) {
  std::ifstream f(fs::path(model_dir()) / "model_index.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_TRUE(j.value("_manyfold_test_fixture", false));
  for (const char* sub : {"transformer", "vae", "text_encoder", "tokenizer", "scheduler", "depth"})
    EXPECT_TRUE(fs::is_directory(fs::path(model_dir()) / sub)) << sub;
  EXPECT_EQ(run({"make-test-pipeline", (work() / "x").string(), "--config", "huge"}).rc, 3);
}

TEST(GenerateCli, TextToVideoWritesVideoAndRecipe) {
  const auto out = work() / "t2v.mp4";
  const auto r = run(small({"generate", "--task", "t2v", "--prompt", "A boat on a lake", "--num-frames", "5",
                            "--out", out.string()}));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("TEST FIXTURE"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out));
  ASSERT_TRUE(fs::exists(work() / "t2v.json"));
  std::ifstream f(work() / "t2v.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["task"], "t2v");
  EXPECT_EQ(j["seed"], 5);
  EXPECT_EQ(j["output"]["frames"], 5);
  EXPECT_EQ(j["final_prompt"], "a boat on a lake #fps: 16. #task: text-to-video");
}

TEST(GenerateCli, PromptLinesBatch) {
  const auto txt = work() / "prompts.txt";
  std::ofstream(txt) << "first prompt\n\nsecond prompt\n";
  const auto dir = work() / "batch";
  const auto r = run(small({"generate", "--task", "t2i", "--input", txt.string(), "--out", dir.string()}));
  ASSERT_EQ(r.rc, 0) << r.err;
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(dir)) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 2);
}

TEST(GenerateCli, ExitCodesForBadInputs) {
  // Usage error: unknown flag.
  EXPECT_EQ(run({"generate", "--bogus", "1"}).rc, 2);
  // Missing mask for vinp: validation (bad input, 3), before the model is loaded.
  auto r = run(small({"generate", "--task", "vinp", "--input", (work() / "none.mp4").string()}));
  EXPECT_EQ(r.rc, 3) << r.err;
  EXPECT_NE(r.err.find("mask"), std::string::npos) << r.err;
  // A corrupt video: bad file (4).
  const auto bad = work() / "corrupt.mp4";
  std::ofstream(bad) << "definitely not a video";
  r = run(small({"generate", "--task", "vedit", "--input", bad.string(), "--num-frames", "5", "--out",
                 (work() / "never.mp4").string()}));
  EXPECT_EQ(r.rc, 4) << r.err;
  EXPECT_NE(r.err.find("corrupt.mp4"), std::string::npos) << r.err;
  // A missing model folder: missing model (5).
  r = run({"generate", "--task", "t2v", "--model", (work() / "nowhere").string(), "--prompt", "x"});
  EXPECT_EQ(r.rc, 5) << r.err;
}

}  // namespace
