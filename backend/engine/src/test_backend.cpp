#include "mf/engine/test_backend.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;

namespace mf::engine {

void throw_simulated_oom(const std::string& what) {
  TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 2.00 GiB (simulated: ", what, ")");
  throw Error(ErrorCode::Internal, "unreachable");
}

namespace {
struct TestPrepared : PreparedJob {};

torch::Tensor seeded_randn(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat));
}
}  // namespace

TestBackend::TestBackend(std::string id, TestBackendOptions options) : id_(std::move(id)), options_(std::move(options)) {
  const int C = options_.channels;
  auto w = seeded_randn({C * C + C + 3 * C}, options_.weight_seed);
  mix_ = w.slice(0, 0, C * C).reshape({C, C}) * 0.5;
  bias_ = w.slice(0, C * C, C * C + C) * 0.1;
  rgb_ = w.slice(0, C * C + C, C * C + C + 3 * C).reshape({3, C}) * 0.5;
}

mfm::Config TestBackend::tiny_dit_config() {
  mfm::Config c;
  c.num_attention_heads = 2;
  c.attention_head_dim = 16;
  c.in_channels = 16;
  c.num_layers = 2;
  c.cross_attention_dim = {64, 64};
  c.sample_size = 32;
  c.activation_fn = "gelu-approximate";
  c.norm_type = "ada_norm_zero_nolabel";
  c.use_rope = true;
  c.add_motion_score = true;
  c.use_depth_cond = true;
  return c;
}
vae::VaeConfig TestBackend::tiny_vae_config() {
  vae::VaeConfig c;
  c.block_out_channels = {32, 32, 64, 64};
  c.layers_per_block = 1;
  c.norm_num_groups = 8;
  return c;
}
text::T5Config TestBackend::tiny_t5_config() {
  text::T5Config c;
  c.vocab_size = 256;
  c.d_model = 64;
  c.d_kv = 16;
  c.d_ff = 128;
  c.num_layers = 2;
  c.num_heads = 4;
  return c;
}

MemoryPlan TestBackend::plan(const tasks::TaskSpec& spec, const PlanRequest& budget) const {
  PlanRequest rq = budget;
  rq.num_frames = spec.num_frames;
  rq.height = spec.height;
  rq.width = spec.width;
  rq.batch = spec.guidance_scale > 1.0 ? 2 : 1;
  rq.dtype_bytes = 4;
  return plan_memory(id_, tiny_dit_config(), tiny_vae_config(), tiny_t5_config(), rq);
}

std::shared_ptr<PreparedJob> TestBackend::prepare(const tasks::TaskSpec& spec) {
  if (options_.fault) options_.fault(spec, "prepare", -1);
  check(spec.seed.has_value(), ErrorCode::Internal, "TestBackend::prepare: the engine must fill in the seed");
  check(spec.steps >= 1, ErrorCode::BadInput, "steps must be >= 1 (got " + std::to_string(spec.steps) + ")");
  check(spec.height % 8 == 0 && spec.width % 8 == 0 && spec.height > 0 && spec.width > 0, ErrorCode::BadInput,
        "height and width must be positive multiples of 8 for the test model (got " + std::to_string(spec.height) +
            "x" + std::to_string(spec.width) + ")");
  auto p = std::make_shared<TestPrepared>();
  p->spec = spec;
  p->total_steps = spec.steps;
  const int64_t T = (spec.num_frames - 1) / 4 + 1;
  p->initial_latents = seeded_randn({1, options_.channels, T, spec.height / 8, spec.width / 8}, *spec.seed);
  p->stage_seconds["text"] = 0;
  return p;
}

DenoiseOutcome TestBackend::denoise(PreparedJob& job, const torch::Tensor& latents, int start_step,
                                    const std::function<bool(const StepInfo&)>& on_step) {
  const int total = job.total_steps;
  check(start_step >= 0 && start_step <= total, ErrorCode::Internal,
        "denoise: start step " + std::to_string(start_step) + " outside [0, " + std::to_string(total) + "]");
  torch::Tensor x = latents.to(torch::kFloat).clone();  // [1, C, T', h, w]
  DenoiseOutcome out;
  out.total_steps = total;
  out.completed_steps = start_step;
  for (int i = start_step; i < total; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (options_.fault) options_.fault(job.spec, "step", i);
    const float sigma = 1.0f - float(i) / float(total);
    const float sigma_next = 1.0f - float(i + 1) / float(total);
    // v = tanh(W x + b) per latent pixel: [C, C] x [1, C, T, h, w]
    auto v = torch::tanh(torch::einsum("oc,bcthw->bothw", {mix_, x}) + bias_.view({1, -1, 1, 1, 1}) * sigma);
    auto predicted = x - sigma * v;
    x = x + (sigma_next - sigma) * v;
    if (options_.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.step_delay_ms));
    ++steps_run;
    out.completed_steps = i + 1;
    StepInfo si;
    si.step = i;
    si.total = total;
    si.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    si.latents = x;
    si.predicted = predicted;
    if (on_step && !on_step(si)) break;
  }
  out.latents = x;
  return out;
}

torch::Tensor TestBackend::preview(const torch::Tensor& latents) {
  // [1, C, T', h, w] -> [T', h, w, 3] uint8
  auto rgb = torch::einsum("rc,cthw->thwr", {rgb_, latents[0].to(torch::kFloat)});
  return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8).contiguous();
}

torch::Tensor TestBackend::decode(const torch::Tensor& latents, const tasks::TaskSpec& spec) {
  auto small = preview(latents);  // [T', h, w, 3]
  const int64_t T = small.size(0);
  // Temporal expansion like the VAE (latent 0 -> 1 frame, every other latent -> 4 frames), spatial x8 nearest.
  std::vector<int64_t> idx;
  idx.push_back(0);
  for (int64_t t = 1; t < T; ++t)
    for (int k = 0; k < 4; ++k) idx.push_back(t);
  auto frames = small.index_select(0, torch::tensor(idx, torch::kLong));
  frames = frames.repeat_interleave(8, 1).repeat_interleave(8, 2);
  return frames.slice(0, 0, spec.num_frames).contiguous();  // [F, H, W, 3]
}

torch::Tensor TestBackend::decode_preview(PreparedJob& job, const torch::Tensor& latents) {
  return decode(latents, job.spec);
}

WrittenOutputs TestBackend::decode_and_write(PreparedJob& job, const torch::Tensor& latents,
                                             const std::string& output_path, const nlohmann::json& recipe_extra) {
  auto t0 = std::chrono::steady_clock::now();
  if (options_.fault) options_.fault(job.spec, "decode", -1);
  auto frames = decode(latents, job.spec);
  fs::path media = output_path;
  if (media.extension() != ".safetensors") media += ".safetensors";
  if (media.has_parent_path()) fs::create_directories(media.parent_path());
  io::save_tensors(media.string(), {{"frames", frames}}, {{"model", id_}});
  WrittenOutputs w;
  w.recipe = tasks::to_json(job.spec);
  w.recipe["model_id"] = id_;
  w.recipe["test_fixture"] = true;
  for (auto it = recipe_extra.begin(); it != recipe_extra.end(); ++it) w.recipe[it.key()] = it.value();
  fs::path sidecar = media;
  sidecar.replace_extension(".json");
  {
    std::ofstream f(sidecar);
    f << w.recipe.dump(2) << "\n";
    check(bool(f), ErrorCode::Io, "cannot write " + sidecar.string());
  }
  w.files = {media.string(), sidecar.string()};
  w.stage_seconds["decode"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return w;
}

}  // namespace mf::engine
