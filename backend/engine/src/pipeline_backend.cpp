#include "mf/engine/pipeline_backend.h"

#include "mf/core/error.h"

#ifdef MF_ENGINE_HAVE_PIPELINE

#include <filesystem>

#include "mf/tasks/task_id.h"

namespace fs = std::filesystem;

namespace mf::engine {

namespace {
struct PipelinePrepared : PreparedJob {
  pipeline::Prepared prepared;
};
PipelinePrepared& as_pipeline(PreparedJob& job) {
  auto* p = dynamic_cast<PipelinePrepared*>(&job);
  check(p != nullptr, ErrorCode::Internal, "PipelineBackend got a job prepared by another backend");
  return *p;
}
}  // namespace

PipelineBackend::PipelineBackend(std::string folder, pipeline::LoadOptions options, tasks::Drop3Policy drop3)
    : folder_(std::move(folder)), options_(std::move(options)), drop3_(drop3) {
  const fs::path root(folder_);
  for (const char* sub : {"transformer/config.json", "vae/config.json", "text_encoder/config.json"})
    check(fs::exists(root / sub), ErrorCode::MissingModel,
          "the model folder " + folder_ + " has no " + sub +
              "; point --model at an MfM pipeline folder (model_index.json, transformer/, vae/, text_encoder/)");
  dit_ = mfm::Config::from_file((root / "transformer/config.json").string());
  vae_ = vae::VaeConfig::from_folder((root / "vae").string());
  t5_ = text::T5Config::from_file((root / "text_encoder/config.json").string());
  const int64_t b = options_.dtype == torch::kBFloat16 ? 2 : 4;
  resident_bytes_ = (dit_parameter_count(dit_) + vae_decoder_parameter_count(vae_) + t5_encoder_parameter_count(t5_)) * b;
}

std::string PipelineBackend::model_id() const { return pipe_ ? pipe_->model_id() : folder_; }

pipeline::Pipeline& PipelineBackend::loaded() {
  if (!pipe_) pipe_ = pipeline::Pipeline::load(folder_, options_);
  return *pipe_;
}

MemoryPlan PipelineBackend::plan(const tasks::TaskSpec& spec, const PlanRequest& budget) const {
  PlanRequest rq = budget;
  rq.num_frames = tasks::task_facts(spec.task).image_output ? 1 : spec.num_frames;
  rq.height = spec.height;
  rq.width = spec.width;
  rq.batch = spec.guidance_scale > 1.0 ? 2 : 1;
  rq.dtype_bytes = options_.dtype == torch::kBFloat16 ? 2 : 4;
  return plan_memory(folder_, dit_, vae_, t5_, rq);
}

std::shared_ptr<PreparedJob> PipelineBackend::prepare(const tasks::TaskSpec& spec) {
  auto p = std::make_shared<PipelinePrepared>();
  p->prepared = loaded().prepare(spec);
  p->spec = p->prepared.spec;
  p->total_steps = static_cast<int>(p->prepared.timesteps.size());
  p->initial_latents = p->prepared.initial_latents;
  p->stage_seconds = p->prepared.stage_seconds;
  return p;
}

DenoiseOutcome PipelineBackend::denoise(PreparedJob& job, const torch::Tensor& latents, int start_step,
                                        const std::function<bool(const StepInfo&)>& on_step) {
  auto& pp = as_pipeline(job);
  pipeline::DenoiseControl control;
  control.on_step = [&](const pipeline::StepEvent& e) {
    StepInfo s;
    s.step = e.step;
    s.total = e.total;
    s.seconds = e.seconds;
    s.latents = e.latents;
    s.predicted = e.predicted;
    return on_step ? on_step(s) : true;
  };
  auto r = loaded().denoise(pp.prepared, latents, start_step, control);
  DenoiseOutcome out;
  out.latents = r.latents;
  out.completed_steps = r.completed_steps;
  out.total_steps = r.total_steps;
  return out;
}

WrittenOutputs PipelineBackend::decode_and_write(PreparedJob& job, const torch::Tensor& latents,
                                                 const std::string& output_path, const nlohmann::json& recipe_extra) {
  pipeline::DecodeControl control;
  control.recipe_extra = recipe_extra;
  control.drop3 = drop3_;
  auto o = loaded().decode_and_write(as_pipeline(job).prepared, latents, output_path, control);
  WrittenOutputs w;
  w.files = o.files;
  w.recipe = o.recipe;
  w.stage_seconds = o.stage_seconds;
  return w;
}

torch::Tensor PipelineBackend::preview(const torch::Tensor& latents) { return loaded().preview(latents); }

torch::Tensor PipelineBackend::decode_preview(PreparedJob& job, const torch::Tensor& latents) {
  // [1, 3, T, H, W] in [-1, 1] -> [T, H, W, 3] uint8
  auto v = loaded().decode_video(as_pipeline(job).prepared, latents);
  return ((v[0].clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
}

void PipelineBackend::release_text_encoder() {
  if (pipe_) pipe_->release_text_encoder();
}

std::string PipelineBackend::output_extension(const tasks::TaskSpec& spec) const {
  return tasks::task_facts(spec.task).image_output ? ".png" : ".mp4";
}

}  // namespace mf::engine

#endif  // MF_ENGINE_HAVE_PIPELINE
