// T5 encoder: parity with tests/fixtures/text/t5_tiny_*.safetensors (made by tests/tools/gen_t5_parity.py,
// an independent PyTorch implementation of T5EncoderModel's math), bucket values, mask semantics, loading.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/text/t5_encoder.h"

namespace fs = std::filesystem;
using namespace mf::text;

namespace {

std::string fixture(const std::string& name) {
  return (fs::path(MF_SOURCE_DIR) / "tests/fixtures/text" / name).string();
}

double rel_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  return (x - y).norm().item<double>() / y.norm().item<double>();
}

struct Run {
  torch::Tensor out, after0, bias;
  mf::io::WeightSource file;
};

Run run_file(const std::string& name) {
  auto file = mf::io::WeightSource::open(fixture(name));
  auto cfg = T5Config::from_json(file.metadata().at("config"), name);
  const bool bf16 = file.metadata().at("dtype") == "bfloat16";
  T5Encoder enc(cfg, bf16 ? torch::kBFloat16 : torch::kFloat32);
  enc->load(file.with_prefix("weights."));
  torch::NoGradGuard ng;
  torch::Tensor mask;
  if (file.contains("in.attention_mask")) mask = file.read("in.attention_mask");
  T5Trace trace;
  auto ids = file.read("in.input_ids");
  auto out = enc->forward(ids, mask, &trace);
  auto bias = enc->encoder->blocks[0]->attn->SelfAttention->compute_bias(ids.size(1), ids.size(1));
  return {out, trace.after_layer0, bias, file};
}

}  // namespace

TEST(T5, ParityFp32GatedGeluNoMask) {
  auto r = run_file("t5_tiny_fp32.safetensors");
  EXPECT_EQ(r.out.scalar_type(), torch::kFloat);
  EXPECT_EQ(rel_l2(r.bias, r.file.read("out.position_bias")), 0.0);  // a table lookup: exact
  EXPECT_LE(rel_l2(r.after0, r.file.read("out.after_layer0")), 1e-5);
  EXPECT_LE(rel_l2(r.out, r.file.read("out.last_hidden_state")), 1e-5);
}

TEST(T5, ParityFp32ReluWithMaskAndSaturatedBuckets) {
  auto r = run_file("t5_tiny_relu_mask_fp32.safetensors");
  EXPECT_EQ(rel_l2(r.bias, r.file.read("out.position_bias")), 0.0);
  EXPECT_LE(rel_l2(r.after0, r.file.read("out.after_layer0")), 1e-5);
  EXPECT_LE(rel_l2(r.out, r.file.read("out.last_hidden_state")), 1e-5);
}

TEST(T5, ParityBf16) {
  auto r = run_file("t5_tiny_bf16.safetensors");
  EXPECT_EQ(r.out.scalar_type(), torch::kBFloat16);
  // The brief's bf16 tolerance is cosine >= 0.999; rel L2 depends on the BLAS's bf16 accumulation order
  // (reference BLAS ~0.01, OpenBLAS ~0.019 on this tiny model), bounded as `manyfold parity` does for bf16.
  const auto ref = r.file.read("out.last_hidden_state").to(torch::kFloat32).flatten();
  const auto out = r.out.to(torch::kFloat32).flatten();
  const double cos = (out * ref).sum().item<double>() / (out.norm().item<double>() * ref.norm().item<double>());
  EXPECT_GE(cos, 0.999);
  EXPECT_LE(rel_l2(r.out, r.file.read("out.last_hidden_state")), 2e-2);
}

TEST(T5, BucketsMatchTheFormula) {
  // rel = key - query; 32 buckets, max distance 128 (mfm-reference.md E.3).
  auto rel = torch::tensor({0, 1, 7, 8, 20, 127, 128, 1000, -1, -7, -8, -20, -128, -1000}, torch::kLong);
  auto b = t5_relative_position_bucket(rel, 32, 128);
  // n < 8: base + n; else base + min(15, 8 + trunc(ln(n/8)/ln(16)*8)); base 16 for rel > 0.
  std::vector<int64_t> want = {0, 17, 23, 24, 26, 31, 31, 31, 1, 7, 8, 10, 15, 15};
  EXPECT_EQ(std::vector<int64_t>(b.data_ptr<int64_t>(), b.data_ptr<int64_t>() + b.numel()), want);
}

TEST(T5, MaskedPrefixEqualsShortSequence) {
  // With a mask, the kept positions see only kept keys and the bias depends only on key - query, so the
  // masked output over the prefix equals encoding the prefix alone.
  auto file = mf::io::WeightSource::open(fixture("t5_tiny_fp32.safetensors"));
  T5Encoder enc(T5Config::from_json(file.metadata().at("config"), "cfg"), torch::kFloat32);
  enc->load(file.with_prefix("weights."));
  torch::NoGradGuard ng;
  auto ids = file.read("in.input_ids").slice(0, 0, 1);  // [1, 77], 23 real tokens
  auto mask = torch::zeros_like(ids);
  mask.slice(1, 0, 23).fill_(1);
  auto masked = enc->forward(ids, mask).slice(1, 0, 23);
  auto alone = enc->forward(ids.slice(1, 0, 23));
  EXPECT_LE(rel_l2(masked, alone), 1e-6);
  // ... and without a mask the padding changes the prefix (what the MfM pipeline does).
  EXPECT_GT(rel_l2(enc->forward(ids).slice(1, 0, 23), alone), 1e-3);
}

TEST(T5, ParameterNamesAreTheCheckpointKeys) {
  auto file = mf::io::WeightSource::open(fixture("t5_tiny_fp32.safetensors")).with_prefix("weights.");
  T5Encoder enc(T5Config::from_json(mf::io::WeightSource::open(fixture("t5_tiny_fp32.safetensors")).metadata().at("config"), "cfg"));
  std::vector<std::string> names;
  for (auto& p : enc->named_parameters()) names.push_back(p.key());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, file.names());
  // Tied: one tensor under both names.
  auto params = enc->named_parameters();
  EXPECT_EQ(params["shared.weight"].data_ptr(), params["encoder.embed_tokens.weight"].data_ptr());
}

TEST(T5, LoadFolderAndReportProblems) {
  auto file = mf::io::WeightSource::open(fixture("t5_tiny_fp32.safetensors"));
  auto w = file.with_prefix("weights.");
  const fs::path dir = fs::temp_directory_path() / ("mf_t5_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << file.metadata().at("config");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& n : w.names())
    if (n != "encoder.embed_tokens.weight") tensors.push_back({n, w.read(n)});
  mf::io::save_tensors((dir / "model.safetensors").string(), tensors);
  auto enc = load_t5_encoder(dir.string(), torch::kFloat32);
  torch::NoGradGuard ng;
  auto out = enc->forward(file.read("in.input_ids"));
  EXPECT_LE(rel_l2(out, file.read("out.last_hidden_state")), 1e-5);

  // A missing tensor is named in the error.
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](auto& t) { return t.first == "encoder.block.1.layer.1.DenseReluDense.wo.weight"; }),
                tensors.end());
  mf::io::save_tensors((dir / "model.safetensors").string(), tensors);
  try {
    load_t5_encoder(dir.string(), torch::kFloat32);
    FAIL() << "expected an error";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
    EXPECT_NE(std::string(e.what()).find("encoder.block.1.layer.1.DenseReluDense.wo.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
  EXPECT_THROW(load_t5_encoder(dir.string()), mf::Error);
}

TEST(T5, ConfigParsing) {
  auto c = T5Config::from_json(R"({"d_model": 2048, "d_kv": 64, "d_ff": 5120, "num_layers": 24, "num_heads": 32,
      "vocab_size": 32128, "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": 1e-6})", "xl");
  EXPECT_TRUE(c.is_gated());
  EXPECT_EQ(c.activation(), "gelu_new");
  EXPECT_EQ(c.relative_attention_num_buckets, 32);
  EXPECT_EQ(c.relative_attention_max_distance, 128);
  auto r = T5Config::from_json(R"({"feed_forward_proj": "relu"})", "small");
  EXPECT_FALSE(r.is_gated());
  EXPECT_EQ(r.d_model, 512);  // transformers' default
  EXPECT_EQ(T5Config::from_json(R"({"feed_forward_proj": "gated-silu"})", "x").activation(), "silu");
  EXPECT_THROW(T5Config::from_json(R"({"feed_forward_proj": "gelu-gated"})", "x"), mf::Error);
  EXPECT_THROW(T5Config::from_json(R"({"feed_forward_proj": "swish"})", "x"), mf::Error);
  EXPECT_THROW(T5Config::from_json(R"({"d_model": -3})", "x"), mf::Error);
  EXPECT_THROW(T5Config::from_json("not json", "x"), mf::Error);
}
