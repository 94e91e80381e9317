// Encode: frame counts of the 8-frame chunking, the latent distribution, sampling with a generator.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "vae_test_util.h"

using namespace mf::vae;
using mf::vae::testing::rel_l2;
using mf::vae::testing::tiny_vae;

TEST(VaeEncode, FrameCountsAndShapes) {
  auto vae = tiny_vae();
  EXPECT_EQ(vae.encoded_frames(1), 1);
  EXPECT_EQ(vae.encoded_frames(9), 3);
  EXPECT_EQ(vae.encoded_frames(8), 2);
  EXPECT_EQ(vae.encoded_frames(16), 4);
  EXPECT_EQ(vae.encoded_frames(17), 5);
  EXPECT_EQ(vae.encoded_frames(97), 25);
  for (int64_t t : {1, 8, 9, 17}) {
    auto video = torch::rand({1, 3, t, 16, 24}) * 2 - 1;
    auto d = vae.encode(video);
    EXPECT_EQ(d.mean.sizes(), (std::vector<int64_t>{1, 4, vae.encoded_frames(t), 2, 3})) << t;
    EXPECT_EQ(d.logvar.sizes(), d.mean.sizes());
    EXPECT_LE(d.logvar.max().item<double>(), 20.0);
    EXPECT_GE(d.logvar.min().item<double>(), -30.0);
  }
}

TEST(VaeEncode, SecondChunkUsesTheCarriedCache) {
  // 17 frames = chunk [0,9) then [9,17): latents 3..4 come from the second chunk and depend on the first
  auto vae = tiny_vae();
  auto video = torch::rand({1, 3, 17, 16, 16}) * 2 - 1;
  auto a = vae.encode(video).mean;
  auto changed = video.clone();
  changed.narrow(2, 0, 9).mul_(-1);
  auto b = vae.encode(changed).mean;
  EXPECT_GT(rel_l2(b.narrow(2, 3, 2), a.narrow(2, 3, 2)), 1e-4);
  // the causal direction: changing the last chunk leaves the first chunk's latents alone
  auto later = video.clone();
  later.narrow(2, 9, 8).mul_(-1);
  auto c = vae.encode(later).mean;
  EXPECT_EQ(rel_l2(c.narrow(2, 0, 3), a.narrow(2, 0, 3)), 0.0);
}

TEST(VaeEncode, SampleUsesTheGenerator) {
  auto vae = tiny_vae();
  auto d = vae.encode(torch::rand({1, 3, 9, 16, 16}) * 2 - 1);
  auto g1 = at::detail::createCPUGenerator(42);
  auto g2 = at::detail::createCPUGenerator(42);
  auto s1 = d.sample(g1);
  auto s2 = d.sample(g2);
  EXPECT_EQ(rel_l2(s1, s2), 0.0);
  auto g3 = at::detail::createCPUGenerator(42);
  auto eps = torch::randn(d.mean.sizes(), g3);
  EXPECT_LT(rel_l2(s1, d.mean + torch::exp(0.5 * d.logvar) * eps), 1e-6);
  EXPECT_EQ(rel_l2(d.mode(), d.mean), 0.0);
}

TEST(VaeEncode, TiledEncodeKeepsTheLatentGrid) {
  auto cfg = mf::vae::testing::tiny_config();
  cfg.sample_height = 96;
  cfg.sample_width = 80;
  auto vae = tiny_vae(9, cfg);
  vae.enable_tiling();
  ASSERT_TRUE(vae.encode_uses_tiles(96, 80));
  auto d = vae.encode(torch::rand({1, 3, 5, 96, 80}) * 2 - 1);
  EXPECT_EQ(d.mean.sizes(), (std::vector<int64_t>{1, 4, 2, 12, 10}));
}
