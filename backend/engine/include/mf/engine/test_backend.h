// TestBackend: a small deterministic model for tests and demos of the engine (NOT a product model).
// It does real tensor math so pause/resume exactness, previews and checkpoints are meaningful:
//   latents [1, C, T', h, w] (T' = (frames - 1) / 4 + 1, h = H / 8, w = W / 8), seeded Gaussian noise;
//   a linear "denoiser" v = tanh(W x + b) mixing channels with fixed random weights; flow-match Euler steps
//   over sigmas 1 -> 0 (x += (sigma_next - sigma) v) and x0 = x - sigma v as the predicted clean latents;
//   preview = a fixed 3 x C linear map to RGB; decode = preview upsampled to frames x H x W (nearest), written
//   as a safetensors file ("frames" uint8 [F, H, W, 3]) plus a sidecar JSON recipe.
// Fault injection for tests: `fault(spec, stage, step)` may throw (stage "prepare", "step", "decode").
//
// Threading: as ModelBackend (one worker thread). Options are read-only after construction.
#pragma once

#include <atomic>
#include <functional>

#include "mf/engine/backend.h"

namespace mf::engine {

struct TestBackendOptions {
  int channels = 4;
  int step_delay_ms = 0;   // sleep per step (makes cancel/pause timing tests meaningful)
  uint64_t weight_seed = 7;
  std::function<void(const tasks::TaskSpec& spec, const std::string& stage, int step)> fault;
  // Sizes for the memory plan: a tiny MfM-shaped model so plans and refusals are real computations.
  int64_t resident_bytes = 1 << 20;
};

// Throws c10::OutOfMemoryError with a CUDA-style message (what a real device OOM looks like to the engine).
[[noreturn]] void throw_simulated_oom(const std::string& what);

class TestBackend : public ModelBackend {
 public:
  explicit TestBackend(std::string id, TestBackendOptions options = {});
  std::string model_id() const override { return id_; }
  MemoryPlan plan(const tasks::TaskSpec& spec, const PlanRequest& budget) const override;
  std::shared_ptr<PreparedJob> prepare(const tasks::TaskSpec& spec) override;
  DenoiseOutcome denoise(PreparedJob& job, const torch::Tensor& latents, int start_step,
                         const std::function<bool(const StepInfo&)>& on_step) override;
  WrittenOutputs decode_and_write(PreparedJob& job, const torch::Tensor& latents, const std::string& output_path,
                                  const nlohmann::json& recipe_extra) override;
  torch::Tensor preview(const torch::Tensor& latents) override;
  torch::Tensor decode_preview(PreparedJob& job, const torch::Tensor& latents) override;
  int64_t resident_bytes() const override { return options_.resident_bytes; }
  std::string output_extension(const tasks::TaskSpec&) const override { return ".safetensors"; }

  // The tiny MfM-shaped configs its memory plan uses.
  static mfm::Config tiny_dit_config();
  static vae::VaeConfig tiny_vae_config();
  static text::T5Config tiny_t5_config();

  std::atomic<int> steps_run{0};  // total denoising steps executed (tests)

 private:
  torch::Tensor decode(const torch::Tensor& latents, const tasks::TaskSpec& spec);
  std::string id_;
  TestBackendOptions options_;
  torch::Tensor mix_, bias_, rgb_;  // [C, C], [C], [3, C]
};

}  // namespace mf::engine
