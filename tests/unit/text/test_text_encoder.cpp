// Tokenizer + T5 + cache: rows equal a direct encode, the cache avoids re-encoding, mismatched folders fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mf/core/error.h"
#include "mf/text/text_encoder.h"

namespace fs = std::filesystem;
using namespace mf::text;

namespace {
// A tiny random text_encoder/ folder whose vocabulary covers the nfkc fixture tokenizer (4000 + 100 ids).
fs::path make_encoder_dir(int64_t vocab) {
  const fs::path dir = fs::temp_directory_path() / ("mf_textenc_" + std::to_string(::getpid()) + "_" + std::to_string(vocab));
  fs::create_directories(dir);
  T5Config c;
  c.vocab_size = vocab;
  c.d_model = 16;
  c.d_kv = 4;
  c.num_heads = 2;
  c.d_ff = 24;
  c.num_layers = 2;
  std::ofstream(dir / "config.json") << c.to_json();
  T5Encoder enc(c);
  torch::manual_seed(3);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& p : enc->named_parameters()) {
    if (p.key() == "encoder.embed_tokens.weight") continue;
    tensors.push_back({p.key(), torch::randn(p.value().sizes()) * 0.3 + (p.key().find("norm") != std::string::npos ? 1.0 : 0.0)});
  }
  mf::io::save_tensors((dir / "model.safetensors").string(), tensors);
  return dir;
}
const std::string kTok = std::string(MF_SOURCE_DIR) + "/tests/fixtures/text/spm_nfkc_unigram";
}  // namespace

TEST(T5TextEncoder, RowsEqualDirectEncodeAndCacheAvoidsWork) {
  const auto dir = make_encoder_dir(4128);
  auto cache = std::make_shared<TextEmbeddingCache>(1 << 20);
  auto te = T5TextEncoder::load(kTok, dir.string(), torch::kFloat32, torch::kCPU, cache);
  const std::vector<std::string> prompts = {"static, watermark, subtitles", "a cat walking on the beach #fps: 16. #task: text-to-video"};
  auto out = te.encode(prompts);
  ASSERT_EQ(out.embeds.sizes(), (std::vector<int64_t>{2, 77, 16}));
  ASSERT_EQ(out.attention_mask.sizes(), (std::vector<int64_t>{2, 77}));
  // Row 1 equals encoding that prompt alone, without a mask.
  auto e = te.tokenizer().encode(prompts[1]);
  torch::NoGradGuard ng;
  auto direct = te.encoder()->forward(torch::tensor(e.ids, torch::kLong).unsqueeze(0));
  EXPECT_TRUE(torch::allclose(out.embeds[1], direct[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(out.attention_mask[1], torch::tensor(e.attention_mask, torch::kLong)));
  EXPECT_EQ(cache->stats().misses, 2u);
  // Again, in the other order plus one new prompt: two hits, one miss, same rows.
  auto again = te.encode({prompts[1], prompts[0], "new"});
  EXPECT_EQ(cache->stats().memory_hits, 2u);
  EXPECT_EQ(cache->stats().misses, 3u);
  EXPECT_TRUE(torch::equal(again.embeds[0], out.embeds[1]));
  EXPECT_TRUE(torch::equal(again.embeds[1], out.embeds[0]));
  // Another encoder folder gives another model id, so nothing is shared by mistake.
  const auto dir2 = make_encoder_dir(4200);
  auto te2 = T5TextEncoder::load(kTok, dir2.string(), torch::kFloat32, torch::kCPU, cache);
  EXPECT_NE(te2.model_id(), te.model_id());
  te2.encode({prompts[0]});
  EXPECT_EQ(cache->stats().misses, 4u);
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

TEST(T5TextEncoder, TokenizerLargerThanEmbeddingIsRefused) {
  const auto dir = make_encoder_dir(1000);
  EXPECT_THROW(T5TextEncoder::load(kTok, dir.string(), torch::kFloat32), mf::Error);
  fs::remove_all(dir);
}
