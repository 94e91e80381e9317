// LoRA files and patches on the MfM transformer: the merged weights are W + s * alpha/r * B A, the model's output
// equals that of a model whose weights were merged by hand, restore() gives back the base bit for bit, and bad
// files or mismatched models fail with messages that name the layer, changing nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/lora/lora.h"
#include "mfm_test_util.h"

namespace fs = std::filesystem;
using namespace mf::mfm;
using mf::lora::LoraFile;
using mf::lora::LoraLayer;

namespace {

fs::path tmp(const std::string& name) {
  auto d = fs::temp_directory_path() / ("mf_lora_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

std::vector<LoraLayer> random_layers(const Config& c, int64_t rank, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t d = c.inner_dim();
  std::vector<LoraLayer> v;
  for (const char* t : {"transformer_blocks.0.attn1.q_proj", "transformer_blocks.1.attn1.v_proj", "transformer_blocks.0.ff.fc1"}) {
    LoraLayer l;
    l.target = t;
    const int64_t out = std::string(t).find("fc1") != std::string::npos ? 4 * d : d;
    l.down = torch::randn({rank, d}) * 0.1;
    l.up = torch::randn({out, rank}) * 0.1;
    l.alpha = 2.0 * static_cast<double>(rank);
    v.push_back(l);
  }
  return v;
}

torch::Tensor forward(Transformer3DModel& m, const TransformerInputs& in) {
  torch::NoGradGuard ng;
  return m->forward(in);
}

}  // namespace

TEST(Lora, WriteReadRoundTripAndAlpha) {
  const Config c = test::tiny_config();
  auto layers = random_layers(c, 4, 1);
  const auto path = tmp("rt.safetensors").string();
  mf::lora::write_lora(path, layers);
  const LoraFile f = mf::lora::read_lora(path);
  ASSERT_EQ(f.layers.size(), 3u);
  for (const auto& l : f.layers) {
    EXPECT_EQ(l.rank(), 4);
    EXPECT_DOUBLE_EQ(l.factor(), 2.0);
  }
}

TEST(Lora, ApplyEqualsHandMergedWeightsAndRestoreIsExact) {
  const Config c = test::tiny_config();
  Transformer3DModel model(c);
  init_random_weights(*model, 3);
  model->eval();
  const auto in = test::random_inputs(c, 1, 5, 32, 32, 7, 11);
  const auto base = forward(model, in).clone();
  std::map<std::string, torch::Tensor> base_weights;
  for (const auto& p : model->named_parameters()) base_weights[p.key()] = p.value().detach().clone();

  const auto path = tmp("apply.safetensors").string();
  mf::lora::write_lora(path, random_layers(c, 4, 2));
  const LoraFile f = mf::lora::read_lora(path);
  mf::lora::LoraPatch patch;
  patch.apply(*model, f, 0.5);
  EXPECT_EQ(patch.touched(), 3u);
  const auto with = forward(model, in);
  EXPECT_GT(test::rel_l2(with, base), 1e-4) << "the LoRA must change the output";

  // The same by hand on a copy.
  Transformer3DModel manual(c);
  init_random_weights(*manual, 3);
  manual->eval();
  {
    torch::NoGradGuard ng;
    auto params = manual->named_parameters();
    for (const auto& l : f.layers) params[l.target + ".weight"].add_(torch::matmul(l.up, l.down) * (0.5 * l.factor()));
  }
  EXPECT_LT(test::rel_l2(with, forward(manual, in)), 1e-6);

  patch.restore(*model);
  EXPECT_TRUE(patch.empty());
  for (const auto& p : model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), base_weights[p.key()])) << p.key();
  EXPECT_TRUE(torch::equal(forward(model, in), base));
}

TEST(Lora, StackedLorasAndBf16RestoreExactly) {
  const Config c = test::tiny_config();
  Transformer3DModel model(c);
  init_random_weights(*model, 4);
  model->to(torch::kBFloat16);
  std::map<std::string, torch::Tensor> base_weights;
  for (const auto& p : model->named_parameters()) base_weights[p.key()] = p.value().detach().clone();
  const auto a = tmp("a.safetensors").string(), b = tmp("b.safetensors").string();
  mf::lora::write_lora(a, random_layers(c, 2, 5));
  mf::lora::write_lora(b, random_layers(c, 8, 6));
  mf::lora::LoraPatch patch;
  patch.apply(*model, mf::lora::read_lora(a), 1.0);
  patch.apply(*model, mf::lora::read_lora(b), -0.7);
  EXPECT_EQ(model->named_parameters()["transformer_blocks.0.attn1.q_proj.weight"].scalar_type(), torch::kBFloat16);
  EXPECT_FALSE(torch::equal(model->named_parameters()["transformer_blocks.0.attn1.q_proj.weight"],
                            base_weights["transformer_blocks.0.attn1.q_proj.weight"]));
  patch.restore(*model);
  for (const auto& p : model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), base_weights[p.key()])) << p.key();
}

TEST(Lora, KohyaKeysPrefixesAndPerLayerAlpha) {
  const Config c = test::tiny_config();
  const int64_t d = c.inner_dim();
  const auto path = tmp("kohya.safetensors").string();
  mf::io::save_tensors(path, {{"transformer.transformer_blocks.0.attn2.k_proj.lora_down.weight", torch::randn({3, 48})},
                              {"transformer.transformer_blocks.0.attn2.k_proj.lora_up.weight", torch::randn({d, 3})},
                              {"transformer.transformer_blocks.0.attn2.k_proj.alpha", torch::tensor(1.5f)}});
  const auto f = mf::lora::read_lora(path);
  ASSERT_EQ(f.layers.size(), 1u);
  EXPECT_EQ(f.layers[0].target, "transformer_blocks.0.attn2.k_proj");
  EXPECT_DOUBLE_EQ(f.layers[0].factor(), 0.5);
  Transformer3DModel model(c);
  mf::lora::LoraPatch patch;
  EXPECT_NO_THROW(patch.apply(*model, f));
}

TEST(Lora, BadFilesAndMismatchedModelsNameTheLayer) {
  const Config c = test::tiny_config();
  Transformer3DModel model(c);
  init_random_weights(*model, 8);
  std::map<std::string, torch::Tensor> base_weights;
  for (const auto& p : model->named_parameters()) base_weights[p.key()] = p.value().detach().clone();
  auto expect_error = [](const std::function<void()>& fn, mf::ErrorCode code, const std::string& words) {
    try {
      fn();
      ADD_FAILURE() << "no error (expected: " << words << ")";
    } catch (const mf::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error([] { mf::lora::read_lora("/nonexistent/x.safetensors"); }, mf::ErrorCode::MissingModel, "not found");
  const auto half = tmp("half.safetensors").string();
  mf::io::save_tensors(half, {{"blocks.0.q.lora_A.weight", torch::randn({2, 8})}});
  expect_error([&] { mf::lora::read_lora(half); }, mf::ErrorCode::BadFile, "blocks.0.q");
  const auto other = tmp("other.safetensors").string();
  mf::io::save_tensors(other, {{"weight", torch::randn({2, 8})}});
  expect_error([&] { mf::lora::read_lora(other); }, mf::ErrorCode::BadFile, "not part of a LoRA pair");

  // A LoRA for another model: an unknown layer, and a known layer of another size. Nothing changes.
  auto layers = random_layers(c, 2, 7);
  layers.push_back({"transformer_blocks.9.attn1.q_proj", torch::randn({2, c.inner_dim()}), torch::randn({c.inner_dim(), 2}), 0});
  const auto unknown = tmp("unknown.safetensors").string();
  mf::lora::write_lora(unknown, layers);
  mf::lora::LoraPatch patch;
  expect_error([&] { patch.apply(*model, mf::lora::read_lora(unknown)); }, mf::ErrorCode::BadInput,
               "transformer_blocks.9.attn1.q_proj");
  const auto wrong = tmp("wrong.safetensors").string();
  mf::lora::write_lora(wrong, {{"transformer_blocks.0.attn1.q_proj", torch::randn({2, 64}), torch::randn({64, 2}), 0}});
  expect_error([&] { patch.apply(*model, mf::lora::read_lora(wrong)); }, mf::ErrorCode::BadInput, "another model size");
  EXPECT_TRUE(patch.empty());
  for (const auto& p : model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), base_weights[p.key()])) << p.key();
}
