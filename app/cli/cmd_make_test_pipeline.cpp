// `manyfold make-test-pipeline DIR --config tiny`: writes a pipeline folder with small random weights (a TEST
// FIXTURE for tests and demos of the command line; never a product model).
#ifdef MF_PIPELINE_AVAILABLE

#include <filesystem>
#include <iostream>

#include "command.h"
#include "mf/pipeline/test_pipeline.h"

namespace fs = std::filesystem;

namespace {

int run_make_test_pipeline(const std::vector<std::string>& argv) {
  mf::cli::Args a(argv, {"no-depth"});
  const auto unknown = a.unknown({"config", "tokenizer", "seed", "no-depth"});
  if (!unknown.empty()) return mf::cli::usage_error("make-test-pipeline", "unknown option " + unknown[0]);
  if (a.positionals().size() != 1) return mf::cli::usage_error("make-test-pipeline", "expected one folder: DIR");
  mf::pipeline::TestPipelineOptions o;
  o.config = a.get_or("config", "tiny");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 1234));
  o.with_depth = !a.has("no-depth");
  o.tokenizer_dir = a.get_or("tokenizer", "");
  if (o.tokenizer_dir.empty()) {
    // The sentencepiece model of the parity goldens, else the project's test fixture.
    const fs::path shared = fs::path(MF_SOURCE_DIR) / ".." / "shared" / "parity" / "pipeline" / "tokenizer";
    const fs::path fixture = fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "text" / "spm_nfkc_unigram";
    o.tokenizer_dir = fs::exists(shared / "spiece.model") ? shared.string() : fixture.string();
  }
  mf::pipeline::make_test_pipeline(a.positionals()[0], o);
  std::cout << a.positionals()[0] << "\n";
  std::cerr << "wrote a TEST FIXTURE pipeline (random weights, config " << o.config << ") to " << a.positionals()[0]
            << "\n";
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("make-test-pipeline", "write a tiny random-weight pipeline folder (test fixture)",
               "manyfold make-test-pipeline DIR [--config tiny] [--tokenizer DIR] [--seed N] [--no-depth]\n"
               "  Writes model_index.json, transformer/, vae/, text_encoder/, tokenizer/, scheduler/ and depth/ in\n"
               "  the official layout with small random weights, marked \"_manyfold_test_fixture\": true.\n"
               "  For tests only: its outputs are noise. --tokenizer gives the folder whose spiece.model is copied.",
               run_make_test_pipeline);

#endif  // MF_PIPELINE_AVAILABLE
