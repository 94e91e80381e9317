// Decode: frame-count rule, temporal chunking with carried conv caches, time-sliced convolutions, streaming,
// tiling.
#include <gtest/gtest.h>

#include "mf/core/error.h"
#include "vae_test_util.h"

using namespace mf::vae;
using mf::vae::testing::rel_l2;
using mf::vae::testing::tiny_vae;

TEST(VaeChunks, OfficialTemporalChunking) {
  using P = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(CogVideoXVae::temporal_chunks(1, 2), (P{{0, 1}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(2, 2), (P{{0, 2}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(3, 2), (P{{0, 3}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(4, 2), (P{{0, 2}, {2, 4}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(7, 2), (P{{0, 3}, {3, 5}, {5, 7}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(9, 8), (P{{0, 9}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(17, 8), (P{{0, 9}, {9, 17}}));
  EXPECT_EQ(CogVideoXVae::temporal_chunks(5, 8), (P{{0, 5}}));
}

TEST(VaeDecode, FrameCountRule) {
  auto vae = tiny_vae();
  // 1 -> 1, odd T -> 4(T-1)+1, even T -> 4T
  EXPECT_EQ(vae.decoded_frames(1), 1);
  EXPECT_EQ(vae.decoded_frames(2), 8);
  EXPECT_EQ(vae.decoded_frames(3), 9);
  EXPECT_EQ(vae.decoded_frames(4), 16);
  EXPECT_EQ(vae.decoded_frames(13), 49);
  EXPECT_EQ(vae.decoded_frames(25), 97);
  EXPECT_EQ(vae.decoded_frames(26), 104);
  for (int64_t t : {1, 2, 3, 4}) {
    auto z = torch::randn({1, 4, t, 2, 3});
    auto out = vae.decode(z);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, vae.decoded_frames(t), 16, 24})) << "latent frames " << t;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
}

TEST(VaeDecode, ChunkedDecodeEqualsManualChunkLoop) {
  // T = 5: chunks [0,3) then [3,5), caches carried; a fresh cache for the second chunk must differ
  auto vae = tiny_vae();
  auto z = torch::randn({1, 4, 5, 2, 3});
  auto full = vae.decode(z);
  ASSERT_EQ(full.size(2), 17);
  torch::NoGradGuard ng;
  ConvCache cache;
  RunContext ctx;
  ctx.cache = &cache;
  auto a = vae.model()->decoder->forward(z.narrow(2, 0, 3), ctx);
  EXPECT_FALSE(cache.empty());
  auto b = vae.model()->decoder->forward(z.narrow(2, 3, 2), ctx);
  EXPECT_EQ(a.size(2), 9);
  EXPECT_EQ(b.size(2), 8);
  EXPECT_LT(rel_l2(full, torch::cat({a, b}, 2)), 1e-6);
  ConvCache fresh;
  RunContext ctx2;
  ctx2.cache = &fresh;
  auto b_fresh = vae.model()->decoder->forward(z.narrow(2, 3, 2), ctx2);
  EXPECT_GT(rel_l2(b_fresh, b), 1e-3) << "the carried conv caches must matter";
}

TEST(VaeModules, CausalConvCacheCarriesAcrossChunks) {
  // A causal conv run chunk by chunk with its cache equals one run over the whole sequence.
  torch::manual_seed(3);
  CausalConv3d conv(5, 6, 3);
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 5, 7, 4, 5});
  RunContext whole;
  auto ref = conv->forward(x, whole);
  ConvCache cache;
  RunContext ctx;
  ctx.cache = &cache;
  std::vector<torch::Tensor> parts;
  for (auto [b, e] : std::vector<std::pair<int, int>>{{0, 3}, {3, 4}, {4, 7}})
    parts.push_back(conv->forward(x.narrow(2, b, e - b), ctx));
  EXPECT_LT(rel_l2(torch::cat(parts, 2), ref), 1e-6);
  // first-frame replication: frame 0 of the output equals a conv over [x0, x0, x0]
  auto x0 = x.narrow(2, 0, 1);
  auto manual = torch::nn::functional::conv3d(torch::cat({x0, x0, x0}, 2), conv->conv->weight,
                                              torch::nn::functional::Conv3dFuncOptions().bias(conv->conv->bias).padding(
                                                  std::vector<int64_t>{0, 1, 1}));
  EXPECT_LT(rel_l2(ref.narrow(2, 0, 1), manual), 1e-6);
}

TEST(VaeDecode, TimeSlicedConvolutionsChangeNothing) {
  auto vae = tiny_vae();
  auto z = torch::randn({1, 4, 3, 2, 3});
  auto ref = vae.decode(z);
  vae.run_options().conv_chunk_bytes = 1;  // one frame per convolution call
  auto sliced = vae.decode(z);
  EXPECT_LT(rel_l2(sliced, ref), 1e-6);
}

TEST(VaeDecode, StreamingSinkGetsAllFramesInOrder) {
  auto vae = tiny_vae();
  auto z = torch::randn({1, 4, 6, 2, 3});  // even: chunks of 2 -> 8 frames each
  auto ref = vae.decode(z);
  std::vector<int64_t> firsts;
  std::vector<torch::Tensor> got;
  auto none = vae.decode(z, [&](const torch::Tensor& f, int64_t first) {
    firsts.push_back(first);
    got.push_back(f.clone());
  });
  EXPECT_FALSE(none.defined());
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 8, 16}));
  auto cat = torch::cat(got, 2);
  EXPECT_EQ(cat.size(2), 24);
  EXPECT_EQ(rel_l2(cat, ref), 0.0);
}

namespace {
VaeConfig tiling_config() {
  auto c = mf::vae::testing::tiny_config();
  c.sample_height = 96;  // tiles of 48x40 pixels (6x5 latents): the kept part is exactly stride x 8
  c.sample_width = 80;
  return c;
}
}  // namespace

TEST(VaeDecode, TiledStreamingMatchesTiledWhole) {
  auto vae = tiny_vae(11, tiling_config());
  vae.enable_tiling();
  auto z = torch::randn({1, 4, 3, 12, 10});
  ASSERT_TRUE(vae.decode_uses_tiles(12, 10));
  auto whole = vae.decode(z);
  EXPECT_EQ(whole.sizes(), (std::vector<int64_t>{1, 3, 9, 96, 80}));
  std::vector<int64_t> firsts;
  std::vector<torch::Tensor> got;
  vae.decode(z, [&](const torch::Tensor& f, int64_t first) {
    firsts.push_back(first);
    got.push_back(f.clone());
  });
  EXPECT_EQ(firsts, (std::vector<int64_t>{0}));
  EXPECT_EQ(rel_l2(torch::cat(got, 2), whole), 0.0);
  auto z2 = torch::randn({1, 4, 4, 12, 10});
  firsts.clear();
  vae.decode(z2, [&](const torch::Tensor& f, int64_t first) { firsts.push_back(first); });
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 8}));
}

TEST(VaeDecode, TiledEqualsUntiledForAPointwiseDecoder) {
  // With random weights tiled != untiled (tiles see their own GroupNorm statistics and borders). Zeroing every
  // weight except decoder.norm_out.conv_b and the current-frame centre tap of decoder.conv_out leaves a decoder
  // whose every output pixel is a function of the one latent pixel under it (nearest upsampling). Then any
  // misplaced tile, wrong crop or wrong blend offset shows up, and a correct tiled decode equals the untiled one.
  auto vae = tiny_vae(5, tiling_config());
  {
    torch::NoGradGuard ng;
    for (auto& p : vae.model()->named_parameters()) p.value().zero_();
    auto params = vae.model()->named_parameters();
    params["decoder.norm_out.conv_b.conv.weight"].normal_();
    params["decoder.norm_out.conv_b.conv.bias"].normal_();
    params["decoder.conv_out.conv.weight"].select(2, 2).select(2, 1).select(2, 1).normal_();
    params["decoder.conv_out.conv.bias"].normal_();
  }
  auto z = torch::randn({1, 4, 2, 12, 10});
  auto untiled = vae.decode(z);
  vae.enable_tiling();
  auto tiled = vae.decode(z);
  ASSERT_EQ(tiled.sizes(), untiled.sizes());
  EXPECT_GT(untiled.std().item<double>(), 0.1);
  EXPECT_LT(rel_l2(tiled, untiled), 1e-6);
  // and the decoder is indeed pointwise: shifting the latents by one pixel shifts the frames by 8
  auto shifted = vae.decode(torch::roll(z, {1}, {4}));
  EXPECT_LT(rel_l2(shifted.narrow(4, 8, 72), untiled.narrow(4, 0, 72)), 1e-6);
}

TEST(VaeDecode, BlendIsTheOfficialRamp) {
  auto a = torch::full({1, 1, 1, 4, 3}, 10.0);
  auto b = torch::zeros({1, 1, 1, 4, 3});
  blend_vertical(a, b, 2);  // rows 0,1 of b = a[-2 + y] * (1 - y/2) + b[y] * y/2
  EXPECT_FLOAT_EQ(b[0][0][0][0][0].item<float>(), 10.0f);
  EXPECT_FLOAT_EQ(b[0][0][0][1][0].item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(b[0][0][0][2][0].item<float>(), 0.0f);
  auto c = torch::arange(6, torch::kFloat).view({1, 1, 1, 1, 6});
  auto d = torch::zeros({1, 1, 1, 1, 6});
  blend_horizontal(c, d, 3);  // d[x] = c[3 + x] * (1 - x/3)
  EXPECT_FLOAT_EQ(d[0][0][0][0][0].item<float>(), 3.0f);
  EXPECT_NEAR(d[0][0][0][0][1].item<float>(), 4.0 * 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(d[0][0][0][0][2].item<float>(), 5.0 / 3.0, 1e-6);
  EXPECT_FLOAT_EQ(d[0][0][0][0][3].item<float>(), 0.0f);
}

TEST(VaeDecode, RejectsWrongShapes) {
  auto vae = tiny_vae();
  EXPECT_THROW(vae.decode(torch::randn({1, 5, 2, 2, 3})), mf::Error);
  EXPECT_THROW(vae.decode(torch::randn({4, 2, 2, 3})), mf::Error);
}
