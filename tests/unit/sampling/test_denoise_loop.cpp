// The reference Euler + CFG loop: ideal-velocity convergence, callbacks, bf16 latents, cancellation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "mf/core/error.h"
#include "mf/sampling/denoise_loop.h"

using namespace mf::sampling;

namespace {

FlowMatchSchedule schedule(int steps, double shift = 5.0) {
  FlowMatchEulerConfig c;
  c.shift = shift;
  return flow_match_schedule(c, steps);
}

}  // namespace

TEST(DenoiseLoop, IdealVelocityReachesTheTarget) {
  // A model that knows the clean sample x0: v = (x - x0) / sigma (the flow-matching velocity eps - x0).
  const std::vector<float> target = {0.5f, -1.25f, 2.0f, 0.0f};
  std::vector<float> x = {1.0f, -0.3f, 0.7f, 2.2f};  // "noise" at sigma = 1
  const auto sched = schedule(10);
  int calls = 0;
  std::vector<float> seen_t;
  std::vector<StepEvent> events;
  EulerLoopOptions opt;
  opt.guidance_scale = 1.0;  // no CFG: prediction has n values
  opt.on_step = [&](const StepEvent& e, const float*, const float* x0) {
    events.push_back(e);
    for (size_t k = 0; k < target.size(); ++k) EXPECT_NEAR(x0[k], target[k], 1e-5) << "step " << e.index;
  };
  run_euler_loop(sched, x.data(), x.size(),
                 [&](const float* lat, float t, float* pred) {
                   ++calls;
                   seen_t.push_back(t);
                   const float sigma = t / 1000.0f;
                   for (size_t k = 0; k < target.size(); ++k) pred[k] = (lat[k] - target[k]) / sigma;
                 },
                 opt);
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(seen_t, sched.timesteps);
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[3].index, 3);
  EXPECT_EQ(events[3].count, 10);
  EXPECT_EQ(events[3].sigma, sched.sigmas[3]);
  EXPECT_EQ(events[9].sigma_next, 0.0f);
  for (size_t k = 0; k < target.size(); ++k) EXPECT_NEAR(x[k], target[k], 1e-5);
}

TEST(DenoiseLoop, CfgCombinesUncondFirstAndRoundsToBf16) {
  const auto sched = schedule(4);
  std::vector<float> x = {0.3f, -0.7f, 1.1f};
  std::vector<float> manual = x;
  EulerLoopOptions opt;
  opt.guidance_scale = 6.0;
  opt.bf16_latents = true;
  auto model = [](const float* lat, float, float* pred) {
    for (int k = 0; k < 3; ++k) {
      pred[k] = 0.1f * lat[k];      // unconditional half
      pred[3 + k] = 0.2f * lat[k];  // conditional half
    }
  };
  run_euler_loop(sched, x.data(), 3, model, opt);
  for (int i = 0; i < 4; ++i) {
    float pred[6], v[3];
    model(manual.data(), 0.0f, pred);
    cfg_combine(pred, pred + 3, 3, 6.0, v);
    euler_step(manual.data(), v, 3, sched.sigmas[i], sched.sigmas[i + 1], manual.data());
    for (float& m : manual) m = round_to_bf16(m);
  }
  EXPECT_EQ(x, manual);
  for (float vx : x) {
    uint32_t bits;
    std::memcpy(&bits, &vx, 4);
    EXPECT_EQ(bits & 0xffffu, 0u);
  }
}

TEST(DenoiseLoop, CancelsBetweenSteps) {
  const auto sched = schedule(5);
  std::vector<float> x = {1.0f};
  CancelFlag flag;
  int calls = 0;
  EulerLoopOptions opt;
  opt.guidance_scale = 0.0;
  opt.cancel = &flag;
  opt.on_step = [&](const StepEvent& e, const float*, const float*) {
    if (e.index == 1) flag.cancel();
  };
  try {
    run_euler_loop(sched, x.data(), 1, [&](const float*, float, float* p) { ++calls; p[0] = 0.0f; }, opt);
    FAIL() << "not cancelled";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::Cancelled);
  }
  EXPECT_EQ(calls, 2);
  flag.reset();
  EXPECT_FALSE(flag.cancelled());
}
