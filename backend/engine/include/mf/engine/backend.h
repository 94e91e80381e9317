// The engine's view of a model: the stages of one job (prepare -> denoise from step k with given latents ->
// decode and write), previews and the memory plan. The engine talks to models only through this interface, so it
// is tested with TestBackend (tiny, deterministic, real tensor math) and runs MfM through PipelineBackend (a thin
// wrapper of mf::pipeline::Pipeline, compiled when the pipeline library is in the build).
//
// Threading: a ModelBackend is used by the engine's worker thread only (which holds c10::InferenceMode).
// Callbacks run synchronously on that thread.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/engine/memory_plan.h"
#include "mf/tasks/task_spec.h"

namespace mf::engine {

// What a backend keeps for one job between the stages (conditions, prompt embeddings, schedule, noise).
// Host-side state: it survives pause() (which frees device memory).
struct PreparedJob {
  virtual ~PreparedJob() = default;
  tasks::TaskSpec spec;                        // with the seed filled in
  int total_steps = 0;
  torch::Tensor initial_latents;               // [1, C, T', h, w] (the seeded noise)
  std::map<std::string, double> stage_seconds;  // prepare's share ("text", "conditions")
};

struct StepInfo {
  int step = 0;             // 0-based index of the step just finished
  int total = 0;
  double seconds = 0;       // wall time of this step
  torch::Tensor latents;    // [1, C, T', h, w] after the step
  torch::Tensor predicted;  // [1, C, T', h, w] predicted clean latents at this step
};

struct DenoiseOutcome {
  torch::Tensor latents;    // [1, C, T', h, w] after the last finished step
  int completed_steps = 0;  // steps done in total (start_step + steps run in this call)
  int total_steps = 0;
};

struct WrittenOutputs {
  std::vector<std::string> files;  // media first, then the sidecar JSON
  nlohmann::json recipe;
  std::map<std::string, double> stage_seconds;  // at least "decode"
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual std::string model_id() const = 0;

  // Plan for `spec` under the budgets (request's budget fields are filled by the engine).
  virtual MemoryPlan plan(const tasks::TaskSpec& spec, const PlanRequest& budget) const = 0;
  // Throws mf::Error(BadInput / MissingModel) for a job that cannot run.
  virtual std::shared_ptr<PreparedJob> prepare(const tasks::TaskSpec& spec) = 0;
  // Runs steps [start_step, total) from `latents`; on_step returns false to stop after that step.
  virtual DenoiseOutcome denoise(PreparedJob& job, const torch::Tensor& latents, int start_step,
                                 const std::function<bool(const StepInfo&)>& on_step) = 0;
  // Decodes finished latents and writes the outputs next to `output_path` with the recipe (+ recipe_extra).
  virtual WrittenOutputs decode_and_write(PreparedJob& job, const torch::Tensor& latents,
                                          const std::string& output_path, const nlohmann::json& recipe_extra) = 0;
  // Cheap latent -> RGB: [1, C, T', h, w] -> [T', h, w, 3] uint8 (CPU).
  virtual torch::Tensor preview(const torch::Tensor& latents) = 0;
  // Full VAE decode of (predicted) latents for a high-quality preview: [T, H, W, 3] uint8 (CPU).
  virtual torch::Tensor decode_preview(PreparedJob& job, const torch::Tensor& latents) = 0;
  // Frees device memory of components not needed until the next prepare() (T5 after encoding).
  virtual void release_text_encoder() {}
  // Bytes this backend holds resident (for the model cache's budget).
  virtual int64_t resident_bytes() const = 0;
  // The file name extension decode_and_write() gives the media output (".mp4", ".png", ".safetensors").
  virtual std::string output_extension(const tasks::TaskSpec& spec) const = 0;
};

// How the engine finds a backend: the model cache key and a loader.
struct ModelKey {
  std::string model;  // spec.model (folder or id; "" = default)
  std::string dtype;  // "bf16" | "fp32"
  std::string device; // "cpu" | "cuda:0"
  bool operator<(const ModelKey& o) const {
    return std::tie(model, dtype, device) < std::tie(o.model, o.dtype, o.device);
  }
  std::string to_string() const { return model + " [" + dtype + ", " + device + "]"; }
};
using BackendLoader = std::function<std::shared_ptr<ModelBackend>(const ModelKey&)>;

// The loader the CLI and the studio use: "test:NAME" -> a TestBackend (a test fixture: random tiny linear
// denoiser, never a product model); anything else -> a PipelineBackend on the folder when mf_pipeline is in the
// build, else mf::Error(Unsupported).
std::shared_ptr<ModelBackend> load_default_backend(const ModelKey& key);
bool have_pipeline_backend();

}  // namespace mf::engine
