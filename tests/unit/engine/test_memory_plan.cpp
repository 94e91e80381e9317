// Memory plan: parameter counts against the real modules, the MfM-2B/8B numbers, residency choice and refusal.
#include <gtest/gtest.h>

#include <set>

#include "mf/core/error.h"
#include "mf/engine/memory_plan.h"
#include "mf/engine/test_backend.h"
#include "mf/mfm/transformer.h"
#include "mf/text/t5_encoder.h"
#include "mf/vae/modules.h"

using namespace mf::engine;

namespace {
int64_t unique_params(const torch::nn::Module& m) {
  std::set<const void*> seen;
  int64_t n = 0;
  for (const auto& p : m.parameters())
    if (seen.insert(p.data_ptr()).second) n += p.numel();
  return n;
}
PlanRequest request(int frames, int h, int w, int64_t device_gib) {
  PlanRequest r;
  r.num_frames = frames;
  r.height = h;
  r.width = w;
  r.batch = 2;
  r.dtype_bytes = 2;
  r.efficient_attention = true;
  r.device_budget_bytes = device_gib << 30;
  r.host_budget_bytes = int64_t(128) << 30;
  return r;
}
}  // namespace

TEST(MemoryPlan, VaeDecoderCountMatchesTheModule) {
  for (auto layers : {1, 3}) {
    auto cfg = TestBackend::tiny_vae_config();
    cfg.layers_per_block = layers;
    mf::vae::Decoder3D dec(cfg);
    EXPECT_EQ(vae_decoder_parameter_count(cfg), unique_params(*dec)) << "layers_per_block " << layers;
  }
}

TEST(MemoryPlan, T5CountMatchesTheModule) {
  auto cfg = TestBackend::tiny_t5_config();
  mf::text::T5Encoder t5(cfg);
  EXPECT_EQ(t5_encoder_parameter_count(cfg), unique_params(*t5));
  cfg.feed_forward_proj = "relu";
  mf::text::T5Encoder t5r(cfg);
  EXPECT_EQ(t5_encoder_parameter_count(cfg), unique_params(*t5r));
  // flan-t5-xl encoder: 32128 x 2048 embedding + 24 x (4 x 2048^2 + 3 x 2048 x 5120 + 2 x 2048) + 2048 + 32 x 32.
  EXPECT_EQ(t5_encoder_parameter_count(mf::text::T5Config::xl()),
            int64_t(32128) * 2048 + 24 * (int64_t(4) * 2048 * 2048 + int64_t(3) * 2048 * 5120 + 2 * 2048) + 2048 + 32 * 32);
}

TEST(MemoryPlan, DitCountMatchesTheModuleIncludingOneBlock) {
  auto cfg = TestBackend::tiny_dit_config();
  int64_t per_block = 0;
  const int64_t n = dit_parameter_count(cfg, &per_block);
  mf::mfm::Transformer3DModel model(cfg);  // on the CPU this time
  EXPECT_EQ(n, unique_params(*model));
  EXPECT_EQ(per_block, unique_params(*model->block(1)));
}

TEST(MemoryPlan, MfM2BAt97x352x640) {
  auto p = plan_memory("MfM-2B", mf::mfm::Config::mfm_2b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                       request(97, 352, 640, 80));
  EXPECT_EQ(p.latent_frames, 25);
  EXPECT_EQ(p.latent_height, 44);
  EXPECT_EQ(p.latent_width, 80);
  EXPECT_EQ(p.tokens, 25 * 22 * 40);
  EXPECT_GT(p.dit_params, int64_t(1.5e9));
  EXPECT_LT(p.dit_params, int64_t(2.6e9));
  EXPECT_EQ(p.dit_blocks, 28);
  EXPECT_EQ(p.weights_bytes.at("dit"), p.dit_params * 2);
  ASSERT_TRUE(p.fits) << p.message;
  EXPECT_EQ(p.chosen, Residency::AllResident);
  // Every further residency needs no more device memory than the one before.
  for (size_t i = 1; i < p.options.size(); ++i)
    EXPECT_LE(p.options[i].device_peak_bytes, p.options[i - 1].device_peak_bytes) << i;
  EXPECT_LT(p.options.back().device_peak_bytes, p.options.front().device_peak_bytes);
  // The math attention path needs the [B, NH, S, S] scores: 2 x 2 x 28 x 22000^2 x 2 bytes.
  auto rq = request(97, 352, 640, 80);
  rq.efficient_attention = false;
  auto m = plan_memory("MfM-2B", mf::mfm::Config::mfm_2b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(), rq);
  EXPECT_EQ(m.activation_bytes.at("attention_scores"), int64_t(2) * 2 * 28 * 22000 * 22000 * 2);
  EXPECT_FALSE(m.fits);
  EXPECT_NE(m.message.find("memory-efficient attention"), std::string::npos);
}

TEST(MemoryPlan, MfM8BAt97x720x1280ChoosesACheaperResidencyOnA24GiBCard) {
  auto p80 = plan_memory("MfM-8B", mf::mfm::Config::mfm_8b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                         request(97, 720, 1280, 80));
  EXPECT_EQ(p80.tokens, 25 * 45 * 80);
  EXPECT_GT(p80.dit_params, int64_t(6e9));
  EXPECT_LT(p80.dit_params, int64_t(10e9));
  EXPECT_EQ(p80.dit_blocks, 40);
  ASSERT_TRUE(p80.fits);
  auto p24 = plan_memory("MfM-8B", mf::mfm::Config::mfm_8b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                         request(97, 720, 1280, 24));
  ASSERT_TRUE(p24.fits) << p24.message;
  EXPECT_EQ(p24.chosen, Residency::StreamDitBlocks);  // 8B bf16 weights alone are ~16 GiB
  EXPECT_LE(p24.device_peak_bytes, int64_t(24) << 30);
  EXPECT_GE(p24.host_peak_bytes, p24.weights_bytes.at("dit"));  // the streamed blocks live in host memory
  auto p4 = plan_memory("MfM-8B", mf::mfm::Config::mfm_8b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                        request(97, 720, 1280, 4));
  EXPECT_FALSE(p4.fits);
  EXPECT_NE(p4.message.find("97x720x1280"), std::string::npos) << p4.message;
  EXPECT_NE(p4.message.find("Lower the frame count"), std::string::npos) << p4.message;
  // The JSON carries the numbers the plan is based on.
  auto j = p24.to_json();
  EXPECT_EQ(j.at("chosen"), "stream_dit_blocks");
  EXPECT_EQ(j.at("parameters").at("dit"), p24.dit_params);
  EXPECT_EQ(j.at("options").size(), 4u);
  EXPECT_NE(p24.to_text().find("stream_dit_blocks"), std::string::npos);
}

TEST(MemoryPlan, SmallerBudgetsPickLaterResidencies) {
  auto base = plan_memory("MfM-2B", mf::mfm::Config::mfm_2b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                          request(97, 352, 640, 80));
  for (size_t i = 0; i < base.options.size(); ++i) {
    auto rq = request(97, 352, 640, 0);
    rq.device_budget_bytes = base.options[i].device_peak_bytes;
    auto p = plan_memory("MfM-2B", mf::mfm::Config::mfm_2b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(), rq);
    ASSERT_TRUE(p.fits);
    EXPECT_LE(static_cast<size_t>(p.chosen), i);
    EXPECT_LE(p.device_peak_bytes, rq.device_budget_bytes);
  }
  EXPECT_THROW(plan_memory("x", mf::mfm::Config::mfm_2b(), mf::vae::VaeConfig{}, mf::text::T5Config::xl(),
                           request(0, 352, 640, 80)),
               mf::Error);
}
