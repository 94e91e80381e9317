// FlowMatch Euler sampling maths, torch-free, bit-exact with the official stack.
//
// What it reproduces (mfm-reference.md C.7, C.8):
//  - diffusers 0.33.1 FlowMatchEulerDiscreteScheduler(num_train_timesteps, shift).set_timesteps(N): the training
//    sigmas are shifted once in float32 at construction; set_timesteps interpolates between the (already shifted)
//    sigma_max and sigma_min in float64 and shifts AGAIN (the "double shift"), then rounds to float32; timesteps
//    are sigma * num_train_timesteps in float32; a terminal sigma 0 is appended.
//  - The official MfM `t_schedule(N)` (use_t_schedule): float64 sigmas with a varying shift (17 -> 7), handed to
//    set_timesteps(sigmas=...) which casts them to float32 and applies the config shift on top, in float32.
//  - The Euler step x_next = x + (sigma_next - sigma) * v and the CFG combine u + g * (c - u), in float32 with
//    the same operation order as torch (no fused multiply-add).
//
// Everything here works on plain float arrays; the pipeline wraps it for tensors.
// Thread-safety: pure functions and value types; safe to call concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mf::sampling {

// The scheduler_config.json fields the FlowMatch Euler path uses.
struct FlowMatchEulerConfig {
  int num_train_timesteps = 1000;
  double shift = 1.0;  // diffusers default; the MfM folder's scheduler_config.json sets its own
};

// Reads a diffusers scheduler_config.json object. Throws mf::Error(Unsupported) for options this port does not
// implement (dynamic shifting, shift_terminal, inverted/karras/exponential/beta sigmas, another class) and
// mf::Error(BadFile) for malformed values; `source` names the file in messages.
FlowMatchEulerConfig parse_scheduler_config(const nlohmann::json& j, const std::string& source);

// The schedule a denoising loop walks: timesteps[i] is fed to the model at step i, and the step moves from
// sigmas[i] to sigmas[i + 1]. sigmas.size() == timesteps.size() + 1 and sigmas.back() == 0.
struct FlowMatchSchedule {
  std::vector<float> sigmas;     // [N + 1]
  std::vector<float> timesteps;  // [N], sigma * num_train_timesteps
  int steps() const { return static_cast<int>(timesteps.size()); }
};

// The training sigma table built at scheduler construction (float32, descending, length num_train_timesteps).
std::vector<float> flow_match_training_sigmas(const FlowMatchEulerConfig& config);

// set_timesteps(steps). Throws mf::Error(BadInput) if steps < 1.
FlowMatchSchedule flow_match_schedule(const FlowMatchEulerConfig& config, int steps);

// set_timesteps(sigmas=custom): custom sigmas (float64, as a pipeline hands them over) are cast to float32 and
// shifted by the config shift in float32.
FlowMatchSchedule flow_match_schedule_from_sigmas(const FlowMatchEulerConfig& config,
                                                  const std::vector<double>& custom_sigmas);

// The official MfM t_schedule(steps) (before the scheduler's own shift): linspace(1000, 0, steps) / 1000 in
// float64, shift 17 for the first int(0.6 * steps) entries, then blending linearly towards 7. Ends with 0,
// so the last step of a t-schedule run has dt = 0 (a wasted model call, as in the official code).
std::vector<double> mfm_t_schedule_sigmas(int steps);

// What the official pipeline uses: t_schedule through the scheduler when use_t_schedule, else set_timesteps.
FlowMatchSchedule mfm_schedule(const FlowMatchEulerConfig& config, int steps, bool use_t_schedule);

// out[i] = x[i] + (sigma_next - sigma) * v[i], float32 (the scheduler upcasts bf16 latents to float32 first).
// out may alias x or v.
void euler_step(const float* x, const float* v, size_t n, float sigma, float sigma_next, float* out);

// Classifier-free guidance: out[i] = uncond[i] + g * (cond[i] - uncond[i]) in float32 (g rounded to float32, as
// torch does with a Python scalar). out may alias either input.
void cfg_combine(const float* uncond, const float* cond, size_t n, double guidance_scale, float* out);

// The predicted clean sample of a flow-matching velocity model: x0 = x - sigma * v (for previews).
void predict_x0(const float* x, const float* v, size_t n, float sigma, float* out);

// Round-to-nearest-even float32 -> bfloat16 -> float32, as torch's .to(bfloat16) (NaN stays NaN).
float round_to_bf16(float x);

}  // namespace mf::sampling
