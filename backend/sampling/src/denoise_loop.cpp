#include "mf/sampling/denoise_loop.h"

#include <string>
#include <vector>

#include "mf/core/error.h"

namespace mf::sampling {

void run_euler_loop(const FlowMatchSchedule& schedule, float* latents, size_t n, const VelocityFn& model,
                    const EulerLoopOptions& opt) {
  check(static_cast<bool>(model), ErrorCode::Internal, "run_euler_loop: no model function");
  check(schedule.sigmas.size() == schedule.timesteps.size() + 1, ErrorCode::Internal,
        "run_euler_loop: a schedule needs one more sigma than timesteps");
  const bool cfg = uses_cfg(opt.guidance_scale);
  std::vector<float> pred(cfg ? 2 * n : n), v(n), x0(opt.on_step ? n : 0), prev(opt.on_step ? n : 0);
  const int steps = schedule.steps();
  for (int i = 0; i < steps; ++i) {
    if (opt.cancel && opt.cancel->cancelled())
      throw Error(ErrorCode::Cancelled,
                  "cancelled before step " + std::to_string(i + 1) + " of " + std::to_string(steps));
    const float t = schedule.timesteps[i];
    const float s = schedule.sigmas[i], s_next = schedule.sigmas[i + 1];
    model(latents, t, pred.data());
    if (cfg) cfg_combine(pred.data(), pred.data() + n, n, opt.guidance_scale, v.data());
    else v.assign(pred.begin(), pred.end());
    if (opt.on_step) prev.assign(latents, latents + n);
    euler_step(latents, v.data(), n, s, s_next, latents);
    if (opt.bf16_latents)
      for (size_t k = 0; k < n; ++k) latents[k] = round_to_bf16(latents[k]);
    if (opt.on_step) {
      predict_x0(prev.data(), v.data(), n, s, x0.data());
      opt.on_step(StepEvent{i, steps, t, s, s_next}, latents, x0.data());
    }
  }
}

}  // namespace mf::sampling
