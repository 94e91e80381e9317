// The pipeline vs the official MfMPipeline for all 15 tasks (../shared/parity/pipeline, see its README): the tiny
// transformer and VAE of mfm_pipeline_tiny_weights.safetensors, the recorded T5 output, the depth stand-in and the
// recorded noise injected through PrepareOverrides; everything else (validation, prompts, token ids, conditions,
// CFG batching, schedule, Euler loop with CFG, decode and post-processing) is Manyfold's own code.
#include <gtest/gtest.h>

#include "pipeline_test_util.h"

using namespace mf::pipeline;
using namespace mf::pipeline::testing;

namespace {

Pipeline& pipe() {
  static std::unique_ptr<Pipeline> p = golden_pipeline();
  return *p;
}

class PipelineParity : public ::testing::TestWithParam<std::string> {};

TEST_P(PipelineParity, MatchesOfficialPipeline) {
  const std::string key = GetParam();
  GoldenCase g = golden_case(key);
  // The prompt the driver built is what build_prompts() builds from the user prompt.
  EXPECT_EQ(mf::tasks::build_prompts(g.spec).positive, g.md.at("prompt"));

  Prepared p = pipe().prepare(g.spec, g.overrides);

  // Token ids of the lower-cased prompts (exact).
  ASSERT_TRUE(p.token_ids.defined());
  ASSERT_EQ(p.token_ids.size(0), 2);
  EXPECT_TRUE(torch::equal(p.token_ids[0], g.read("out.token_ids_negative")[0]));
  EXPECT_TRUE(torch::equal(p.token_ids[1], g.read("out.token_ids_positive")[0]));

  // Conditions: the conditional half (index 1) equals out.conditional_*; the unconditional half has depth 0.
  const auto ref_pv = g.read("out.conditional_pixel_values")[0];  // [4, T, H, W]
  const auto ref_m = g.read("out.conditional_masks")[0];          // [1, T, H, W]
  ASSERT_EQ(p.cond_pixels.sizes().vec(), (std::vector<int64_t>{2, 4, ref_pv.size(1), ref_pv.size(2), ref_pv.size(3)}));
  EXPECT_TRUE(torch::equal(p.cond_pixels[1].slice(0, 0, 3), ref_pv.slice(0, 0, 3))) << "RGB x mask";
  EXPECT_LE((p.cond_pixels[1][3] - ref_pv[3]).abs().max().item<float>(), 1e-5f) << "depth channel";
  EXPECT_TRUE(torch::equal(p.cond_masks[1], ref_m)) << "masks";
  EXPECT_TRUE(torch::equal(p.cond_masks[0], ref_m));
  EXPECT_TRUE(torch::equal(p.cond_pixels[0].slice(0, 0, 3), ref_pv.slice(0, 0, 3)));
  EXPECT_EQ(p.cond_pixels[0][3].abs().max().item<float>(), 0.0f) << "uncond depth must be zero";
  EXPECT_TRUE(torch::equal(p.motion_score, g.read("out.motion_score")));

  // Schedule (exact float32).
  const auto sig = g.read("out.sigmas"), ts = g.read("out.timesteps");
  ASSERT_EQ(static_cast<int64_t>(p.sigmas.size()), sig.numel());
  ASSERT_EQ(static_cast<int64_t>(p.timesteps.size()), ts.numel());
  for (int64_t i = 0; i < sig.numel(); ++i) EXPECT_EQ(p.sigmas[i], sig[i].item<float>()) << "sigma " << i;
  for (int64_t i = 0; i < ts.numel(); ++i) EXPECT_EQ(p.timesteps[i], ts[i].item<float>()) << "timestep " << i;

  const int steps = static_cast<int>(p.timesteps.size());
  // Free-running: every step's latents and the raw prediction of step 0.
  std::vector<torch::Tensor> free_latents;
  torch::Tensor pred0;
  DenoiseControl ctl;
  ctl.on_step = [&](const StepEvent& e) {
    if (e.step == 0) pred0 = e.model_output.clone();
    free_latents.push_back(e.latents.clone());
    return true;
  };
  auto r = pipe().denoise(p, p.initial_latents, 0, ctl);
  ASSERT_TRUE(r.finished());
  ASSERT_EQ(static_cast<int>(free_latents.size()), steps);
  EXPECT_LE(rel_l2(pred0, g.read("out.noise_pred_step0")), 1e-4) << "noise_pred_step0";
  for (int i = 0; i < steps; ++i)
    EXPECT_LE(rel_l2(free_latents[i], g.read("out.latents_step" + std::to_string(i))), 1e-4) << "free step " << i;

  // Teacher-forced: step i from the reference latents of step i - 1 (stop after one step).
  for (int i = 0; i < steps; ++i) {
    const auto in = i == 0 ? g.read("in.noise") : g.read("out.latents_step" + std::to_string(i - 1));
    DenoiseControl one;
    one.on_step = [](const StepEvent&) { return false; };
    auto s = pipe().denoise(p, in, i, one);
    EXPECT_EQ(s.completed_steps, i + 1);
    EXPECT_FALSE(i + 1 < steps && s.finished());
    EXPECT_LE(rel_l2(s.latents, g.read("out.latents_step" + std::to_string(i))), 1e-4) << "teacher-forced " << i;
  }

  // Decoded video (MfMPipeline's return value, stored as float16): from the reference final latents and from ours.
  const auto ref_video = g.read("out.video").to(torch::kFloat);
  const auto video = pipe().decode_video(p, g.read("out.latents_step" + std::to_string(steps - 1)));
  ASSERT_EQ(video.sizes().vec(), ref_video.sizes().vec());
  // fp16 storage: elementwise error up to half an fp16 ulp (2^-11 relative) on top of float32 agreement.
  const auto tol = ref_video.abs() * (1.0 / 2048) + 1e-4;
  EXPECT_TRUE(((video - ref_video).abs() <= tol).all().item<bool>())
      << "max abs err " << (video - ref_video).abs().max().item<float>();
  EXPECT_LE(rel_l2(video, ref_video), 5e-4);
  EXPECT_LE(rel_l2(pipe().decode_video(p, r.latents), ref_video), 5e-4);
}

INSTANTIATE_TEST_SUITE_P(AllTasks, PipelineParity, ::testing::ValuesIn(all_task_keys()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
