// Test pipeline folders: the official diffusers layout (model_index.json, transformer/, vae/, text_encoder/,
// tokenizer/, scheduler/) plus a depth/ folder (Depth-Anything layout), filled with small random weights, so tests
// and the command line can run every task end to end in seconds. A TEST FIXTURE, never a product model:
// model_index.json carries "_manyfold_test_fixture": true and `generate` warns when it runs on one.
//
// Thread-safety: plain function; writes only under `dir`.
#pragma once

#include <string>

namespace mf::pipeline {

struct TestPipelineOptions {
  std::string config = "tiny";   // only "tiny" exists: 2 blocks of width 128, a 4-level VAE of width 32/64
  std::string tokenizer_dir;     // a folder with spiece.model (+ tokenizer_config.json), copied into tokenizer/
  uint64_t seed = 1234;          // weights are reproducible
  bool with_depth = true;        // write depth/ (a tiny Depth-Anything-V2)
  int vae_sample_height = 480;   // vae/config.json sample size (tiles are half of it)
  int vae_sample_width = 720;
};

// Writes the folder (created if needed; existing files are replaced). Throws mf::Error(BadInput) for an unknown
// config, MissingModel when tokenizer_dir has no spiece.model, Io when writing fails.
void make_test_pipeline(const std::string& dir, const TestPipelineOptions& options = {});

}  // namespace mf::pipeline
