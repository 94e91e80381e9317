// PipelineBackend: the engine's ModelBackend over mf::pipeline::Pipeline (the MfM pipeline). Only built when the
// mf_pipeline library is part of the build (MF_ENGINE_HAVE_PIPELINE). Configs are read at construction (for the
// memory plan); weights are loaded on the first prepare(), so a job that cannot fit is refused before any weight
// reaches the device.
//
// Threading: as ModelBackend (the engine's worker thread only).
#pragma once

#include "mf/engine/backend.h"

#ifdef MF_ENGINE_HAVE_PIPELINE
#include "mf/pipeline/pipeline.h"

namespace mf::engine {

class PipelineBackend : public ModelBackend {
 public:
  // Throws mf::Error(MissingModel) when the folder lacks transformer/, vae/ or text_encoder/ configs.
  // `drop3`: how decode_and_write treats the official "drop 3 frames" quirk (mf/tasks, default EvenLatentOnly).
  PipelineBackend(std::string folder, pipeline::LoadOptions options,
                  tasks::Drop3Policy drop3 = tasks::Drop3Policy::EvenLatentOnly);
  std::string model_id() const override;
  MemoryPlan plan(const tasks::TaskSpec& spec, const PlanRequest& budget) const override;
  std::shared_ptr<PreparedJob> prepare(const tasks::TaskSpec& spec) override;
  DenoiseOutcome denoise(PreparedJob& job, const torch::Tensor& latents, int start_step,
                         const std::function<bool(const StepInfo&)>& on_step) override;
  WrittenOutputs decode_and_write(PreparedJob& job, const torch::Tensor& latents, const std::string& output_path,
                                  const nlohmann::json& recipe_extra) override;
  torch::Tensor preview(const torch::Tensor& latents) override;
  torch::Tensor decode_preview(PreparedJob& job, const torch::Tensor& latents) override;
  void release_text_encoder() override;
  int64_t resident_bytes() const override { return resident_bytes_; }
  std::string output_extension(const tasks::TaskSpec& spec) const override;

 private:
  pipeline::Pipeline& loaded();
  std::string folder_;
  pipeline::LoadOptions options_;
  tasks::Drop3Policy drop3_;
  mfm::Config dit_;
  vae::VaeConfig vae_;
  text::T5Config t5_;
  int64_t resident_bytes_ = 0;
  std::unique_ptr<pipeline::Pipeline> pipe_;
};

}  // namespace mf::engine
#endif
