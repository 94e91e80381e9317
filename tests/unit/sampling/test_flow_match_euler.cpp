// FlowMatch Euler schedule vs the official diffusers 0.33.1 outputs (shared/parity), and the step maths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/sampling/flow_match_euler.h"
#include "tiny_safetensors.h"

using mf::sampling::FlowMatchEulerConfig;

namespace {

const std::string kShared = MF_SHARED_DIR;

int32_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = static_cast<int32_t>(0x80000000u - static_cast<uint32_t>(ia));
  if (ib < 0) ib = static_cast<int32_t>(0x80000000u - static_cast<uint32_t>(ib));
  return std::abs(ia - ib);
}

}  // namespace

TEST(FlowMatchEuler, MatchesDiffusersSchedulesBitExact) {
  mf::testing::TinySafetensors f(kShared + "/parity/flowmatch_euler_schedules.safetensors");
  int combos = 0, max_ulp = 0, inexact = 0;
  for (int shift : {1, 3, 5, 7, 12, 17}) {
    for (int n : {1, 4, 10, 25, 30, 50}) {
      const std::string key = "shift" + std::to_string(shift) + "_n" + std::to_string(n);
      ASSERT_TRUE(f.has(key + ".sigmas")) << key;
      const std::vector<float> ref_s = f.floats(key + ".sigmas");
      const std::vector<float> ref_t = f.floats(key + ".timesteps");
      FlowMatchEulerConfig c;
      c.shift = shift;
      const auto s = mf::sampling::flow_match_schedule(c, n);
      ASSERT_EQ(s.sigmas.size(), ref_s.size()) << key;
      ASSERT_EQ(s.timesteps.size(), ref_t.size()) << key;
      EXPECT_EQ(s.sigmas.back(), 0.0f);
      for (size_t i = 0; i < ref_s.size(); ++i) {
        const int u = ulp_distance(s.sigmas[i], ref_s[i]);
        max_ulp = std::max(max_ulp, u);
        inexact += u != 0;
        EXPECT_LE(u, 1) << key << " sigma[" << i << "] " << s.sigmas[i] << " vs " << ref_s[i];
      }
      for (size_t i = 0; i < ref_t.size(); ++i) {
        const int u = ulp_distance(s.timesteps[i], ref_t[i]);
        max_ulp = std::max(max_ulp, u);
        inexact += u != 0;
        EXPECT_LE(u, 1) << key << " timestep[" << i << "] " << s.timesteps[i] << " vs " << ref_t[i];
      }
      ++combos;
    }
  }
  EXPECT_EQ(combos, 36);
  // The port aims at bit-exactness, not just 1 ulp.
  EXPECT_EQ(inexact, 0) << "max ulp distance " << max_ulp;
}

TEST(FlowMatchEuler, MatchesPipelineGoldensShift5) {
  // The pipeline goldens ran FlowMatchEulerDiscrete(num_train_timesteps=1000, shift=5) with 3 steps.
  FlowMatchEulerConfig c;
  c.shift = 5.0;
  const auto s = mf::sampling::flow_match_schedule(c, 3);
  for (const char* task : {"t2v", "t2i", "i2v", "itrans", "vexd", "vtrans", "vinp", "voutp", "vcolor", "vsr",
                           "vedit", "isr", "icolor", "iinp", "ioutp"}) {
    mf::testing::TinySafetensors f(kShared + "/parity/pipeline/mfm_pipeline_" + std::string(task) +
                                   ".safetensors");
    const auto sig = f.floats("out.sigmas");
    const auto ts = f.floats("out.timesteps");
    ASSERT_EQ(sig.size(), s.sigmas.size()) << task;
    ASSERT_EQ(ts.size(), s.timesteps.size()) << task;
    for (size_t i = 0; i < sig.size(); ++i) EXPECT_EQ(sig[i], s.sigmas[i]) << task << " sigma " << i;
    for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(ts[i], s.timesteps[i]) << task << " timestep " << i;
  }
}

TEST(FlowMatchEuler, DoubleShiftIsApplied) {
  // sigma_min of the training table is already shifted; set_timesteps shifts it again, so the last real sigma
  // is larger than the once-shifted training minimum (diffusers behaviour the official model was run with).
  FlowMatchEulerConfig c;
  c.shift = 5.0;
  const auto train = mf::sampling::flow_match_training_sigmas(c);
  ASSERT_EQ(train.size(), 1000u);
  EXPECT_EQ(train.front(), 1.0f);
  const float once = train.back();
  EXPECT_NEAR(once, 5.0 * 0.001 / (1.0 + 4.0 * 0.001), 1e-7);
  const auto s = mf::sampling::flow_match_schedule(c, 10);
  const double twice = 5.0 * once / (1.0 + 4.0 * once);
  EXPECT_NEAR(s.sigmas[9], twice, 1e-7);
  EXPECT_GT(s.sigmas[9], once);
}

TEST(FlowMatchEuler, TScheduleMatchesReferenceTable) {
  // mfm-reference.md C.7: t_schedule(30) before the scheduler shift starts 1.0, 0.9979, 0.99566 and ends
  // 0.41304, 0.23636, 0.0.
  const auto x = mf::sampling::mfm_t_schedule_sigmas(30);
  ASSERT_EQ(x.size(), 30u);
  EXPECT_DOUBLE_EQ(x[0], 1.0);
  EXPECT_NEAR(x[1], 0.9979, 5e-5);
  EXPECT_NEAR(x[2], 0.99566, 5e-6);
  EXPECT_NEAR(x[27], 0.41304, 5e-6);
  EXPECT_NEAR(x[28], 0.23636, 5e-6);
  EXPECT_EQ(x[29], 0.0);
  // Through the scheduler (shift 1 keeps them): float32 cast, terminal 0 appended, so the last step has dt = 0.
  FlowMatchEulerConfig c;
  const auto s = mf::sampling::mfm_schedule(c, 30, true);
  ASSERT_EQ(s.sigmas.size(), 31u);
  EXPECT_EQ(s.sigmas[29], 0.0f);
  EXPECT_EQ(s.sigmas[30], 0.0f);
  EXPECT_EQ(s.sigmas[1], static_cast<float>(x[1]));
  // With a shift the scheduler shifts again, in float32.
  c.shift = 5.0;
  const auto s5 = mf::sampling::mfm_schedule(c, 30, true);
  const float x1 = static_cast<float>(x[1]);
  EXPECT_EQ(s5.sigmas[1], (5.0f * x1) / (1.0f + 4.0f * x1));
  EXPECT_EQ(s5.timesteps[1], s5.sigmas[1] * 1000.0f);
  // One step: pivot int(0.6) = 0, so s = 17 and x = [1].
  const auto one = mf::sampling::mfm_t_schedule_sigmas(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], 1.0);
}

TEST(FlowMatchEuler, EulerStepAndCfg) {
  std::vector<float> x = {1.0f, -2.0f, 0.5f}, v = {0.25f, 1.0f, -4.0f}, out(3);
  mf::sampling::euler_step(x.data(), v.data(), 3, 0.75f, 0.5f, out.data());
  EXPECT_FLOAT_EQ(out[0], 1.0f - 0.25f * 0.25f);
  EXPECT_FLOAT_EQ(out[1], -2.0f - 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.5f + 1.0f);
  // In place.
  mf::sampling::euler_step(x.data(), v.data(), 3, 0.75f, 0.5f, x.data());
  EXPECT_EQ(x, out);

  std::vector<float> u = {1.0f, 2.0f}, c = {3.0f, 0.0f}, g(2);
  mf::sampling::cfg_combine(u.data(), c.data(), 2, 6.0, g.data());
  EXPECT_FLOAT_EQ(g[0], 1.0f + 6.0f * 2.0f);
  EXPECT_FLOAT_EQ(g[1], 2.0f - 12.0f);
  mf::sampling::cfg_combine(u.data(), c.data(), 2, 1.0, g.data());
  EXPECT_EQ(g, c);  // g = 1 gives the conditional prediction

  std::vector<float> x0(3);
  std::vector<float> xs = {1.0f, -2.0f, 0.5f};
  mf::sampling::predict_x0(xs.data(), v.data(), 3, 1.0f, x0.data());
  EXPECT_FLOAT_EQ(x0[2], 4.5f);
}

TEST(FlowMatchEuler, Bf16Rounding) {
  EXPECT_EQ(mf::sampling::round_to_bf16(1.0f), 1.0f);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even -> 1.
  EXPECT_EQ(mf::sampling::round_to_bf16(1.0f + 1.0f / 256.0f), 1.0f);
  EXPECT_EQ(mf::sampling::round_to_bf16(1.0f + 3.0f / 256.0f), 1.0f + 4.0f / 256.0f);
  EXPECT_TRUE(std::isnan(mf::sampling::round_to_bf16(std::nanf(""))));
}

TEST(FlowMatchEuler, RejectsBadInputs) {
  FlowMatchEulerConfig c;
  EXPECT_THROW(mf::sampling::flow_match_schedule(c, 0), mf::Error);
  c.shift = -1.0;
  EXPECT_THROW(mf::sampling::flow_match_schedule(c, 4), mf::Error);
}

TEST(FlowMatchEuler, ParsesSchedulerConfig) {
  const auto j = nlohmann::json::parse(
      R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.33.1",
          "num_train_timesteps": 1000, "shift": 7.0, "use_dynamic_shifting": false})");
  const auto c = mf::sampling::parse_scheduler_config(j, "scheduler_config.json");
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_EQ(c.shift, 7.0);
  auto bad = j;
  bad["use_dynamic_shifting"] = true;
  try {
    mf::sampling::parse_scheduler_config(bad, "scheduler_config.json");
    FAIL() << "dynamic shifting accepted";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("use_dynamic_shifting"), std::string::npos);
  }
  auto other = j;
  other["_class_name"] = "DDIMScheduler";
  EXPECT_THROW(mf::sampling::parse_scheduler_config(other, "x"), mf::Error);
  auto neg = j;
  neg["shift"] = -3;
  EXPECT_THROW(mf::sampling::parse_scheduler_config(neg, "x"), mf::Error);
}

TEST(FlowMatchEuler, FirstStepMatchesPipelineGoldensBitExact) {
  // latents_step0 = noise + (sigma1 - sigma0) * (u + g (c - u)) with u, c = noise_pred_step0[0], [1]: the CFG
  // combine and the Euler step exactly as the official loop (run in float32 for the goldens).
  for (const char* task : {"t2v", "t2i", "i2v", "itrans", "vexd", "vtrans", "vinp", "voutp", "vcolor", "vsr",
                           "vedit", "isr", "icolor", "iinp", "ioutp"}) {
    SCOPED_TRACE(task);
    mf::testing::TinySafetensors f(kShared + "/parity/pipeline/mfm_pipeline_" + std::string(task) + ".safetensors");
    const auto call = nlohmann::json::parse(f.metadata().at("call"));
    const double g = call["guidance_scale"].get<double>();
    const auto noise = f.floats("in.noise");
    const auto pred = f.floats("out.noise_pred_step0");
    const auto ref = f.floats("out.latents_step0");
    const auto sig = f.floats("out.sigmas");
    const size_t n = noise.size();
    ASSERT_EQ(pred.size(), 2 * n);
    std::vector<float> v(n), out(n);
    mf::sampling::cfg_combine(pred.data(), pred.data() + n, n, g, v.data());
    mf::sampling::euler_step(noise.data(), v.data(), n, sig[0], sig[1], out.data());
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad += out[i] != ref[i];
    EXPECT_EQ(bad, 0u) << "of " << n;
  }
}
