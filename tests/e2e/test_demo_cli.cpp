// `manyfold make-demo-project` and `manyfold demo` as a newcomer runs them: the demo job runs headless on a copy
// of the project through the engine, writes the clip, the comparison image and the summary, lands a take in the
// copy and leaves the original project untouched. The model here is a tiny random-weight TEST FIXTURE (the
// output is noise); what is checked is the plumbing, the shapes and the messages, not the picture.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../common/cli_run.h"
#include "mf/media/reader.h"

namespace fs = std::filesystem;

namespace {

mf::test::CliResult run(const std::vector<std::string>& args) { return mf::test::run_cli(MF_MANYFOLD_BIN, args); }

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const fs::path& work() {
  static const fs::path d = [] {
    auto p = fs::temp_directory_path() / ("mf_demo_cli_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

}  // namespace

TEST(DemoCli, MakeDemoProjectThenRunTheDemoJob) {
  const fs::path project = work() / "demo";
  auto r = run({"make-demo-project", project.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_TRUE(fs::exists(project / "project.json"));
  ASSERT_TRUE(fs::exists(project / "demo.json"));
  // Writing over an existing project is refused.
  EXPECT_EQ(run({"make-demo-project", project.string()}).rc, 3);

  const fs::path model = work() / "tiny";
  ASSERT_EQ(run({"make-test-pipeline", model.string(), "--tokenizer",
                 std::string(MF_SOURCE_DIR) + "/tests/fixtures/text/spm_nfkc_unigram"}).rc, 0);
  const std::string before = slurp(project / "project.json");
  const fs::path out = work() / "out";
  r = run({"demo", "--project", project.string(), "--model", model.string(), "--out", out.string(), "--steps", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("TEST FIXTURE"), std::string::npos) << "a random-weight model must be called out";
  EXPECT_EQ(slurp(project / "project.json"), before) << "the demo must not modify the original project";
  EXPECT_FALSE(fs::exists(project / "jobs" / "inputs")) << "inputs go to the copy, not the original";

  const auto info = mf::media::probe(out / "inpainted.mp4");
  // make-demo-project's defaults: the toy model's training size, 17 frames of 96x64
  EXPECT_EQ(info.frame_count, 17);
  EXPECT_EQ(info.width, 96);
  EXPECT_EQ(info.height, 64);
  const auto cmp = mf::media::read_image(out / "comparison.png");
  EXPECT_EQ(cmp.width, 3 * 3 * 96 + 2 * 12);  // three panels enlarged 3x, 12 pixels apart
  EXPECT_EQ(cmp.height, 3 * 64);
  const auto summary = nlohmann::json::parse(slurp(out / "demo_summary.json"));
  EXPECT_EQ(summary.at("frames").get<int>(), 17);
  EXPECT_TRUE(summary.contains("psnr_regenerated_region_db"));
  // The take in the copied project.
  const auto doc = nlohmann::json::parse(slurp(out / "project" / "project.json"));
  EXPECT_NE(doc.dump().find("demo_inpainted.mp4"), std::string::npos);

  // Running it again keeps the previous copy (it may hold the user's edits).
  r = run({"demo", "--project", project.string(), "--model", model.string(), "--out", out.string(), "--steps", "1",
           "--quiet"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "project.1" / "project.json"));
  EXPECT_TRUE(fs::exists(out / "project" / "project.json"));
}

TEST(DemoCli, MissingModelSaysWhatToDo) {
  const fs::path project = work() / "demo2";
  ASSERT_EQ(run({"make-demo-project", project.string(), "--frames", "9"}).rc, 0);
  const auto r = run({"demo", "--project", project.string(), "--model", (work() / "nope").string(), "--out",
                      (work() / "out2").string()});
  EXPECT_EQ(r.rc, 5) << r.err;
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
}

TEST(DemoCli, NotADemoProject) {
  const auto r = run({"demo", "--project", work().string(), "--out", (work() / "out3").string()});
  EXPECT_EQ(r.rc, 3) << r.err;
  EXPECT_NE(r.err.find("make-demo-project"), std::string::npos) << r.err;
}
