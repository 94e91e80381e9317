// The official denoising loop (mfm-reference.md C.8) on plain float arrays, plus the torch-free types the
// pipeline, engine and UI share: StepEvent (per-step progress) and CancelFlag (cancellation between steps).
//
// run_euler_loop() is the reference semantics the LibTorch pipeline mirrors:
//   for each step i: v = model(latents, timesteps[i]); with CFG (guidance_scale > 1, as the pipeline decides)
//   the model returns [uncond; cond] and v = u + g (c - u); latents = latents + (sigma[i+1] - sigma[i]) v in
//   float32; optionally rounded to bfloat16 (the official bf16 run casts latents after every step); then the
//   step callback sees the new latents and the predicted clean latents x0 = x_i - sigma_i v.
// Cancellation is checked before every model call; a cancelled loop throws mf::Error(ErrorCode::Cancelled).
//
// Thread-safety: CancelFlag may be set from any thread; everything else runs on the caller's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include "mf/sampling/flow_match_euler.h"

namespace mf::sampling {

struct StepEvent {
  int index = 0;           // 0-based step just finished
  int count = 0;           // total steps
  float timestep = 0.0f;   // value fed to the model (sigma * num_train_timesteps)
  float sigma = 0.0f;      // sigma at the start of the step
  float sigma_next = 0.0f; // sigma after the step
};

class CancelFlag {
 public:
  void cancel() { flag_.store(true, std::memory_order_relaxed); }
  void reset() { flag_.store(false, std::memory_order_relaxed); }
  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> flag_{false};
};

// Writes the model's prediction for `latents` ([n] floats) at `timestep` into `prediction`: [2n] (uncond then
// cond) with CFG, else [n].
using VelocityFn = std::function<void(const float* latents, float timestep, float* prediction)>;
// Sees the latents after the step and the predicted clean latents of that step (both [n]).
using StepCallback = std::function<void(const StepEvent&, const float* latents, const float* x0)>;

struct EulerLoopOptions {
  double guidance_scale = 6.0;        // CFG when > 1 (the official rule)
  bool bf16_latents = false;          // round latents to bfloat16 after every step
  const CancelFlag* cancel = nullptr; // checked before each step
  StepCallback on_step;               // optional
};

inline bool uses_cfg(double guidance_scale) { return guidance_scale > 1.0; }

// Runs every step of `schedule` on latents[0, n) in place.
void run_euler_loop(const FlowMatchSchedule& schedule, float* latents, size_t n, const VelocityFn& model,
                    const EulerLoopOptions& options);

}  // namespace mf::sampling
