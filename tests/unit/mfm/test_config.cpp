// Config parsing, refusal of unsupported settings, key naming and the cross-check against checkpoint
// shapes (mfm-reference.md A.1, A.8, A.9). Shapes come from the module structure built on the meta device.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/io/pipeline_folder.h"
#include "mf/mfm/config.h"
#include "mf/mfm/transformer.h"
#include "mfm_test_util.h"

using mf::mfm::Config;

namespace {

// Expects `fn` to throw mf::Error with `code` and a message containing every word of `needles`.
template <typename Fn>
void expect_error(Fn fn, mf::ErrorCode code, std::vector<std::string> needles) {
  try {
    fn();
    FAIL() << "no error thrown";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
}

mf::mfm::ShapeMap shapes_from_module(const Config& c) {
  mf::mfm::ModelOptions o;
  o.device = torch::kMeta;
  mf::mfm::Transformer3DModel m(c, o);
  mf::mfm::ShapeMap s;
  for (auto& kv : m->named_parameters()) s[kv.key()] = kv.value().sizes().vec();
  return s;
}

Config tiny_config_for_io() { return mf::mfm::test::tiny_config(); }

}  // namespace

TEST(MfmConfig, OfficialDefaultsForAbsentFields) {
  auto c = Config::from_json_text(R"({"in_channels": 16, "activation_fn": "gelu-approximate",
                                      "norm_type": "ada_norm_zero", "_class_name": "Transformer3DModel"})");
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.attention_head_dim, 88);
  EXPECT_EQ(c.num_layers, 1);
  EXPECT_EQ(c.out_channels_resolved(), 16);
  EXPECT_FALSE(c.cross_attention_dim[0].has_value());
  EXPECT_FALSE(c.block_has_cross_attention(0));
  EXPECT_FALSE(c.use_rope);
  EXPECT_FALSE(c.add_motion_score);
  EXPECT_FALSE(c.use_depth_cond);
  EXPECT_EQ(c.adapter_in_channels(), 4);
  EXPECT_EQ(c.adaln_norm_type, "legacy");
  EXPECT_FALSE(c.adaln_rmsnorm());
  EXPECT_EQ(c.patch_size, 2);
}

TEST(MfmConfig, CrossAttentionDimForms) {
  auto base = nlohmann::json{{"in_channels", 16}, {"activation_fn", "gelu-approximate"}, {"norm_type", "ada_norm_zero"},
                             {"num_layers", 4}};
  auto j = base;
  j["cross_attention_dim"] = 2048;
  auto c = Config::from_json(j);
  EXPECT_EQ(c.block_cross_dim(0), 2048);
  EXPECT_EQ(c.block_cross_dim(3), 2048);
  j["cross_attention_dim"] = {768, 2048};
  c = Config::from_json(j);
  EXPECT_EQ(c.block_cross_dim(0), 768);
  EXPECT_EQ(c.block_cross_dim(1), 2048);
  EXPECT_EQ(c.block_cross_dim(2), 768);
  j["cross_attention_dim"] = {nullptr, 2048};
  c = Config::from_json(j);
  EXPECT_FALSE(c.block_has_cross_attention(0));
  EXPECT_TRUE(c.block_has_cross_attention(1));
  j["cross_attention_dim"] = nullptr;
  j["double_self_attention"] = true;
  c = Config::from_json(j);
  EXPECT_TRUE(c.block_has_cross_attention(0));
  EXPECT_EQ(c.block_cross_dim(0), c.inner_dim());
  j["cross_attention_dim"] = "wide";
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::BadFile, {"cross_attention_dim"});
}

TEST(MfmConfig, RefusesUnsupportedSettingsClearly) {
  auto base = nlohmann::json{{"in_channels", 16}, {"activation_fn", "gelu-approximate"}, {"norm_type", "ada_norm_zero"}};
  auto j = base;
  j["sequence_parallel_size"] = 2;
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::Unsupported, {"sequence_parallel_size=2", "one process"});
  for (auto ok : {nlohmann::json(0), nlohmann::json(1), nlohmann::json(nullptr)}) {
    j["sequence_parallel_size"] = ok;
    EXPECT_NO_THROW(Config::from_json(j));
  }
  j = base;
  j["condition_type"] = "latent_concat";
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::Unsupported, {"latent_concat", "inpaint_mask"});
  j = base;
  j["activation_fn"] = "geglu";
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::Unsupported, {"geglu", "gelu-approximate"});
  j = base;
  j["norm_type"] = "layer_norm";
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::Unsupported, {"layer_norm"});
  j = base;
  j.erase("in_channels");
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::BadFile, {"in_channels"});
  j = base;
  j["num_layers"] = 3;
  j["num_block_chunks"] = 2;
  expect_error([&] { Config::from_json(j); }, mf::ErrorCode::BadFile, {"num_block_chunks"});
  expect_error([&] { Config::from_json_text("{not json"); }, mf::ErrorCode::BadFile, {"JSON"});
}

TEST(MfmConfig, JsonRoundTrip) {
  auto c = mf::mfm::test::tiny_config();
  c.cross_attention_dim = {48, std::nullopt};
  c.adaln_norm_type = "rmsnorm";
  c.attention_bias = true;
  auto d = Config::from_json(c.to_json());
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_FALSE(d.block_has_cross_attention(1));
}

TEST(MfmConfig, BlockChunkKeyNaming) {
  auto c = mf::mfm::test::tiny_config();
  c.num_layers = 4;
  EXPECT_EQ(c.block_prefix(3), "transformer_blocks.3.");
  c.num_block_chunks = 2;
  EXPECT_EQ(c.block_prefix(0), "transformer_blocks.0.module.0.");
  EXPECT_EQ(c.block_prefix(3), "transformer_blocks.1.module.1.");
  auto shapes = shapes_from_module(c);
  EXPECT_TRUE(shapes.count("transformer_blocks.1.module.1.attn2.k_proj.weight"));
  EXPECT_FALSE(shapes.count("transformer_blocks.3.attn2.k_proj.weight"));
  EXPECT_NO_THROW(mf::mfm::check_against_weights(c, shapes, "chunked"));
  auto flat = c;
  flat.num_block_chunks = 1;
  expect_error([&] { mf::mfm::check_against_weights(flat, shapes, "chunked"); }, mf::ErrorCode::BadFile,
               {"num_block_chunks"});
}

TEST(MfmConfig, CrossCheckAgainstWeights) {
  auto c = mf::mfm::test::tiny_config();
  auto shapes = shapes_from_module(c);
  EXPECT_NO_THROW(mf::mfm::check_against_weights(c, shapes, "tiny"));

  auto biased = c;
  biased.attention_bias = true;
  expect_error([&] { mf::mfm::check_against_weights(biased, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"attention_bias", "attn1.q_proj.bias"});
  auto rms = c;
  rms.adaln_norm_type = "rmsnorm";
  expect_error([&] { mf::mfm::check_against_weights(rms, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"norm1.norm.weight"});
  auto wide = c;
  wide.num_attention_heads = 3;
  expect_error([&] { mf::mfm::check_against_weights(wide, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"pos_embed.proj.weight", "192"});
  auto text = c;
  text.cross_attention_dim = {48, 64};
  expect_error([&] { mf::mfm::check_against_weights(text, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"transformer_blocks.1.attn2.k_proj.weight", "64"});
  auto deeper = c;
  deeper.num_layers = 3;
  expect_error([&] { mf::mfm::check_against_weights(deeper, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"num_layers=3"});
  auto nomotion = c;
  nomotion.add_motion_score = false;
  expect_error([&] { mf::mfm::check_against_weights(nomotion, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"guidance_embedder"});
  auto nodepth = c;
  nodepth.use_depth_cond = false;
  expect_error([&] { mf::mfm::check_against_weights(nodepth, shapes, "tiny"); }, mf::ErrorCode::BadFile,
               {"cond_conv.conv_in.weight"});

  // The variants agree with their own module structure.
  for (auto v : {biased, rms, text, nomotion, nodepth}) {
    EXPECT_NO_THROW(mf::mfm::check_against_weights(v, shapes_from_module(v), "variant"));
  }
}

TEST(MfmConfig, ConvertsFromPipelineFolderConfig) {
  // mf_io's typed config of whole pipeline folders round-trips into ours without loss.
  std::vector<Config> variants{tiny_config_for_io(), tiny_config_for_io()};
  variants[1].adaln_norm_type = "rmsnorm";
  variants[1].attention_bias = true;
  variants[1].num_layers = 4;
  variants[1].num_block_chunks = 2;
  variants[1].cross_attention_dim = {48, 64};
  variants[1].upcast_attention = true;
  for (const auto& c : variants) {
    auto io = mf::io::TransformerConfig::from_json(c.to_json(), "test");
    EXPECT_EQ(Config::from_json(io.to_json()).to_json(), c.to_json());
  }
}
