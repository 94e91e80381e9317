// Latent preview: the least-squares fit recovers a known linear map; JSON round trip; frame spans.
#include <gtest/gtest.h>

#include <filesystem>

#include "mf/core/error.h"
#include "mf/vae/preview.h"
#include "vae_test_util.h"

using namespace mf::vae;

TEST(VaePreview, FitRecoversAKnownLinearMap) {
  torch::manual_seed(1);
  const int64_t C = 16, N = 4000;
  auto W = torch::randn({3, C}, torch::kFloat64) * 0.3;
  auto b = torch::tensor({0.1, -0.2, 0.05}, torch::kFloat64);
  auto X = torch::randn({N, C}, torch::kFloat64);
  auto Y = X.mm(W.t()) + b + 1e-3 * torch::randn({N, 3}, torch::kFloat64);
  auto p = LatentPreview::fit(X, Y);
  ASSERT_EQ(p.channels(), C);
  for (int o = 0; o < 3; ++o) {
    for (int c = 0; c < C; ++c) EXPECT_NEAR(p.weight[o][c], W[o][c].item<double>(), 2e-4);
    EXPECT_NEAR(p.bias[o], b[o].item<double>(), 2e-4);
  }
  EXPECT_NEAR(p.rmse, 1e-3, 2e-4);
  // applying the map to [B, C, T, h, w] latents gives the same numbers as the formula
  auto lat = torch::randn({1, C, 2, 3, 4});
  auto rgb = p.apply(lat);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{1, 3, 2, 3, 4}));
  auto manual = torch::einsum("oc,bcthw->bothw", {W.to(torch::kFloat), lat}) + b.to(torch::kFloat).view({1, 3, 1, 1, 1});
  EXPECT_LT((rgb - manual).abs().max().item<double>(), 2e-3);
  auto rgb8 = p.to_rgb8(lat);
  EXPECT_EQ(rgb8.sizes(), (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_EQ(rgb8.scalar_type(), torch::kUInt8);
}

TEST(VaePreview, FitThroughDecodedPairsRecoversTheMap) {
  // synthetic "decoder": frames = W z + b upsampled 8x in space and spread over the official frame spans
  torch::manual_seed(2);
  const int64_t C = 4;
  auto W = torch::randn({3, C}, torch::kFloat64) * 0.5;
  auto b = torch::tensor({0.3, 0.0, -0.1}, torch::kFloat64);
  auto z = torch::randn({1, C, 4, 5, 6}, torch::kFloat64);
  auto rgb = torch::einsum("oc,bcthw->bothw", {W, z}) + b.view({1, 3, 1, 1, 1});  // [1,3,4,5,6]
  auto spans = latent_frame_spans(4, 4);
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans.back().second, 16);
  std::vector<torch::Tensor> frames;
  for (size_t k = 0; k < spans.size(); ++k)
    for (int64_t f = spans[k].first; f < spans[k].second; ++f) frames.push_back(rgb.narrow(2, k, 1));
  auto decoded = torch::cat(frames, 2).repeat_interleave(8, 3).repeat_interleave(8, 4);  // [1,3,16,40,48]
  auto [X, Y] = preview_fit_pairs(z, decoded, 8, 4);
  EXPECT_EQ(X.size(0), 4 * 5 * 6);
  auto p = LatentPreview::fit(X, Y);
  for (int o = 0; o < 3; ++o)
    for (int c = 0; c < C; ++c) EXPECT_NEAR(p.weight[o][c], W[o][c].item<double>(), 1e-6);
}

TEST(VaePreview, FrameSpansFollowTheChunking) {
  using P = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(latent_frame_spans(1, 4), (P{{0, 1}}));
  EXPECT_EQ(latent_frame_spans(2, 4), (P{{0, 4}, {4, 8}}));
  EXPECT_EQ(latent_frame_spans(3, 4), (P{{0, 1}, {1, 5}, {5, 9}}));
  EXPECT_EQ(latent_frame_spans(5, 4), (P{{0, 1}, {1, 5}, {5, 9}, {9, 13}, {13, 17}}));
}

TEST(VaePreview, JsonRoundTripAndErrors) {
  LatentPreview p;
  p.weight = {{1, 2}, {3, 4}, {5, 6}};
  p.bias = {0.5, 0.25, 0.125};
  p.model = "m";
  p.fingerprint = "abc";
  auto q = LatentPreview::from_json_text(p.to_json_text(), "t");
  EXPECT_EQ(q.weight, p.weight);
  EXPECT_EQ(q.bias, p.bias);
  EXPECT_EQ(q.fingerprint, "abc");
  EXPECT_THROW(LatentPreview::from_json_text("{}", "t"), mf::Error);
  EXPECT_THROW(LatentPreview::from_json_text("[1,", "t"), mf::Error);
  EXPECT_THROW(LatentPreview::load("/nonexistent.json"), mf::Error);
}

TEST(VaePreview, FitForATinyVaeAndFindItByFingerprint) {
  auto vae = mf::vae::testing::tiny_vae();
  PreviewFitOptions opt;
  opt.videos = 2;
  opt.frames = 5;
  opt.height = 32;
  opt.width = 32;
  auto p = fit_preview_for(vae, opt);
  EXPECT_EQ(p.channels(), 4);
  EXPECT_EQ(p.samples, 2 * 2 * 4 * 4);
  EXPECT_TRUE(std::isfinite(p.rmse));
  auto dir = std::filesystem::temp_directory_path() / ("mf_vae_preview_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  p.save((dir / "tiny.json").string());
  auto found = find_preview(dir.string(), vae);
  EXPECT_EQ(found.weight, p.weight);
  auto other = mf::vae::testing::tiny_vae(99);
  EXPECT_EQ(find_preview(dir.string(), other).channels(), 0);
  std::filesystem::remove_all(dir);
}
