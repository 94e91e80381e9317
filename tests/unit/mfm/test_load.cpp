// Loading weights: strict state-dict loading names the offending tensor, a saved model reloads to the same
// outputs, and the shared parity files' configs and RoPE tables agree with ours.
#include <gtest/gtest.h>

#include <filesystem>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/mfm/transformer.h"
#include "mfm_test_util.h"

using namespace mf::mfm;
using mf::mfm::test::random_inputs;
using mf::mfm::test::tiny_config;

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("mf_mfm_load_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::vector<std::pair<std::string, torch::Tensor>> state_of(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> v;
  for (auto& kv : m.named_parameters()) v.emplace_back(kv.key(), kv.value().detach());
  return v;
}

// Loads `tensors` (written to a file) into a tiny model; returns the error message ("" if it loaded).
std::string load_error(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, const fs::path& file) {
  mf::io::save_tensors(file.string(), tensors);
  try {
    load_transformer(mf::io::WeightSource::open(file.string()), tiny_config());
    return "";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile) << e.what();
    return e.what();
  }
}

const std::string kParityDir = std::string(MF_SHARED_DIR) + "/parity/";

}  // namespace

TEST(MfmLoad, SavedWeightsReloadToTheSameOutput) {
  TempDir tmp;
  Transformer3DModel m(tiny_config());
  init_random_weights(*m, 5);
  auto file = tmp.path / "tiny.safetensors";
  mf::io::save_tensors(file.string(), state_of(*m));
  auto loaded = load_transformer(mf::io::WeightSource::open(file.string()), tiny_config());
  auto in = random_inputs(tiny_config(), 1, 5, 32, 32, 4, 6);
  torch::NoGradGuard ng;
  EXPECT_TRUE(loaded->forward(in).equal(m->forward(in)));
}

TEST(MfmLoad, MissingExtraOrMisshapenTensorIsNamed) {
  TempDir tmp;
  Transformer3DModel m(tiny_config());
  init_random_weights(*m, 7);
  const auto full = state_of(*m);
  EXPECT_EQ(load_error(full, tmp.path / "ok.safetensors"), "");

  auto missing = full;
  const std::string gone = "transformer_blocks.1.attn2.k_norm.weight";
  missing.erase(std::find_if(missing.begin(), missing.end(), [&](auto& p) { return p.first == gone; }));
  auto msg = load_error(missing, tmp.path / "missing.safetensors");
  EXPECT_NE(msg.find(gone), std::string::npos) << msg;

  auto extra = full;
  extra.emplace_back("transformer_blocks.0.attn1.rotary.inv_freq", torch::ones({32}));
  msg = load_error(extra, tmp.path / "extra.safetensors");
  EXPECT_NE(msg.find("transformer_blocks.0.attn1.rotary.inv_freq"), std::string::npos) << msg;

  auto wrong = full;
  for (auto& p : wrong)
    if (p.first == "transformer_blocks.0.ff.fc1.weight") p.second = torch::zeros({500, 128});
  msg = load_error(wrong, tmp.path / "wrong.safetensors");
  EXPECT_NE(msg.find("transformer_blocks.0.ff.fc1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("500"), std::string::npos) << msg;
}

TEST(MfmLoad, ParityFilesConfigAndRopeTables) {
  for (const char* name : {"mfm_dit_tiny_fp32", "mfm_dit_tiny_image_fp32", "mfm_dit_tiny_bf16"}) {
    const std::string path = kParityDir + name + ".safetensors";
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
    auto f = mf::io::WeightSource::open(path);
    auto cfg = Config::from_json_text(f.metadata().at("config"), path);
    EXPECT_EQ(cfg.inner_dim(), 128);
    EXPECT_TRUE(cfg.use_rope && cfg.add_motion_score && cfg.use_depth_cond);
    EXPECT_NO_THROW(check_against_weights(cfg, shapes_of(f.with_prefix("weights.")), path));
    auto hs = f.info("in.hidden_states").shape;
    auto tab = build_rope_tables(hs[2], hs[3] / 2, hs[4] / 2, cfg.attention_head_dim);
    auto cos = f.read("in.rope_cos"), sin = f.read("in.rope_sin");
    ASSERT_EQ(tab.cos.sizes(), cos.sizes());
    // Same fp32 operations as the official code: equal up to the last bit of the libm in use.
    EXPECT_LE((tab.cos - cos).abs().max().item<float>(), 1e-6f) << name;
    EXPECT_LE((tab.sin - sin).abs().max().item<float>(), 1e-6f) << name;
    std::cout << "[ MfM ] " << name << " RoPE tables bit-identical: " << (tab.cos.equal(cos) && tab.sin.equal(sin))
              << "\n";
  }
}

// The official outputs of the shared parity files, through the library directly (the `manyfold parity`
// tests run the same files through the command-line tool).
TEST(MfmLoad, ParityFilesForward) {
  for (const char* name : {"mfm_dit_tiny_fp32", "mfm_dit_tiny_image_fp32", "mfm_dit_tiny_bf16"}) {
    const std::string path = kParityDir + name + ".safetensors";
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
    auto f = mf::io::WeightSource::open(path);
    auto cfg = Config::from_json_text(f.metadata().at("config"), path);
    const bool bf16 = f.metadata().at("dtype") == "torch.bfloat16";
    ModelOptions o;
    o.dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
    auto m = load_transformer(f.with_prefix("weights."), cfg, o);
    TransformerInputs in;
    in.hidden_states = f.read("in.hidden_states");
    in.conditional_pixel_values = f.read("in.conditional_pixel_values");
    in.conditional_masks = f.read("in.conditional_masks");
    in.encoder_hidden_states = f.read("in.encoder_hidden_states");
    in.encoder_attention_mask = f.read("in.encoder_attention_mask");
    in.timestep = f.read("in.timestep");
    in.motion_score = f.read("in.motion_score");
    torch::NoGradGuard ng;
    auto out = m->forward(in);
    auto ref = f.read("out.sample");
    const double rel = mf::mfm::test::rel_l2(out, ref), cos = mf::mfm::test::cosine(out, ref);
    std::cout << "[ MfM ] " << name << " rel_l2 " << rel << " cosine " << cos << "\n";
    if (bf16) {
      EXPECT_LE(rel, 2e-2) << name;
      EXPECT_GE(cos, 0.999) << name;
    } else {
      EXPECT_LE(rel, 1e-4) << name;
    }
  }
}
