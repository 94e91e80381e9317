// Runs the built `manyfold inspect` (path given as MF_MANYFOLD_BIN) on every file under ../shared/parity,
// on every broken fixture and on a self-written pipeline folder: correct kinds and exit codes, clear
// errors, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "mf/io/safetensors.h"
#include "pipeline_fixture.h"

#include "../../common/cli_run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using mf::test::CliResult;

CliResult run(const std::vector<std::string>& args) { return mf::test::run_cli(MF_MANYFOLD_BIN, args); }

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

}  // namespace

TEST(InspectCli, EverySharedParityFile) {
  const fs::path root = MF_SHARED_DIR "/parity";
  if (!fs::exists(root)) GTEST_SKIP() << "no ../shared/parity";
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 23u);
  std::vector<std::string> args = {"inspect", "--json"};
  args.insert(args.end(), files.begin(), files.end());
  CliResult r = run(args);
  ASSERT_EQ(r.rc, 0) << r.err << r.out.substr(0, 2000);
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    const json& j = lines[i];
    EXPECT_EQ(j["path"], files[i]);
    EXPECT_TRUE(j["ok"].get<bool>()) << j["problems"].dump();
    EXPECT_NE(j["kind"], "unknown");
    auto f = mf::io::SafetensorsFile::open(files[i]);
    EXPECT_EQ(j["num_tensors"].get<size_t>(), f->tensors().size());
    EXPECT_EQ(j["tensors"].size(), f->tensors().size());
    EXPECT_EQ(j["metadata"].size(), f->metadata().size());
  }
  // Text mode: tensors, metadata and the detected kind with its config.
  CliResult t = run({"inspect", (root / "mfm_dit_tiny_fp32.safetensors").string()});
  ASSERT_EQ(t.rc, 0) << t.err;
  for (const char* want : {"parity file of the MfM transformer", "metadata:", "source = official MfM",
                           "config of the transformer (metadata 'config')", "cross-check: ok",
                           "weights.pos_embed.proj.weight", "F32", "[128, 16, 2, 2]", "out.sample"})
    EXPECT_NE(t.out.find(want), std::string::npos) << want << "\n" << t.out.substr(0, 3000);
}

TEST(InspectCli, BrokenFilesGiveClearErrorsAndNoCrash) {
  const fs::path broken = fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "safetensors" / "broken";
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(broken)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 20u);
  std::vector<std::string> args = {"inspect", "--json"};
  args.insert(args.end(), files.begin(), files.end());
  CliResult r = run(args);
  EXPECT_EQ(r.rc, 4) << r.err;  // BadFile
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(lines[i]["code"], "BadFile") << files[i];
    EXPECT_NE(lines[i]["error"].get<std::string>().find(files[i]), std::string::npos) << lines[i].dump();
  }
  // One at a time in text mode: the exit code and the message on stderr.
  CliResult one = run({"inspect", (broken / "overlapping_offsets.safetensors").string()});
  EXPECT_EQ(one.rc, 4);
  EXPECT_NE(one.err.find("overlaps"), std::string::npos) << one.err;
  CliResult missing = run({"inspect", "/nonexistent/x.safetensors"});
  EXPECT_EQ(missing.rc, 5) << missing.err;
  EXPECT_NE(missing.err.find("/nonexistent/x.safetensors"), std::string::npos);
  EXPECT_EQ(run({"inspect"}).rc, 2);
  EXPECT_EQ(run({"inspect", "--bogus", "x"}).rc, 2);
}

TEST(InspectCli, PipelineFolder) {
  fs::path root = fs::temp_directory_path() / ("mf_inspect_pipe_" + std::to_string(::getpid()));
  fs::remove_all(root);
  mf::io::testing::write_pipeline(root);
  CliResult r = run({"inspect", root.string()});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  for (const char* want : {"MfM pipeline folder (MfMPipeline, diffusers 0.33.1)", "transformer: Transformer3DModel",
                           "vae: AutoencoderKLCogVideoX", "text_encoder: T5EncoderModel", "tokenizer: T5Tokenizer",
                           "scheduler: FlowMatchEulerDiscreteScheduler", "cross-check: ok"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  CliResult j = run({"inspect", "--json", root.string()});
  ASSERT_EQ(j.rc, 0);
  auto lines = json_lines(j.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["kind"], "pipeline_folder");
  EXPECT_EQ(lines[0]["components"].size(), 5u);
  // A component folder alone: its config.json is cross-checked against its weights.
  CliResult c = run({"inspect", "--max-tensors", "0", (root / "text_encoder").string()});
  EXPECT_EQ(c.rc, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("T5 text encoder checkpoint"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("tensors:\n"), std::string::npos);

  // A config that contradicts the weights: exit 1 and the problem named with file and key.
  auto cfg = mf::io::testing::transformer_json();
  cfg["num_layers"] = 5;
  mf::io::testing::write_json(root / "transformer" / "config.json", cfg);
  CliResult bad = run({"inspect", root.string()});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.out.find("diffusion_pytorch_model.safetensors: 'num_layers': the weights hold 2 blocks"),
            std::string::npos)
      << bad.out;
  fs::remove_all(root);
}
