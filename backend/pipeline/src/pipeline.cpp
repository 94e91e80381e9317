// MfM pipeline implementation: prepare (validation, inputs, conditions, depth, text, schedule, noise), the Euler
// loop with CFG (mfm-reference.md C.8), decode and output writing (C.9). See pipeline.h for the choices made.
#include "mf/pipeline/pipeline.h"

#include "mf/lora/lora.h"

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "mf/core/error.h"
#include "mf/media/metadata.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/pipeline/components.h"
#include "mf/tasks/prompt.h"
#include "mf/text/embedding_cache.h"

namespace fs = std::filesystem;

namespace mf::pipeline {

bool DenoiseResult::finished() const { return total_steps > 0 && completed_steps >= total_steps; }

namespace {

constexpr double kLatentScale = 0.958917567;  // hard-coded by the official pipeline (C.1, H.11)

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

tasks::Image8 to_image8(const media::Image& im) {
  tasks::Image8 out(im.width, im.height, im.channels);
  const size_t row = static_cast<size_t>(im.width) * im.channels;
  for (int y = 0; y < im.height; ++y) std::copy(im.row(y), im.row(y) + row, out.row(y));
  return out;
}

// [N, H, W, C] uint8 from same-sized images.
torch::Tensor stack_images(const std::vector<tasks::Image8>& frames) {
  if (frames.empty()) return torch::Tensor();
  const auto& f0 = frames[0];
  auto t = torch::empty({static_cast<int64_t>(frames.size()), f0.height, f0.width, f0.channels}, torch::kUInt8);
  uint8_t* dst = t.data_ptr<uint8_t>();
  for (const auto& f : frames) {
    std::copy(f.pixels.begin(), f.pixels.end(), dst);
    dst += f.pixels.size();
  }
  return t;
}

torch::Tensor image_tensor(const tasks::Image8& im) {
  return torch::from_blob(const_cast<uint8_t*>(im.pixels.data()), {im.height, im.width, im.channels}, torch::kUInt8)
      .clone();
}

std::string task_key(tasks::TaskId t) { return tasks::to_string(t); }

// Re-throws a media error with the role of the file (input 1, mask, ...) in front, keeping its code.
[[noreturn]] void rethrow_with(const std::string& what, const mf::Error& e) {
  throw mf::Error(e.code(), what + ": " + e.what());
}

std::vector<tasks::Image8> read_video_input(const std::string& path, const std::string& role, tasks::TaskId task) {
  try {
    check(!path.empty(), ErrorCode::BadInput, role + ": no file given");
    check(fs::exists(path), ErrorCode::BadInput, role + ": file not found: " + path);
    const media::MediaInfo info = media::probe(path);
    check(!info.is_image, ErrorCode::BadInput,
          role + ": " + path + " is a still image, but task " + task_key(task) +
              " reads a video. Give a video file (mp4, mov, mkv, ...); for a still image use the matching image "
              "task (i2v, itrans, isr, icolor, iinp, ioutp).");
    std::vector<tasks::Image8> frames;
    for (auto& f : media::read_frames(path)) frames.push_back(to_image8(f));
    check(!frames.empty(), ErrorCode::BadInput, role + ": " + path + " has 0 decodable video frames");
    return frames;
  } catch (const mf::Error& e) {
    if (std::string(e.what()).rfind(role, 0) == 0) throw;
    rethrow_with(role + " (" + path + ")", e);
  }
}

tasks::Image8 read_image_input(const std::string& path, const std::string& role, tasks::TaskId task) {
  try {
    check(!path.empty(), ErrorCode::BadInput, role + ": no file given");
    check(fs::exists(path), ErrorCode::BadInput, role + ": file not found: " + path);
    const media::MediaInfo info = media::probe(path);
    check(info.is_image || info.frame_count <= 1, ErrorCode::BadInput,
          role + ": " + path + " is a video (" + std::to_string(info.frame_count) + " frames), but task " +
              task_key(task) + " reads an image. Export the frame you want as PNG, or use the video task.");
    return to_image8(media::read_image(path));
  } catch (const mf::Error& e) {
    if (std::string(e.what()).rfind(role, 0) == 0) throw;
    rethrow_with(role + " (" + path + ")", e);
  }
}

// Reads spec's files through the media layer into the decoded inputs mf_tasks builds conditions from.
tasks::ConditionInputs read_inputs(const tasks::TaskSpec& spec) {
  const auto& facts = tasks::task_facts(spec.task);
  tasks::ConditionInputs in;
  if (facts.input == tasks::InputKind::Image) {
    for (size_t i = 0; i < spec.images.size(); ++i) {
      auto im = read_image_input(spec.images[i], "input image " + std::to_string(i + 1), spec.task);
      (i == 0 ? in.clip1 : in.clip2).push_back(std::move(im));
    }
    if (!spec.mask.empty()) in.mask.push_back(read_image_input(spec.mask, "mask image", spec.task));
  } else if (facts.input == tasks::InputKind::Video) {
    for (size_t i = 0; i < spec.clips.size(); ++i) {
      auto frames = read_video_input(spec.clips[i], "input video " + std::to_string(i + 1), spec.task);
      (i == 0 ? in.clip1 : in.clip2) = std::move(frames);
    }
    if (!spec.mask.empty()) {
      bool still = false;
      try {
        still = fs::exists(spec.mask) && media::probe(spec.mask).is_image;
      } catch (const mf::Error& e) {
        rethrow_with("mask video (" + spec.mask + ")", e);
      }
      if (still) {
        // A still mask for a video task: the same mask on every frame (documented in pipeline.h).
        const auto m = read_image_input(spec.mask, "mask image", spec.task);
        in.mask.assign(std::max<size_t>(in.clip1.size(), 1), m);
      } else {
        in.mask = read_video_input(spec.mask, "mask video", spec.task);
      }
    }
  }
  return in;
}

// x in [-1, 1] (any float dtype) -> uint8 as the driver writes videos: clamp(x / 2 + 0.5, 0, 1), round(x 255).
torch::Tensor video_to_u8(const torch::Tensor& x) {
  return torch::round(torch::clamp(x / 2 + 0.5, 0, 1) * 255).to(torch::kUInt8);
}
// As torchvision save_image(normalize=True, value_range=(-1, 1)): clamp, (x + 1) / 2, x 255 + 0.5, clamp, truncate.
torch::Tensor image_to_u8(const torch::Tensor& x) {
  auto y = (torch::clamp(x, -1, 1) + 1) / 2;
  return torch::clamp(y * 255 + 0.5, 0, 255).to(torch::kUInt8);
}

// TaskSpec::keep_known_pixels: the input's pixels are kept where the mask keeps them. Exact input pixels with the
// float32 policy; with bf16, the condition's rounding (at most one 8-bit level). The conditional half's RGB [3, T, H, W] in [-1, 1] and the blend weight
// [T, H, W] (1 = the input's pixel): the keep mask eroded by 2 pixels, then a 5x5 box average, so the weight is
// 0 on every regenerated pixel and 1 from 4 pixels inside the kept region on.
struct KnownPixels {
  torch::Tensor rgb, weight;
  bool defined() const { return rgb.defined(); }
  // frames [n, 3, H, W] float, condition frames [t0, t0 + n); frames outside [0, T) are left as they are.
  torch::Tensor apply(torch::Tensor frames, int64_t t0) const {
    const int64_t T = rgb.size(1);
    frames = frames.to(torch::kFloat).clone();
    // The frames [lo, hi) of this chunk that have a condition frame, blended in one expression.
    const int64_t lo = std::max<int64_t>(0, -t0), hi = std::min<int64_t>(frames.size(0), T - t0);
    if (lo >= hi) return frames;
    const auto w = weight.slice(0, t0 + lo, t0 + hi).unsqueeze(1);              // [m, 1, H, W]
    const auto known = rgb.slice(1, t0 + lo, t0 + hi).permute({1, 0, 2, 3});  // [m, 3, H, W]
    auto part = frames.slice(0, lo, hi);
    part.copy_(w * known + (1 - w) * part);
    return frames;
  }
};

KnownPixels known_pixels(const Prepared& p) {
  using tasks::TaskId;
  const TaskId t = p.spec.task;
  check(t == TaskId::VInp || t == TaskId::IInp || t == TaskId::VOutp || t == TaskId::IOutp, ErrorCode::BadInput,
        "keeping the input's pixels applies to inpainting and outpainting (vinp, iinp, voutp, ioutp), not to " +
            std::string(tasks::to_string(t)) + ": its condition is not the picture to keep");
  const int64_t half = p.cond_pixels.size(0) - 1;  // the conditional half (negative first with CFG)
  KnownPixels k;
  k.rgb = p.cond_pixels[half].slice(0, 0, 3).to(torch::kCPU, torch::kFloat);                  // [3, T, H, W]
  const auto keep = (p.cond_masks[half][0].to(torch::kCPU, torch::kFloat) >= 0.5).to(torch::kFloat);  // [T, H, W]
  namespace F = torch::nn::functional;
  const auto eroded = 1 - F::max_pool2d(1 - keep.unsqueeze(1), F::MaxPool2dFuncOptions(5).stride(1).padding(2));
  k.weight = F::avg_pool2d(eroded, F::AvgPool2dFuncOptions(5).stride(1).padding(2).count_include_pad(false)).squeeze(1);
  return k;
}

media::Image to_media_image(const torch::Tensor& hwc_u8) {
  auto t = hwc_u8.contiguous();
  media::Image im = media::Image::make(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)),
                                       static_cast<int>(t.size(2)));
  const size_t row = static_cast<size_t>(im.width) * im.channels;
  const uint8_t* src = t.data_ptr<uint8_t>();
  for (int y = 0; y < im.height; ++y) std::copy(src + y * row, src + (y + 1) * row, im.row(y));
  return im;
}

class MfmPipeline final : public Pipeline {
 public:
  MfmPipeline(Components c, LoadOptions o) : c_(std::move(c)), opt_(std::move(o)) {
    check(!c_.transformer.is_empty(), ErrorCode::Internal, "pipeline built without a transformer");
    check(c_.vae != nullptr, ErrorCode::Internal, "pipeline built without a VAE");
    c_.vae->enable_tiling();  // the official pipeline calls vae.enable_tiling() (C.9)
    if (opt_.text_cache_bytes > 0 || !opt_.text_cache_dir.empty())
      cache_ = std::make_unique<text::TextEmbeddingCache>(opt_.text_cache_bytes, opt_.text_cache_dir);
    if (c_.preview) {
      preview_ = *c_.preview;
    } else {
      preview_ = default_latent_preview();
    }
    c_.info["model_id"] = c_.model_id;
    c_.info["dtype"] = opt_.dtype == torch::kBFloat16 ? "bf16" : "fp32";
    c_.info["test_fixture"] = c_.test_fixture;
  }

  const std::string& model_id() const override { return c_.model_id; }
  bool is_test_fixture() const override { return c_.test_fixture; }
  const nlohmann::json& model_info() const override { return c_.info; }

  Prepared prepare(const tasks::TaskSpec& spec) override { return prepare(spec, PrepareOverrides{}); }
  Prepared prepare(const tasks::TaskSpec& spec, const PrepareOverrides& ov) override;
  DenoiseResult denoise(const Prepared& p, const torch::Tensor& latents, int start_step,
                        const DenoiseControl& control) override;
  Outputs decode_and_write(const Prepared& p, const torch::Tensor& latents, const std::string& output_path,
                           const DecodeControl& control) override;
  torch::Tensor decode_video(const Prepared& p, const torch::Tensor& latents) override;
  torch::Tensor preview(const torch::Tensor& latents) const override {
    c10::InferenceMode guard;
    return preview_.to_rgb8(latents.to(torch::kCPU, torch::kFloat));
  }
  void release_text_encoder() override {
    if (!c_.text_encoder.is_empty() && !t5_dir_.empty()) c_.text_encoder = text::T5Encoder(nullptr);
  }
  void set_text_encoder_dir(std::string d) { t5_dir_ = std::move(d); }

 private:
  // Makes the transformer carry exactly `loras` (restoring the base weights first when they change): LoRAs
  // switch between jobs without reloading the base model.
  void ensure_loras(const std::vector<tasks::LoraRef>& loras) {
    if (loras == active_loras_) return;
    lora_patch_.restore(*c_.transformer);
    active_loras_.clear();
    for (const auto& l : loras) {
      const auto file = lora::read_lora(l.path);
      lora_patch_.apply(*c_.transformer, file, l.scale);
    }
    active_loras_ = loras;
  }
  lora::LoraPatch lora_patch_;
  std::vector<tasks::LoraRef> active_loras_;

  bool bf16() const { return opt_.dtype == torch::kBFloat16; }
  torch::ScalarType latent_dtype() const { return bf16() ? torch::kBFloat16 : torch::kFloat; }
  // (embeddings [77, Ct] float32, mask [77] int64) of one final prompt.
  std::pair<torch::Tensor, torch::Tensor> encode_prompt(const std::string& prompt, bool negative,
                                                         const PrepareOverrides& ov, torch::Tensor* ids);
  // Decodes `latents`, handing frames [n, 3, H, W] (decode dtype, CPU; isr/icolor resized) to sink in order.
  void decode_frames(const Prepared& p, const torch::Tensor& latents,
                     const std::function<void(const torch::Tensor&)>& sink);
  nlohmann::json recipe_for(const Prepared& p, const std::map<std::string, double>& timings,
                            const std::string& media_path, int frames, int width, int height,
                            tasks::Drop3Policy policy) const;

  Components c_;
  LoadOptions opt_;
  std::unique_ptr<text::TextEmbeddingCache> cache_;
  vae::LatentPreview preview_;
  std::string t5_dir_;
};

std::pair<torch::Tensor, torch::Tensor> MfmPipeline::encode_prompt(const std::string& prompt, bool negative,
                                                                    const PrepareOverrides& ov, torch::Tensor* ids) {
  text::Encoding enc;
  if (c_.tokenizer) {
    enc = c_.tokenizer->encode(prompt);  // 77 tokens, EOS, pad 0 (C.4)
    *ids = torch::tensor(enc.ids, torch::kLong);
  }
  if (ov.encode_text) {
    auto r = ov.encode_text(prompt, negative);
    return {r.first.to(torch::kCPU, torch::kFloat).reshape({-1, r.first.size(-1)}),
            r.second.to(torch::kCPU, torch::kLong).reshape({-1})};
  }
  check(c_.tokenizer != nullptr, ErrorCode::MissingModel,
        "this pipeline has no tokenizer/ folder, so prompts cannot be encoded; use a complete pipeline folder");
  if (c_.text_encoder.is_empty() && !t5_dir_.empty()) c_.text_encoder = text::load_t5_encoder(t5_dir_, opt_.dtype, opt_.device);
  check(!c_.text_encoder.is_empty(), ErrorCode::MissingModel,
        "this pipeline has no text_encoder/ folder (T5), so prompts cannot be encoded; use a complete pipeline "
        "folder");
  auto compute = [&]() {
    auto input = torch::tensor(enc.ids, torch::kLong).unsqueeze(0).to(opt_.device);
    // The official pipeline runs T5 WITHOUT the attention mask (C.4, H.6).
    auto h = c_.text_encoder->forward(input);  // [1, 77, Ct]
    text::TextEmbedding e;
    e.embeds = h.squeeze(0).to(torch::kCPU);
    e.attention_mask = torch::tensor(enc.attention_mask, torch::kLong);
    return e;
  };
  text::TextEmbedding e;
  if (cache_) {
    e = cache_->get_or_compute(text::EmbeddingKey{c_.text_model_id.empty() ? c_.model_id : c_.text_model_id, prompt, 77},
                               compute);
  } else {
    e = compute();
  }
  return {e.embeds.to(torch::kFloat), e.attention_mask.to(torch::kLong)};
}

Prepared MfmPipeline::prepare(const tasks::TaskSpec& spec_in, const PrepareOverrides& ov) {
  c10::InferenceMode guard;
  Prepared p;
  p.spec = spec_in;
  // Every validation error at once (mf::Error BadInput listing them).
  tasks::check_valid(p.spec);
  for (const auto& w : tasks::validate(p.spec)) p.warnings.push_back(w.field + ": " + w.message);
  if (c_.test_fixture)
    p.warnings.push_back("model '" + c_.model_id +
                         "' is a TEST FIXTURE with random weights (written by make-test-pipeline): its outputs are "
                         "noise, not a real generation");
  if (!p.spec.seed) {
    std::random_device rd;
    p.spec.seed = (static_cast<uint64_t>(rd()) << 32 | rd()) % 4294967295ull;  // the driver's 0 .. 2^32 - 2
  }
  p.seed = *p.spec.seed;
  const auto& facts = tasks::task_facts(p.spec.task);

  // ---- conditions (C.3) ----
  double t0 = now_s();
  const tasks::ConditionInputs inputs = ov.inputs ? *ov.inputs : read_inputs(p.spec);
  const tasks::ConditionFrames cf = tasks::build_condition_frames(p.spec, inputs);
  p.plan = cf.plan;
  p.geometry = cf.geometry;
  p.num_frames = cf.num_frames();
  p.height = cf.height();
  p.width = cf.width();
  if (!cf.geometry.output_resize.empty()) {
    p.output_width = cf.geometry.output_resize.width;
    p.output_height = cf.geometry.output_resize.height;
  }
  const int64_t T = p.num_frames, H = p.height, W = p.width;
  auto pv = torch::zeros({4, T, H, W}, torch::kFloat);   // [4, T, H, W]: RGB x mask, depth
  auto masks = torch::zeros({1, T, H, W}, torch::kFloat);  // [1, T, H, W]
  tasks::condition_to_float(cf, bf16() ? tasks::ConditionPrecision::BFloat16 : tasks::ConditionPrecision::Float32,
                            pv.data_ptr<float>(), masks.data_ptr<float>());
  if (!cf.plan.depth_frames.empty()) {
    std::function<torch::Tensor(const torch::Tensor&)> depth_fn = ov.depth;
    if (!depth_fn) {
      check(c_.depth != nullptr, ErrorCode::MissingModel,
            "task " + task_key(p.spec.task) + " conditions on depth, but " +
                (c_.depth_missing_reason.empty() ? std::string("this pipeline has no depth model")
                                                 : c_.depth_missing_reason));
      depth_fn = [this](const torch::Tensor& rgb) { return c_.depth->predict_depth(rgb); };
    }
    for (int t : cf.plan.depth_frames) {
      // Raw predicted depth of the processed frame (F.4: no normalisation), cast like the official bf16 run.
      auto d = depth_fn(image_tensor(cf.frames[t])).to(torch::kCPU, torch::kFloat).reshape({H, W});
      if (bf16()) d = d.to(torch::kBFloat16).to(torch::kFloat);
      pv[3][t].copy_(d);
    }
  }
  if (p.spec.noise_aug_strength > 0) {
    // Official: images_cond += randn_like * strength on all 4 channels (global RNG); here a generator derived
    // from the job seed, so the recipe reproduces the take.
    auto gen = at::detail::createCPUGenerator(p.seed ^ 0x9E3779B97F4A7C15ull);
    pv = pv + at::randn(pv.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)) * p.spec.noise_aug_strength;
    if (bf16()) pv = pv.to(torch::kBFloat16).to(torch::kFloat);
  }
  p.cfg = p.spec.guidance_scale > 1.0;  // the official rule (C.6)
  if (p.cfg) {
    auto uncond = pv.clone();
    uncond[3].zero_();  // the unconditional half sees no depth (H.8)
    p.cond_pixels = torch::stack({uncond, pv});               // [2, 4, T, H, W]
    p.cond_masks = torch::stack({masks, masks});              // [2, 1, T, H, W]
    p.motion_score = torch::full({2}, p.spec.motion_score, torch::kFloat);
  } else {
    p.cond_pixels = pv.unsqueeze(0);
    p.cond_masks = masks.unsqueeze(0);
    p.motion_score = torch::full({1}, p.spec.motion_score, torch::kFloat);
  }
  if (facts.keeps_input_frames) {
    const auto kept = tasks::kept_input_frames(inputs, cf);
    p.kept_pre = stack_images(kept.pre);
    p.kept_post = stack_images(kept.post);
    p.kept_frames = {{"pre", kept.pre.size()}, {"post", kept.post.size()}};
  }
  p.stage_seconds["conditions"] = now_s() - t0;

  // ---- text (C.4) ----
  t0 = now_s();
  const auto prompts = tasks::preprocessed_prompts(p.spec);
  p.prompt = prompts.positive;
  p.negative_prompt = prompts.negative;
  torch::Tensor ids_pos, ids_neg;
  auto pos = encode_prompt(p.prompt, false, ov, &ids_pos);
  if (p.cfg) {
    auto neg = encode_prompt(p.negative_prompt, true, ov, &ids_neg);
    p.prompt_embeds = torch::stack({neg.first, pos.first});  // [2, 77, Ct], negative first
    p.prompt_mask = torch::stack({neg.second, pos.second});  // [2, 77]
    if (ids_pos.defined() && ids_neg.defined()) p.token_ids = torch::stack({ids_neg, ids_pos});
  } else {
    p.prompt_embeds = pos.first.unsqueeze(0);
    p.prompt_mask = pos.second.unsqueeze(0);
    if (ids_pos.defined()) p.token_ids = ids_pos.unsqueeze(0);
  }
  p.stage_seconds["text"] = now_s() - t0;

  // ---- schedule (C.7) and noise (C.5) ----
  const auto sched = sampling::mfm_schedule(c_.scheduler, p.spec.steps, p.spec.use_t_schedule);
  p.sigmas = sched.sigmas;
  p.timesteps = sched.timesteps;
  p.shift = c_.scheduler.shift;
  const int64_t lt = tasks::latent_frames(p.num_frames);
  const int64_t s = c_.vae->config().spatial_compression_ratio();
  const std::vector<int64_t> shape{1, c_.transformer->config().in_channels, lt, H / s, W / s};
  if (ov.noise.defined()) {
    check(ov.noise.sizes().vec() == shape, ErrorCode::BadInput, "injected noise has the wrong shape");
    p.initial_latents = ov.noise.to(torch::kCPU, torch::kFloat).clone();
  } else {
    auto gen = at::detail::createCPUGenerator(p.seed);
    p.initial_latents = at::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat));
  }
  if (bf16()) p.initial_latents = p.initial_latents.to(torch::kBFloat16).to(torch::kFloat);
  return p;
}

DenoiseResult MfmPipeline::denoise(const Prepared& p, const torch::Tensor& latents, int start_step,
                                   const DenoiseControl& control) {
  try {
    ensure_loras(p.spec.loras);
  } catch (...) {
    lora_patch_.restore(*c_.transformer);  // a bad LoRA leaves the base model as it was
    active_loras_.clear();
    throw;
  }
  c10::InferenceMode guard;
  const int total = static_cast<int>(p.timesteps.size());
  check(start_step >= 0 && start_step <= total, ErrorCode::BadInput,
        "denoise: start step " + std::to_string(start_step) + " outside 0.." + std::to_string(total));
  const auto dev = opt_.device;
  const auto mdt = opt_.dtype;
  const auto ldt = latent_dtype();
  auto x = latents.to(dev, ldt);
  // Conditions and text go to the device once, in the model dtype (bf16 policy: as the official casts).
  const auto cond = p.cond_pixels.to(dev, mdt);
  const auto cmask = p.cond_masks.to(dev, mdt);
  const auto emb = p.prompt_embeds.to(dev, mdt);
  const auto emask = p.prompt_mask.to(dev, torch::kLong);
  const auto motion = p.motion_score.to(dev, torch::kFloat);
  const int64_t B = p.cond_pixels.size(0);
  const double g = p.spec.guidance_scale;
  DenoiseResult r;
  r.total_steps = total;
  r.completed_steps = start_step;
  for (int i = start_step; i < total; ++i) {
    const double ts = now_s();
    mfm::TransformerInputs in;
    in.hidden_states = B == 2 ? torch::cat({x, x}) : x;  // [B, 16, T', h, w]
    in.conditional_pixel_values = cond;
    in.conditional_masks = cmask;
    in.encoder_hidden_states = emb;
    in.encoder_attention_mask = emask;
    in.timestep = torch::full({B}, p.timesteps[i], torch::TensorOptions().dtype(torch::kFloat).device(dev));
    in.motion_score = motion;
    auto out = c_.transformer->forward(in).to(torch::kFloat);  // [B, 16, T', h, w]
    torch::Tensor v;
    if (B == 2) {
      auto u = out[0].unsqueeze(0), c = out[1].unsqueeze(0);
      v = u + g * (c - u);  // CFG in float32 (C.8)
    } else {
      v = out;
    }
    const float sigma = p.sigmas[i], sigma_next = p.sigmas[i + 1];
    const float dt = sigma_next - sigma;  // float32 subtraction, as the scheduler's tensors
    auto xf = x.to(torch::kFloat);
    auto x_next = xf + dt * v;  // Euler step in float32
    x = x_next.to(ldt);         // official bf16 run: latents back to bf16 after every step
    r.completed_steps = i + 1;
    if (control.on_step) {
      StepEvent e;
      e.step = i;
      e.total = total;
      e.sigma = sigma;
      e.sigma_next = sigma_next;
      e.seconds = now_s() - ts;
      e.latents = x;
      e.predicted = xf - sigma * v;
      e.model_output = out;
      if (!control.on_step(e)) break;
    }
  }
  r.latents = x.to(torch::kCPU, torch::kFloat);
  return r;
}

void MfmPipeline::decode_frames(const Prepared& p, const torch::Tensor& latents,
                                const std::function<void(const torch::Tensor&)>& sink) {
  c10::InferenceMode guard;
  const int64_t cout = c_.transformer->config().out_channels_resolved();
  auto z = latents.slice(1, 0, cout).to(c_.vae->device(), latent_dtype()).to(c_.vae->dtype());
  z = z * (1.0 / kLatentScale);
  const bool resize = p.output_width > 0 && p.output_height > 0;
  c_.vae->decode(z, [&](const torch::Tensor& frames, int64_t) {
    // frames [1, 3, n, H, W] -> [n, 3, H, W] on the CPU
    auto f = frames[0].permute({1, 0, 2, 3}).to(torch::kCPU);
    if (resize) {
      // isr/icolor: F.interpolate default mode (nearest) back to the input size (x upscale for isr).
      f = torch::nn::functional::interpolate(
          f, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{p.output_height, p.output_width})
                 .mode(torch::kNearest));
    }
    sink(f.contiguous());
  });
}

torch::Tensor MfmPipeline::decode_video(const Prepared& p, const torch::Tensor& latents) {
  c10::InferenceMode guard;
  std::vector<torch::Tensor> parts;  // [n, 3, H, W] float32
  auto kept = [](const torch::Tensor& u8) {  // [N, H, W, 3] uint8 -> [N, 3, H, W] in [-1, 1]
    return (u8.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0f - 0.5f) / 0.5f;
  };
  if (p.kept_pre.defined() && p.kept_pre.size(0) > 0) parts.push_back(kept(p.kept_pre));
  decode_frames(p, latents, [&](const torch::Tensor& f) { parts.push_back(f.to(torch::kFloat)); });
  if (p.kept_post.defined() && p.kept_post.size(0) > 0) parts.push_back(kept(p.kept_post));
  return torch::cat(parts).permute({1, 0, 2, 3}).unsqueeze(0).contiguous();  // [1, 3, T, H, W]
}

nlohmann::json MfmPipeline::recipe_for(const Prepared& p, const std::map<std::string, double>& timings,
                                       const std::string& media_path, int frames, int width, int height,
                                       tasks::Drop3Policy policy) const {
  nlohmann::json r;
  r["manyfold_recipe"] = 1;
  r["task"] = task_key(p.spec.task);
  r["task_name"] = tasks::task_facts(p.spec.task).task_name;
  r["prompt"] = p.spec.prompt;
  r["final_prompt"] = p.prompt;
  r["negative_prompt"] = p.negative_prompt;
  r["seed"] = p.seed;
  r["steps"] = p.spec.steps;
  r["guidance_scale"] = p.spec.guidance_scale;
  r["motion_score"] = p.spec.motion_score;
  r["shift"] = p.shift;
  r["use_t_schedule"] = p.spec.use_t_schedule;
  r["noise_aug_strength"] = p.spec.noise_aug_strength;
  r["keep_known_pixels"] = p.spec.keep_known_pixels;
  r["generation"] = {{"width", p.width}, {"height", p.height}, {"num_frames", p.num_frames}};
  const char* pol = policy == tasks::Drop3Policy::Driver           ? "driver"
                    : policy == tasks::Drop3Policy::EvenLatentOnly ? "even_latent_only"
                                                                   : "never";
  r["output"] = {{"file", fs::path(media_path).filename().string()},
                 {"frames", frames},
                 {"width", width},
                 {"height", height},
                 {"fps", std::to_string(p.spec.fps.num) + "/" + std::to_string(p.spec.fps.den)},
                 {"drop3_policy", pol}};
  r["model"] = c_.info;
  nlohmann::json t = nlohmann::json::object();
  for (const auto& [k, v] : timings) t[k] = v;
  r["timings_s"] = t;
  r["job"] = tasks::to_json(p.spec);
  if (!p.spec.loras.empty()) {
    auto arr = nlohmann::json::array();
    for (const auto& l : p.spec.loras) arr.push_back({{"path", l.path}, {"scale", l.scale}, {"file", file_fingerprint(l.path)}});
    r["loras"] = arr;
  }
  return r;
}

Outputs MfmPipeline::decode_and_write(const Prepared& p, const torch::Tensor& latents, const std::string& output_path,
                                      const DecodeControl& control) {
  c10::InferenceMode guard;
  const double t0 = now_s();
  Outputs out;
  out.stage_seconds = p.stage_seconds;
  const OutputNames names = output_names(p.spec, output_path);
  if (fs::path(names.media).has_parent_path()) fs::create_directories(fs::path(names.media).parent_path());
  const auto& facts = tasks::task_facts(p.spec.task);
  const int ow = p.output_width > 0 ? p.output_width : p.width;
  const int oh = p.output_height > 0 ? p.output_height : p.height;
  const tasks::OutputFrames of = tasks::output_frames(p.plan, control.drop3);
  std::map<std::string, double> timings = p.stage_seconds;
  const KnownPixels known = p.spec.keep_known_pixels ? known_pixels(p) : KnownPixels{};
  const nlohmann::json& extra = control.recipe_extra;

  if (facts.image_output || p.num_frames == 1) {
    torch::Tensor img;
    decode_frames(p, latents, [&](const torch::Tensor& f) {
      img = (known.defined() ? known.apply(f, 0) : f.to(torch::kFloat)).mean(0);  // [3, H, W]
    });
    auto u8 = image_to_u8(img).permute({1, 2, 0}).contiguous();  // [H, W, 3]
    if (control.on_frames) control.on_frames(0, u8.unsqueeze(0));
    timings["decode"] = now_s() - t0;
    out.recipe = recipe_for(p, timings, names.media, 1, static_cast<int>(u8.size(1)), static_cast<int>(u8.size(0)),
                            control.drop3);
    for (auto& [k, v] : extra.items()) out.recipe[k] = v;
    media::write_png(names.media, to_media_image(u8), out.recipe.dump());
  } else {
    // The recipe in the container is written when the file is opened (before decoding); the sidecar below adds
    // the decode time.
    auto pre_recipe = recipe_for(p, timings, names.media, of.final_count, ow, oh, control.drop3);
    for (auto& [k, v] : extra.items()) pre_recipe[k] = v;
    media::EncodeOptions eo;
    eo.codec = media::Codec::H264;
    eo.fps = media::Rational(p.spec.fps.num, p.spec.fps.den);
    eo.recipe_json = pre_recipe.dump();
    media::VideoWriter writer(names.media, ow, oh, eo);
    int index = 0;    // position in MfMPipeline's return value (pre + decoded + post)
    int written = 0;  // frames written
    auto emit = [&](const torch::Tensor& u8) {  // [n, H, W, 3]
      std::vector<int64_t> keep;
      for (int64_t k = 0; k < u8.size(0); ++k, ++index)
        if (index < of.dropped_at || index >= of.dropped_at + of.dropped) keep.push_back(k);
      if (keep.empty()) return;
      auto sel = u8.index_select(0, torch::tensor(keep, torch::kLong)).contiguous();
      for (int64_t k = 0; k < sel.size(0); ++k) writer.write(to_media_image(sel[k]));
      if (control.on_frames) control.on_frames(written, sel);
      written += static_cast<int>(sel.size(0));
    };
    if (p.kept_pre.defined() && p.kept_pre.size(0) > 0) emit(p.kept_pre);  // untouched input frames
    // Decoded frame d is condition frame d - extra_decoded (an even latent count decodes 3 frames more, first).
    const int64_t extra_decoded = tasks::decoded_frames(tasks::latent_frames(p.num_frames)) - p.num_frames;
    int64_t decoded = 0;
    decode_frames(p, latents, [&](const torch::Tensor& f) {
      emit(video_to_u8(known.defined() ? known.apply(f, decoded - extra_decoded) : f).permute({0, 2, 3, 1}));
      decoded += f.size(0);
    });
    if (p.kept_post.defined() && p.kept_post.size(0) > 0) emit(p.kept_post);
    writer.finish();
    check(written == of.final_count, ErrorCode::Internal,
          "wrote " + std::to_string(written) + " frames, expected " + std::to_string(of.final_count));
    timings["decode"] = now_s() - t0;
    out.recipe = recipe_for(p, timings, names.media, written, ow, oh, control.drop3);
    for (auto& [k, v] : extra.items()) out.recipe[k] = v;
  }
  out.stage_seconds = timings;
  {
    const std::string tmp = names.sidecar + ".tmp";
    std::ofstream f(tmp);
    f << out.recipe.dump(2) << "\n";
    f.close();
    check(static_cast<bool>(f), ErrorCode::Io, "cannot write " + names.sidecar);
    fs::rename(tmp, names.sidecar);
  }
  out.files = {names.media, names.sidecar};
  return out;
}

}  // namespace

OutputNames output_names(const tasks::TaskSpec& spec, const std::string& output_path) {
  OutputNames n;
  fs::path p(output_path);
  if (tasks::task_facts(spec.task).image_output) {
    p.replace_extension(".png");
  } else if (!p.has_extension()) {
    p += ".mp4";
  }
  n.media = p.string();
  fs::path s = p;
  s.replace_extension(".json");
  n.sidecar = s.string();
  return n;
}

nlohmann::json file_fingerprint(const std::string& path) {
  nlohmann::json j;
  j["file"] = path;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    j["missing"] = true;
    return j;
  }
  j["size"] = size;
  const auto mtime = fs::last_write_time(path, ec);
  j["mtime_ns"] = static_cast<int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count());
  std::ifstream f(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  const auto n = static_cast<size_t>(f.gcount());
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(buf[i]);
    h *= 1099511628211ull;
  }
  std::ostringstream os;
  os << std::hex;
  os.width(16);
  os.fill('0');
  os << h;
  j["fnv1a64_first_mib"] = os.str();
  return j;
}

vae::LatentPreview default_latent_preview() {
  // A fixed, documented fallback: each output colour is the mean of a disjoint group of latent channels
  // (R: 0-4, G: 5-9, B: 10-15), scaled by 0.5. It shows layout and motion, not true colours; a fitted
  // preview (resources/preview/*.json, `manyfold fit-preview`) replaces it when one matches the VAE.
  vae::LatentPreview p;
  p.weight.assign(3, std::vector<double>(16, 0.0));
  for (int c = 0; c < 16; ++c) {
    const int k = c < 5 ? 0 : c < 10 ? 1 : 2;
    p.weight[k][c] = 0.5 / (k == 2 ? 6.0 : 5.0);
  }
  p.bias = {0, 0, 0};
  p.model = "manyfold-default";
  return p;
}

std::unique_ptr<Pipeline> make_pipeline(Components components, const LoadOptions& options) {
  return std::make_unique<MfmPipeline>(std::move(components), options);
}

namespace detail {
// Used by load.cpp: lets the pipeline reload T5 after release_text_encoder().
void set_text_encoder_dir(Pipeline& p, const std::string& dir) {
  static_cast<MfmPipeline&>(p).set_text_encoder_dir(dir);
}
}  // namespace detail

}  // namespace mf::pipeline
