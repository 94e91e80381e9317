#include <gtest/gtest.h>

#include "mf/core/error.h"
#include "mf/vae/config.h"

using namespace mf::vae;

TEST(VaeConfig, ReadsReleasedStyleConfig) {
  auto c = VaeConfig::from_json_text(R"({"_class_name": "AutoencoderKLCogVideoX", "act_fn": "silu",
    "block_out_channels": [128, 256, 256, 512], "down_block_types": ["CogVideoXDownBlock3D","CogVideoXDownBlock3D",
    "CogVideoXDownBlock3D","CogVideoXDownBlock3D"], "in_channels": 3, "latent_channels": 16, "layers_per_block": 3,
    "norm_eps": 1e-06, "norm_num_groups": 32, "out_channels": 3, "sample_height": 480, "sample_width": 720,
    "scaling_factor": 1.15258426, "shift_factor": null, "temporal_compression_ratio": 4.0,
    "use_post_quant_conv": false, "use_quant_conv": false})",
                                     "test");
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{128, 256, 256, 512}));
  EXPECT_EQ(c.spatial_compression_ratio(), 8);
  EXPECT_EQ(c.temporal_compress_level(), 2);
  EXPECT_EQ(c.sample_width, 720);
  EXPECT_FALSE(c.use_quant_conv);
  auto again = VaeConfig::from_json_text(c.to_json_text(), "roundtrip");
  EXPECT_EQ(again.block_out_channels, c.block_out_channels);
  EXPECT_EQ(again.sample_height, 480);
}

TEST(VaeConfig, RejectsWhatItCannotRun) {
  EXPECT_THROW(VaeConfig::from_json_text(R"({"act_fn": "gelu"})", "t"), mf::Error);
  EXPECT_THROW(VaeConfig::from_json_text(R"({"norm_num_groups": 3})", "t"), mf::Error);
  EXPECT_THROW(VaeConfig::from_json_text(R"({"temporal_compression_ratio": 3})", "t"), mf::Error);
  EXPECT_THROW(VaeConfig::from_json_text(R"({"up_block_types": ["UpDecoderBlock2D"]})", "t"), mf::Error);
  EXPECT_THROW(VaeConfig::from_json_text("not json", "t"), mf::Error);
  EXPECT_THROW(VaeConfig::from_folder("/nonexistent/vae"), mf::Error);
}

TEST(VaeConfig, TileGeometryOfTheReleasedDefaults) {
  // mfm-reference D.6: tiles 240x360 px = 30x45 latents, stride 25x36, blend 40x72 px, kept 200x288 px
  VaeConfig c;
  auto t = TilingOptions::defaults_for(c);
  EXPECT_EQ(t.tile_sample_min_height, 240);
  EXPECT_EQ(t.tile_sample_min_width, 360);
  auto g = TileGeometry::compute(t, 8);
  EXPECT_EQ(g.tile_latent_min_height, 30);
  EXPECT_EQ(g.tile_latent_min_width, 45);
  EXPECT_EQ(g.decode_stride_height, 25);
  EXPECT_EQ(g.decode_stride_width, 36);
  EXPECT_EQ(g.decode_blend_height, 40);
  EXPECT_EQ(g.decode_blend_width, 72);
  EXPECT_EQ(g.decode_keep_height, 200);
  EXPECT_EQ(g.decode_keep_width, 288);
  EXPECT_EQ(g.encode_stride_height, 200);
  EXPECT_EQ(g.encode_stride_width, 288);
  EXPECT_EQ(g.encode_blend_height, 5);
  EXPECT_EQ(g.encode_blend_width, 9);
}

TEST(VaeConfig, TileGeometryFollowsPythonFloatTruncation) {
  // 48x80 tiles (the tiled parity file): int(6 * (1 - 1/6)) is 5 in Python (the product is 5.000000000000001)
  TilingOptions t;
  t.tile_sample_min_height = 48;
  t.tile_sample_min_width = 80;
  auto g = TileGeometry::compute(t, 8);
  EXPECT_EQ(g.decode_stride_height, 5);
  EXPECT_EQ(g.decode_stride_width, 8);
  EXPECT_EQ(g.decode_blend_height, 8);
  EXPECT_EQ(g.decode_blend_width, 16);
  EXPECT_EQ(g.encode_stride_height, 40);
  EXPECT_EQ(g.encode_stride_width, 64);
  EXPECT_EQ(g.encode_blend_height, 1);
  EXPECT_EQ(g.encode_blend_width, 2);
  EXPECT_EQ(g.encode_keep_height, 5);
  EXPECT_EQ(g.encode_keep_width, 8);
}
