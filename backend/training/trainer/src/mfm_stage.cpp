// The MfM stage: DiT + T5 trained on toy-world clips with the official condition construction (see mfm_stage.h).
#include "mf/training/mfm_stage.h"

#include "mf/training/toy_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/io/autocast.h"
#include "mf/io/tensor_io.h"
#include "mf/tasks/prompt.h"
#include "mf/tasks/task_spec.h"
#include "mf/toyworld/rng.h"
#include "mf/training/checkpoint.h"
#include "mf/training/vae_stage.h"
#include "option_reader.h"

namespace mf::training {

namespace fs = std::filesystem;
using nlohmann::json;
using tasks::TaskId;

namespace {

constexpr double kLatentScale = 0.958917567;  // the pipeline divides latents by it before decoding

bool is_image_task(TaskId t) { return tasks::task_facts(t).image_output; }

cv::Mat mat_of(tasks::Image8& im) {
  return cv::Mat(im.height, im.width, im.channels == 1 ? CV_8UC1 : CV_8UC3, im.pixels.data());
}

double unit(mf::toyworld::Rng& rng) { return static_cast<double>(rng.below(1u << 30)) / static_cast<double>(1u << 30); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
std::map<std::string, double> MfmStageOptions::default_tasks() {
  // Basic generation 3x (MfM paper); the editing tasks once each. The generation tasks (i2v, itrans, vexd, vtrans) and vedit are off by default.
  return {{"t2v", 3.0},  {"t2i", 3.0},   {"vinp", 1.0},   {"iinp", 1.0}, {"voutp", 1.0},
          {"ioutp", 1.0}, {"vcolor", 1.0}, {"icolor", 1.0}, {"vsr", 1.0},  {"isr", 1.0}};
}

MfmStageOptions MfmStageOptions::from_json(const json& j, int frames, std::vector<std::string>& problems) {
  MfmStageOptions o;
  if (!OptionReader::section_is_object(j, "mfm", problems)) return o;
  OptionReader r(j, "mfm", problems);
  r.string("vae", o.vae, true, "a folder path");
  r.string("tokenizer", o.tokenizer, true, "a folder path");
  r.string("depth", o.depth);
  r.string("init_from", o.init_from);
  r.integer("text_d_model", o.text_d_model, 8, 8192);
  r.integer("text_d_kv", o.text_d_kv, 4, 1024);
  r.integer("text_d_ff", o.text_d_ff, 8, 65536);
  r.integer("text_layers", o.text_layers, 1, 64);
  r.integer("text_heads", o.text_heads, 1, 128);
  r.integer("heads", o.heads, 1, 128);
  r.integer("head_dim", o.head_dim, 8, 1024);
  r.integer("layers", o.layers, 1, 128);
  r.number("shift", o.shift, 0.05, 100.0);
  r.number("logit_mean", o.logit_mean, -10.0, 10.0);
  r.number("logit_std", o.logit_std, 0.01, 10.0);
  r.number("text_dropout", o.text_dropout, 0.0, 1.0);
  r.number("depth_dropout", o.depth_dropout, 0.0, 1.0);
  r.integer("sr_factor", o.sr_factor, 1, 16);
  r.integer("scale_clips", o.scale_clips, 1, 4096);
  r.number("adapter_out_scale", o.adapter_out_scale, 0.0, 10.0);
  r.number("adapter_gain", o.adapter_gain, 0.1, 10.0);
  r.number("adapter_aux_weight", o.adapter_aux_weight, 0.0, 100.0);
  r.string("adapter_init", o.adapter_init);
  r.boolean("train_text_encoder", o.train_text_encoder);
  if (o.adapter_init != "fan_in" && o.adapter_init != "data")
    problems.push_back("'mfm.adapter_init' must be \"fan_in\" or \"data\", found \"" + o.adapter_init + "\"");
  if (o.adapter_init == "data" && !o.init_from.empty())
    problems.push_back("'mfm.adapter_init' \"data\" initialises a fresh adapter, but 'mfm.init_from' loads trained "
                       "weights over it: drop one of the two");
  if (o.head_dim % 4 != 0) problems.push_back("'mfm.head_dim' must be a multiple of 4 (3D RoPE)");
  if (r.has("tasks")) {
    const auto& t = j["tasks"];
    if (!t.is_object() || t.empty()) {
      problems.push_back("'mfm.tasks' must be an object of task -> weight, found " + t.dump());
    } else {
      o.tasks.clear();
      for (auto it = t.begin(); it != t.end(); ++it) {
        const auto id = tasks::parse_task_id(it.key());
        if (!id) {
          problems.push_back("'mfm.tasks': unknown task '" + it.key() + "' (known: " + tasks::task_key_list() + ")");
          continue;
        }
        if (!it->is_number() || it->get<double>() < 0) {
          problems.push_back("'mfm.tasks." + it.key() + "' must be a weight >= 0, found " + it->dump());
          continue;
        }
        if (*id == TaskId::VEdit && it->get<double>() > 0)
          problems.push_back("'mfm.tasks.vedit': the toy world has no edit pairs, so vedit cannot be trained");
        if (tasks::task_facts(*id).generation && it->get<double>() > 0 &&
            frames < tasks::min_generation_frames(*id))
          problems.push_back("'mfm.tasks." + it.key() + "': " + it.key() + " keeps " +
                             std::to_string(tasks::known_generation_frames(*id)) +
                             " known frame(s), so it trains only on clips of at least " +
                             std::to_string(tasks::min_generation_frames(*id)) + " frames (\"frames\": " +
                             std::to_string(frames) + ")");
        o.tasks[it.key()] = it->get<double>();
      }
      double total = 0;
      for (const auto& [k, w] : o.tasks) total += w;
      if (total <= 0) problems.push_back("'mfm.tasks' needs at least one task with a positive weight");
    }
  }
  r.unknown_keys();
  return o;
}

json MfmStageOptions::to_json() const {
  return {{"vae", vae},
          {"tokenizer", tokenizer},
          {"depth", depth},
          {"text_d_model", text_d_model},
          {"text_d_kv", text_d_kv},
          {"text_d_ff", text_d_ff},
          {"text_layers", text_layers},
          {"text_heads", text_heads},
          {"heads", heads},
          {"head_dim", head_dim},
          {"layers", layers},
          {"tasks", tasks},
          {"shift", shift},
          {"logit_mean", logit_mean},
          {"logit_std", logit_std},
          {"text_dropout", text_dropout},
          {"depth_dropout", depth_dropout},
          {"sr_factor", sr_factor},
          {"scale_clips", scale_clips},
          {"adapter_out_scale", adapter_out_scale},
          {"adapter_gain", adapter_gain},
          {"adapter_aux_weight", adapter_aux_weight},
          {"adapter_init", adapter_init},
          {"train_text_encoder", train_text_encoder},
          {"init_from", init_from}};
}

json MfmStageOptions::transformer_config(int64_t text_dim) const {
  return {{"_class_name", "Transformer3DModel"},
          {"_manyfold_trained", true},
          {"num_attention_heads", heads},
          {"attention_head_dim", head_dim},
          {"in_channels", 16},
          {"out_channels", 16},
          {"num_layers", layers},
          {"cross_attention_dim", text_dim},
          {"patch_size", 2},
          {"patch_size_t", 1},
          {"activation_fn", "gelu-approximate"},
          {"norm_type", "ada_norm_zero"},
          {"sample_size", 32},
          {"use_rope", true},
          {"add_motion_score", true},
          {"condition_type", "inpaint_mask"},
          {"use_depth_cond", true},
          {"sequence_parallel_size", 1}};
}

json MfmStageOptions::text_config(int64_t vocab) const {
  return {{"architectures", {"T5EncoderModel"}},
          {"model_type", "t5"},
          {"_manyfold_trained", true},
          {"vocab_size", vocab},
          {"d_model", text_d_model},
          {"d_kv", text_d_kv},
          {"d_ff", text_d_ff},
          {"num_layers", text_layers},
          {"num_heads", text_heads},
          {"relative_attention_num_buckets", 32},
          {"relative_attention_max_distance", 128},
          {"layer_norm_epsilon", 1e-6},
          {"feed_forward_proj", "gated-gelu"},
          {"is_encoder_decoder", true},
          {"pad_token_id", 0},
          {"eos_token_id", 1},
          {"tie_word_embeddings", false}};
}

// ---------------------------------------------------------------------------------------------------------------
tasks::ConditionInputs make_task_inputs(TaskId task, const std::vector<tasks::Image8>& frames, uint64_t seed,
                                        int sr_factor) {
  mf::check(!frames.empty(), mf::ErrorCode::BadInput, "make_task_inputs: no frames");
  mf::toyworld::Rng rng(seed);
  const int W = frames[0].width, H = frames[0].height, T = static_cast<int>(frames.size());
  tasks::ConditionInputs in;
  auto masks = [&](const std::function<void(cv::Mat&, int)>& draw) {
    for (int t = 0; t < T; ++t) {
      tasks::Image8 m(W, H, 1, 255);
      cv::Mat mm = mat_of(m);
      draw(mm, t);
      in.mask.push_back(std::move(m));
    }
  };
  switch (task) {
    case TaskId::T2V:
    case TaskId::T2I:
      break;
    case TaskId::VInp:
    case TaskId::IInp: {
      in.clip1 = frames;
      // A rectangle or an ellipse covering 20-60% of each side; held, or moving linearly (videos, half the time).
      const bool ellipse = rng.below(2) == 1;
      const double w = (0.2 + 0.4 * unit(rng)) * W, h = (0.2 + 0.4 * unit(rng)) * H;
      const double x0 = unit(rng) * (W - w), y0 = unit(rng) * (H - h);
      const bool moving = task == TaskId::VInp && rng.below(2) == 1;
      const double x1 = moving ? unit(rng) * (W - w) : x0, y1 = moving ? unit(rng) * (H - h) : y0;
      masks([&](cv::Mat& m, int t) {
        const double a = T > 1 ? static_cast<double>(t) / (T - 1) : 0.0;
        const double x = x0 + a * (x1 - x0), y = y0 + a * (y1 - y0);
        if (ellipse)
          cv::ellipse(m, cv::Point2d(x + w / 2, y + h / 2), cv::Size2d(w / 2, h / 2), 0, 0, 360, cv::Scalar(0),
                      cv::FILLED);
        else
          cv::rectangle(m, cv::Rect2d(x, y, w, h), cv::Scalar(0), cv::FILLED);
      });
      break;
    }
    case TaskId::VOutp:
    case TaskId::IOutp: {
      in.clip1 = frames;
      // Borders to generate: left/right, top/bottom, or all four, each 10-30% of the side.
      const int mode = static_cast<int>(rng.below(3));
      auto side = [&](int n) { return static_cast<int>(std::round((0.1 + 0.2 * unit(rng)) * n)); };
      const int l = mode != 1 ? side(W) : 0, r = mode != 1 ? side(W) : 0;
      const int tp = mode != 0 ? side(H) : 0, b = mode != 0 ? side(H) : 0;
      masks([&](cv::Mat& m, int) {
        if (l) cv::rectangle(m, cv::Rect(0, 0, l, H), cv::Scalar(0), cv::FILLED);
        if (r) cv::rectangle(m, cv::Rect(W - r, 0, r, H), cv::Scalar(0), cv::FILLED);
        if (tp) cv::rectangle(m, cv::Rect(0, 0, W, tp), cv::Scalar(0), cv::FILLED);
        if (b) cv::rectangle(m, cv::Rect(0, H - b, W, b), cv::Scalar(0), cv::FILLED);
      });
      break;
    }
    case TaskId::VSR:
    case TaskId::ISR: {
      mf::check(W % sr_factor == 0 && H % sr_factor == 0, mf::ErrorCode::BadInput,
                "super-resolution training: the clip size must be a multiple of sr_factor");
      for (const auto& f : frames) {
        tasks::Image8 small(W / sr_factor, H / sr_factor, 3);
        tasks::Image8 src = f;
        cv::Mat dst = mat_of(small);
        cv::resize(mat_of(src), dst, dst.size(), 0, 0, cv::INTER_AREA);
        in.clip1.push_back(std::move(small));
      }
      break;
    }
    case TaskId::VColor:
    case TaskId::IColor:
      in.clip1 = frames;  // the condition code converts it to grey
      break;
    case TaskId::I2V:
      in.clip1 = {frames.front()};
      break;
    case TaskId::ITrans:
      in.clip1 = {frames.front()};
      in.clip2 = {frames.back()};
      break;
    case TaskId::VExd:
      mf::check(T >= 8, mf::ErrorCode::BadInput, "vexd training needs at least 8 frames");
      in.clip1.assign(frames.begin(), frames.begin() + 8);
      break;
    case TaskId::VTrans:
      mf::check(T >= 16, mf::ErrorCode::BadInput, "vtrans training needs at least 16 frames");
      in.clip1.assign(frames.begin(), frames.begin() + 8);
      in.clip2.assign(frames.end() - 8, frames.end());
      break;
    case TaskId::VEdit:
      throw mf::Error(mf::ErrorCode::BadInput, "vedit cannot be trained on the toy world (no edit pairs)");
  }
  return in;
}

// ---------------------------------------------------------------------------------------------------------------
void rescale_vae_latents(mf::vae::CogVideoXVae& vae, const std::vector<double>& k) {
  const int64_t C = vae.config().latent_channels;
  mf::check(static_cast<int64_t>(k.size()) == C, mf::ErrorCode::BadInput, "rescale_vae_latents: wrong factor count");
  torch::NoGradGuard ng;
  const auto kt = torch::tensor(std::vector<float>(k.begin(), k.end())).to(vae.device());
  int changed = 0;
  for (auto& p : vae.model()->named_parameters()) {
    const std::string& n = p.key();
    auto& v = p.value();
    if (n == "encoder.conv_out.conv.weight") {
      v.slice(0, 0, C).mul_(kt.to(v.dtype()).view({C, 1, 1, 1, 1}));
      ++changed;
    } else if (n == "encoder.conv_out.conv.bias") {
      v.slice(0, 0, C).mul_(kt.to(v.dtype()));
      v.slice(0, C, 2 * C).add_((2.0 * kt.log()).to(v.dtype()));
      ++changed;
    } else if (n.rfind("decoder.", 0) == 0 && n.size() > 12 && n.compare(n.size() - 12, 12, ".conv.weight") == 0 &&
               (n == "decoder.conv_in.conv.weight" || n.find("conv_y") != std::string::npos ||
                n.find("conv_b") != std::string::npos)) {
      mf::check(v.size(1) == C, mf::ErrorCode::Internal, n + " does not read the latent");
      v.div_(kt.to(v.dtype()).view({1, C, 1, 1, 1}));
      ++changed;
    }
  }
  mf::check(changed >= 3, mf::ErrorCode::Internal, "rescale_vae_latents: the VAE has none of the expected layers");
}

// ---------------------------------------------------------------------------------------------------------------
namespace {

// Module holding the trained parts under fixed names (checkpoint tensor names).
struct RootImpl : torch::nn::Module {};

void init_transformer(mf::mfm::Transformer3DModelImpl& m, uint64_t seed, double adapter_out_scale,
                      double adapter_gain) {
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  for (auto& kv : m.named_parameters()) {
    const std::string& n = kv.key();
    auto& p = kv.value();
    const bool adapter_out = n.rfind("cond_conv.conv_out.", 0) == 0;
    const bool adapter_hidden = !adapter_out && n.rfind("cond_conv.", 0) == 0;
    const bool zero = n.find("norm1.linear.") != std::string::npos || n.rfind("proj_out_2.", 0) == 0 ||
                      (adapter_out && adapter_out_scale == 0.0);
    if (zero || (p.dim() == 1 && n.find("bias") != std::string::npos)) {
      p.zero_();
    } else if (p.dim() == 1) {
      p.fill_(1.0);  // norm weights
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      const double gain = adapter_out ? adapter_out_scale : adapter_hidden ? adapter_gain : 1.0;
      p.copy_(at::randn(p.sizes(), gen, f32) * (gain / std::sqrt(fan_in)));
    }
  }
}

// T5's own initialisation (transformers T5PreTrainedModel._init_weights, factor 1).
void init_t5(mf::text::T5EncoderImpl& m, uint64_t seed) {
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed);
  const auto& c = m.config();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  auto normal = [&](torch::Tensor& p, double std) { p.copy_(at::randn(p.sizes(), gen, f32) * std); };
  const double d = static_cast<double>(c.d_model), kv = static_cast<double>(c.d_kv), h = static_cast<double>(c.num_heads);
  for (auto& kvp : m.named_parameters()) {
    const std::string& n = kvp.key();
    auto& p = kvp.value();
    auto ends = [&](const char* s) {
      const std::string e(s);
      return n.size() >= e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0;
    };
    if (n == "encoder.embed_tokens.weight") continue;  // the same tensor as shared.weight
    if (ends("layer_norm.weight")) p.fill_(1.0);
    else if (n == "shared.weight") normal(p, 1.0);
    else if (ends(".q.weight")) normal(p, 1.0 / std::sqrt(d * kv));
    else if (ends(".k.weight") || ends(".v.weight")) normal(p, 1.0 / std::sqrt(d));
    else if (ends(".o.weight")) normal(p, 1.0 / std::sqrt(h * kv));
    else if (ends("relative_attention_bias.weight")) normal(p, 1.0 / std::sqrt(d));
    else if (ends(".wo.weight")) normal(p, 1.0 / std::sqrt(static_cast<double>(c.d_ff)));
    else if (n.find(".wi") != std::string::npos) normal(p, 1.0 / std::sqrt(d));
    else if (p.dim() == 1) p.fill_(1.0);
    else normal(p, 1.0 / std::sqrt(static_cast<double>(p.numel() / p.size(0))));
  }
}

// [3, T, H, W] float in [-1, 1] -> uint8 RGB frames.
std::vector<tasks::Image8> to_frames(const torch::Tensor& chw) {
  const auto u8 = ((chw + 1.0) * 127.5).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
  const int T = static_cast<int>(u8.size(0)), H = static_cast<int>(u8.size(1)), W = static_cast<int>(u8.size(2));
  std::vector<tasks::Image8> out;
  for (int t = 0; t < T; ++t) {
    tasks::Image8 im(W, H, 3);
    std::memcpy(im.pixels.data(), u8[t].data_ptr<uint8_t>(), im.pixels.size());
    out.push_back(std::move(im));
  }
  return out;
}

void write_json(const fs::path& p, const json& j) {
  fs::create_directories(p.parent_path());
  write_file_atomic(p.string(), j.dump(2) + "\n");
}

void copy_folder(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
}

}  // namespace

MfmStage::MfmStage(const TrainConfig& cfg, MfmStageOptions options)
    : cfg_(cfg), opt_(std::move(options)), data_(dataset_options(cfg)), device_(cfg.torch_device()) {
  mf::check(cfg.stage == "mfm", mf::ErrorCode::BadInput, "MfmStage needs a config with stage \"mfm\"");
  mf::check(fs::exists(fs::path(opt_.vae) / "config.json"), mf::ErrorCode::MissingModel,
            "the mfm stage trains on a frozen VAE, but " + opt_.vae +
                " has no config.json: train stage \"vae\" first and point 'mfm.vae' at its vae/ output folder");
  vae_ = std::make_unique<mf::vae::CogVideoXVae>(mf::vae::CogVideoXVae::load(opt_.vae, device_));
  vae_->model()->eval();
  for (auto& p : vae_->model()->parameters()) p.set_requires_grad(false);
  tokenizer_ = std::make_shared<mf::text::T5Tokenizer>(mf::text::T5Tokenizer::load(opt_.tokenizer));
  mf::check(cfg.width % 16 == 0 && cfg.height % 16 == 0, mf::ErrorCode::BadInput,
            "the mfm stage needs width and height multiples of 16 (8x VAE and 2x2 patches)");

  for (const auto& [key, w] : opt_.tasks) {
    if (w <= 0) continue;
    task_list_.push_back(*tasks::parse_task_id(key));
    task_cdf_.push_back((task_cdf_.empty() ? 0.0 : task_cdf_.back()) + w);
  }
  mf::check(!task_list_.empty(), mf::ErrorCode::BadInput, "the mfm stage has no task to train");

  // Latent scale: per-channel std of the posterior mean over the first scale_clips training clips; a run that
  // starts from an earlier one (init_from) keeps that run's scale, so its weights see the latents they learnt.
  if (!opt_.init_from.empty()) {
    channel_scale_ = adopt_latent_scale(opt_.init_from);
    rescale_vae_latents(*vae_, channel_scale_);
  } else {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> zs;
    for (int64_t i = 0; i < opt_.scale_clips; ++i)
      zs.push_back(vae_->encode(data_.range(Split::Train, i, 1).video).mean);
    const auto z = torch::cat(zs, 2).transpose(0, 1).reshape({vae_->config().latent_channels, -1});
    const auto sd = z.std(1);
    for (int64_t c = 0; c < sd.size(0); ++c)
      channel_scale_.push_back(1.0 / (kLatentScale * std::max(1e-3, sd[c].item<double>())));
    rescale_vae_latents(*vae_, channel_scale_);
  }

  torch::manual_seed(cfg.seed);
  const auto tcfg = mf::text::T5Config::from_json(opt_.text_config(tokenizer_->vocab_size()).dump(), "mfm text config");
  // Random draws come from CPU generators and are copied in, so every device starts from the same weights.
  t5_ = mf::text::T5Encoder(tcfg, torch::kFloat, device_);
  transformer_ = mf::mfm::Transformer3DModel(
      mf::mfm::Config::from_json_text(opt_.transformer_config(opt_.text_d_model).dump(), "mfm transformer config"));
  transformer_->to(device_);
  if (opt_.init_from.empty()) {
    init_t5(*t5_, cfg.seed * 2 + 1);
    init_transformer(*transformer_, cfg.seed * 2 + 2, opt_.adapter_out_scale, opt_.adapter_gain);
  } else {
    load_initial_weights(opt_.init_from);  // every tensor (strict), so no random draw is needed first
  }
  if (opt_.adapter_init == "data") init_adapter_from_data();
  // mf_text's T5 is an inference module: it registers its weights without gradients. Trained jointly here, so
  // switch them on (until this line existed the text encoder silently kept its random initialisation), unless the
  // config keeps it frozen (mfm.train_text_encoder false).
  for (auto& p : t5_->parameters()) p.set_requires_grad(opt_.train_text_encoder);
  transformer_->set_gradient_checkpointing(cfg.gradient_checkpointing);
  root_ = std::make_shared<RootImpl>();
  root_->register_module("transformer", transformer_.ptr());
  root_->register_module("text_encoder", t5_.ptr());
  if (opt_.adapter_aux_weight > 0) {
    // The probe reads one token of the adapter's output and predicts that patch of x0 (unpatchify's channel order).
    const auto& tc = transformer_->config();
    const int64_t p = tc.patch_size;
    adapter_probe_ = torch::nn::Linear(tc.inner_dim(), p * p * tc.out_channels_resolved());
    torch::NoGradGuard ng;
    auto gen = at::detail::createCPUGenerator(cfg.seed * 2 + 3);
    auto& w = adapter_probe_->weight;
    w.copy_(at::randn(w.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)) /
            std::sqrt(static_cast<double>(w.size(1))));
    adapter_probe_->bias.zero_();
    adapter_probe_->to(device_);
    root_->register_module("adapter_probe", adapter_probe_);
  }
}

void MfmStage::init_adapter_from_data() {
  torch::NoGradGuard ng;
  // Calibration conditions: 4 training clips per task that has a condition (t2v/t2i give all-zero inputs).
  std::vector<torch::Tensor> conds;
  const int64_t n = std::min<int64_t>(4, cfg_.train_size > 0 ? cfg_.train_size : 4);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  for (size_t k = 0; k < task_list_.size(); ++k) {
    const TaskId task = task_list_[k];
    if (task == TaskId::T2V || task == TaskId::T2I) continue;
    std::vector<uint64_t> draws;
    for (int64_t i = 0; i < n; ++i) draws.push_back(mix_seed(0xada7ULL + k, static_cast<uint64_t>(i)));
    const auto e = make_example(task, Split::Train, idx, draws, std::vector<bool>(n, false), std::vector<bool>(n, false));
    conds.push_back(torch::cat({e.cond, e.cond_mask}, 1));
  }
  if (conds.empty()) return;  // text-only training: nothing to calibrate on
  auto& a = *transformer_->cond_conv;
  for (int l = 0; l < mf::mfm::ConditionAdapterImpl::kLayers; ++l) {
    const bool out = l == mf::mfm::ConditionAdapterImpl::kLayers - 1;
    const double target = out ? opt_.adapter_out_scale : 1.0;
    if (target == 0.0) continue;  // a zero conv_out stays zero
    auto conv = a.layer(l);
    // Pooled per-channel mean, then the std about those means, over every calibration condition.
    torch::Tensor sum, sumsq;
    double count = 0;
    for (const auto& c : conds) {
      const auto y = a.layer_output(c, l).to(torch::kDouble);  // [N, C, H, W]
      const auto s1 = y.sum({0, 2, 3}), s2 = y.square().sum({0, 2, 3});
      sum = sum.defined() ? sum + s1 : s1;
      sumsq = sumsq.defined() ? sumsq + s2 : s2;
      count += static_cast<double>(y.numel() / y.size(1));
    }
    const auto mean = sum / count;
    const double var = ((sumsq / count) - mean.square()).mean().item<double>();
    const double k = target / std::sqrt(std::max(var, 1e-30));
    conv->bias.sub_(mean.to(conv->bias.scalar_type())).mul_(k);
    conv->weight.mul_(k);
  }
}

std::vector<std::string> MfmStage::metric_names() const {
  if (opt_.adapter_aux_weight > 0) return {"sigma", "v_loss", "adapter_aux"};
  return {"sigma"};
}

torch::Tensor MfmStage::adapter_probe_error(const torch::Tensor& adapter, const torch::Tensor& x0) {
  mf::check(static_cast<bool>(adapter_probe_), mf::ErrorCode::Internal, "the adapter probe is off");
  const int64_t B = x0.size(0), C = x0.size(1), T = x0.size(2), p = transformer_->config().patch_size;
  const int64_t hp = x0.size(3) / p, wp = x0.size(4) / p;
  // x0 [B, C, T, h'p, w'p] -> [B, T*h'*w', p*p*C] with index (py*p + px)*C + c, the order head() unpatchifies.
  const auto target = x0.view({B, C, T, hp, p, wp, p}).permute({0, 2, 3, 5, 4, 6, 1}).reshape({B, T * hp * wp, p * p * C});
  const auto pred = adapter_probe_(adapter.flatten(2).transpose(1, 2).to(torch::kFloat));  // [B, S, p*p*C]
  return (pred - target).square().mean({1, 2});
}

namespace {
std::string init_from_file(const std::string& folder, const std::string& relative) {
  const fs::path f = fs::path(folder) / relative;
  mf::check(fs::exists(f), mf::ErrorCode::MissingModel,
            "'mfm.init_from' is " + folder + ", which has no " + relative +
                ": point it at the pipeline/ folder of an earlier mfm run");
  return f.string();
}
}  // namespace

std::vector<double> MfmStage::adopt_latent_scale(const std::string& folder) const {
  // The earlier run exported its VAE with the per-channel scale folded into the encoder output's mean rows
  // (rescale_vae_latents): recover each channel's factor from those rows and check that the rest is this VAE.
  const auto va = mf::io::WeightSource::open(init_from_file(folder, "vae"));
  torch::NoGradGuard ng;
  const std::string probe = "encoder.conv_out.conv.weight";
  mf::check(va.contains(probe), mf::ErrorCode::BadFile, folder + "/vae has no " + probe);
  const auto params = vae_->model()->named_parameters();
  const torch::Tensor* found = params.find(probe);
  mf::check(found != nullptr, mf::ErrorCode::Internal, "the mfm stage's VAE has no " + probe);
  const auto mine = found->detach().to(torch::kCPU, torch::kFloat);
  const auto theirs = va.read(probe, torch::kFloat);
  const int64_t C = vae_->config().latent_channels;
  const std::string another = "'mfm.init_from' (" + folder + ") was trained on another VAE than 'mfm.vae' (" +
                              opt_.vae + "): point 'mfm.vae' at the VAE that run used";
  mf::check(mine.sizes() == theirs.sizes(), mf::ErrorCode::BadInput, another);
  std::vector<double> k;
  for (int64_t c = 0; c < C; ++c) {
    const auto a = mine[c].flatten(), b = theirs[c].flatten();
    const double kc = (a * b).sum().item<double>() / std::max(1e-30, (a * a).sum().item<double>());
    const double err = (a * kc - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
    mf::check(kc > 0 && err <= 1e-4, mf::ErrorCode::BadInput, another);
    k.push_back(kc);
  }
  const double rest = (mine.slice(0, C) - theirs.slice(0, C)).norm().item<double>();
  mf::check(rest <= 1e-5 * (1e-12 + theirs.slice(0, C).norm().item<double>()), mf::ErrorCode::BadInput, another);
  return k;
}

void MfmStage::load_initial_weights(const std::string& folder) {
  const auto tr = mf::io::WeightSource::open(init_from_file(folder, "transformer/diffusion_pytorch_model.safetensors"));
  const auto te = mf::io::WeightSource::open(init_from_file(folder, "text_encoder/model.safetensors"));
  mf::io::load_state_dict(*transformer_, tr);  // strict: a different architecture names every tensor
  const auto rep = mf::io::load_state_dict(*t5_, te, false);
  const bool only_tied = rep.unexpected.empty() && rep.shape_mismatches.empty() &&
                         (rep.missing.empty() ||
                          (rep.missing.size() == 1 && rep.missing[0] == "encoder.embed_tokens.weight"));
  mf::check(only_tied, mf::ErrorCode::BadFile,
            "'mfm.init_from': the text encoder in " + folder + " does not fit the configured one:\n" + rep.to_string());
}

MfmStage::Example MfmStage::make_example(TaskId task, Split split, const std::vector<int64_t>& indices,
                                         const std::vector<uint64_t>& draws, const std::vector<bool>& drop_text,
                                         const std::vector<bool>& drop_depth) {
  torch::NoGradGuard ng;
  const auto batch = data_.get(split, indices);
  const bool image = is_image_task(task);
  const int64_t B = batch.size(), T = image ? 1 : batch.video.size(2), H = cfg_.height, W = cfg_.width;
  std::vector<torch::Tensor> targets, conds, cmasks, ids, tmasks;
  auto spec = tasks::official_defaults(task);
  spec.width = static_cast<int>(W);
  spec.height = static_cast<int>(H);
  spec.num_frames = static_cast<int>(T);
  spec.upscale = opt_.sr_factor;
  for (int64_t b = 0; b < B; ++b) {
    // Image tasks use one frame of the clip (chosen by the draw).
    const int64_t t_img = static_cast<int64_t>(draws[b] % static_cast<uint64_t>(batch.video.size(2)));
    auto clip = image ? batch.video[b].slice(1, t_img, t_img + 1) : batch.video[b];  // [3, T, H, W]
    auto depth = image ? batch.depth[b].slice(1, t_img, t_img + 1) : batch.depth[b];  // [1, T, H, W]
    const auto frames = to_frames(clip);
    const auto inputs = make_task_inputs(task, frames, mix_seed(draws[b], 0x6d61736bULL), opt_.sr_factor);
    spec.prompt = batch.captions[b];
    const auto cf = tasks::build_condition_frames(spec, inputs);
    mf::check(cf.num_frames() == T && cf.width() == W && cf.height() == H, mf::ErrorCode::Internal,
              std::string("mfm stage: the condition of ") + tasks::to_string(task) + " has another size than the clip");
    auto pv = torch::zeros({4, T, H, W}, torch::kFloat);
    auto m = torch::zeros({1, T, H, W}, torch::kFloat);
    tasks::condition_to_float(cf, tasks::ConditionPrecision::Float32, pv.data_ptr<float>(), m.data_ptr<float>());
    if (!drop_depth[b])
      for (int t : cf.plan.depth_frames) pv[3][t].copy_(depth[0][t]);
    const auto prompts = tasks::preprocessed_prompts(spec);
    const auto enc = tokenizer_->encode(drop_text[b] ? prompts.negative : prompts.positive);
    targets.push_back(clip);
    conds.push_back(pv);
    cmasks.push_back(m);
    ids.push_back(torch::tensor(enc.ids, torch::kLong));
    tmasks.push_back(torch::tensor(enc.attention_mask, torch::kLong));
  }
  Example e;
  std::vector<torch::Tensor> lat;
  for (int64_t b = 0; b < B; ++b) {
    // One clip at a time (the same numbers whatever the batch); cached for a fixed training set and the
    // validation split, whose clips repeat (an unbounded training stream never repeats a clip).
    const int64_t t_img = image ? static_cast<int64_t>(draws[b] % static_cast<uint64_t>(batch.video.size(2))) : -1;
    const bool cacheable = split == Split::Validation || cfg_.train_size > 0;
    const uint64_t key = mix_seed(batch.scene_seeds[b], static_cast<uint64_t>(t_img + 1));
    if (cacheable) {
      auto it = latent_cache_.find(key);
      if (it != latent_cache_.end()) {
        lat.push_back(it->second);
        continue;
      }
    }
    mf::io::AutocastGuard fp32(device_.type(), false);  // the frozen VAE encodes in float32 (exact, cached latents)
    auto z = vae_->encode(targets[b].unsqueeze(0)).mean;
    if (cacheable) latent_cache_.emplace(key, z);
    lat.push_back(z);
  }
  e.x0 = torch::cat(lat) * kLatentScale;
  e.cond = torch::stack(conds).to(device_);
  e.cond_mask = torch::stack(cmasks).to(device_);
  e.ids = torch::stack(ids).to(device_);
  e.text_mask = torch::stack(tmasks).to(device_);
  e.motion = torch::full({B}, spec.motion_score, torch::kFloat).to(device_);
  return e;
}

torch::Tensor MfmStage::predict(const Example& e, const torch::Tensor& x_t, const torch::Tensor& sigma,
                                torch::Tensor* adapter) {
  mf::mfm::TransformerInputs in;
  in.hidden_states = x_t;
  in.conditional_pixel_values = e.cond;
  in.conditional_masks = e.cond_mask;
  in.encoder_hidden_states = t5_->forward(e.ids);  // without the attention mask, as the pipeline runs T5
  in.encoder_attention_mask = e.text_mask;
  in.timestep = sigma * 1000.0;
  in.motion_score = e.motion;
  torch::Tensor x;
  const auto ctx = transformer_->embed(in, &x);
  for (int i = 0; i < transformer_->num_blocks(); ++i) x = transformer_->run_block(i, x, ctx);
  if (adapter) *adapter = ctx.adapter;
  return transformer_->head(x, ctx);
}

StepResult MfmStage::train_step(TrainState& state) {
  const double u = static_cast<double>(state.draw() >> 11) / static_cast<double>(1ull << 53);
  const size_t ti = static_cast<size_t>(std::upper_bound(task_cdf_.begin(), task_cdf_.end(), u * task_cdf_.back()) -
                                        task_cdf_.begin());
  const TaskId task = task_list_[std::min(ti, task_list_.size() - 1)];
  const auto indices = data_.train_indices(state.draw(), cfg_.batch);
  std::vector<uint64_t> draws;
  std::vector<bool> drop_text, drop_depth;
  auto coin = [&](double p) { return static_cast<double>(state.draw() >> 11) / static_cast<double>(1ull << 53) < p; };
  for (size_t b = 0; b < indices.size(); ++b) {
    draws.push_back(state.draw());
    drop_text.push_back(coin(opt_.text_dropout));
    drop_depth.push_back(coin(opt_.depth_dropout));
  }
  const auto e = make_example(task, Split::Train, indices, draws, drop_text, drop_depth);
  auto gen = state.draw_generator();
  const int64_t B = e.x0.size(0);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  const auto logits = at::randn({B}, gen, f32) * opt_.logit_std + opt_.logit_mean;
  const auto uu = torch::sigmoid(logits);
  const auto sigma = (opt_.shift * uu / (1 + (opt_.shift - 1) * uu)).to(device_);  // [B]
  const auto eps = at::randn(e.x0.sizes(), gen, f32).to(device_);
  const auto s = sigma.view({B, 1, 1, 1, 1});
  const auto x_t = (1 - s) * e.x0 + s * eps;
  const auto v = eps - e.x0;
  torch::Tensor adapter;
  const auto pred = predict(e, x_t, sigma, adapter_probe_ ? &adapter : nullptr);
  StepResult r;
  r.loss = (pred - v).square().mean();
  if (adapter_probe_) {
    const auto aux = adapter_probe_error(adapter, e.x0).mean();
    r.metrics["v_loss"] = r.loss.item<double>();
    r.metrics["adapter_aux"] = aux.item<double>();
    r.loss = r.loss + opt_.adapter_aux_weight * aux;
  }
  r.metrics["sigma"] = sigma.mean().item<double>();
  r.samples = B;
  return r;
}

json MfmStage::evaluate() {
  torch::NoGradGuard ng;
  root_->eval();
  const int64_t n = std::min<int64_t>(data_.size(Split::Validation), 8);
  json out = json::object();
  if (n == 0) return out;
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  double all = 0;
  // Unexplained fraction of the clean latent's variance by the one-step prediction x0 = x_t - sigma v, per sigma
  // (1 = no better than the clip's mean latent); sigma 1 is where sampling starts from pure noise.
  // The first kLossSigmas of them also give val_loss (its sigmas since the first runs: comparable across runs).
  const std::vector<double> probe_sigmas = {0.25, 0.5, 0.75, 0.95, 1.0};
  constexpr size_t kLossSigmas = 3;
  // Per task too: the denominator is an oracle (each clip's own mean), so above 1 at sigma 1 is expected where the
  // condition leaves the content open (t2v, big holes) and a defect only where it fixes it (vsr, colorization).
  std::vector<double> unexplained(probe_sigmas.size(), 0.0);
  const auto sigma_key = [](double sg) {
    char key[16];
    std::snprintf(key, sizeof key, "%.2f", sg);
    return std::string(key);
  };
  for (size_t k = 0; k < task_list_.size(); ++k) {
    const TaskId task = task_list_[k];
    std::vector<double> task_unexplained(probe_sigmas.size(), 0.0);
    double probe_unexplained = 0;
    std::vector<uint64_t> draws;
    for (int64_t i = 0; i < n; ++i) draws.push_back(mix_seed(0xe7a1ULL + k, static_cast<uint64_t>(i)));
    double loss = 0;
    for (int64_t i = 0; i < n; i += cfg_.batch) {
      const int64_t cnt = std::min<int64_t>(cfg_.batch, n - i);
      std::vector<int64_t> bi(idx.begin() + i, idx.begin() + i + cnt);
      std::vector<uint64_t> bd(draws.begin() + i, draws.begin() + i + cnt);
      const auto e = make_example(task, Split::Validation, bi, bd, std::vector<bool>(cnt, false),
                                  std::vector<bool>(cnt, false));
      const auto x0_var = (e.x0 - e.x0.mean({2, 3, 4}, true)).square().mean().item<double>();
      for (size_t si = 0; si < probe_sigmas.size(); ++si) {
        const double sg = probe_sigmas[si];
        auto gen = at::detail::createCPUGenerator(mix_seed(static_cast<uint64_t>(i), static_cast<uint64_t>(sg * 100)));
        const auto eps = at::randn(e.x0.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)).to(device_);
        const auto sigma = torch::full({cnt}, sg, torch::kFloat).to(device_);
        const auto x_t = (1 - sg) * e.x0 + sg * eps;
        torch::Tensor adapter;
        const auto v = predict(e, x_t, sigma, adapter_probe_ && si == 0 ? &adapter : nullptr);
        if (adapter.defined())  // the adapter does not see x_t: one sigma is enough
          probe_unexplained += adapter_probe_error(adapter, e.x0).sum().item<double>() / std::max(x0_var, 1e-12);
        if (si < kLossSigmas)
          loss += (v - (eps - e.x0)).square().mean().item<double>() * static_cast<double>(cnt);
        const auto err = (x_t - sg * v - e.x0).square().mean().item<double>();
        task_unexplained[si] += err / std::max(x0_var, 1e-12) * static_cast<double>(cnt);
      }
    }
    for (size_t si = 0; si < probe_sigmas.size(); ++si) {
      unexplained[si] += task_unexplained[si];
      out["x0_unexplained_by_task"][tasks::to_string(task)][sigma_key(probe_sigmas[si])] =
          task_unexplained[si] / static_cast<double>(n);
    }
    loss /= static_cast<double>(kLossSigmas * n);
    if (adapter_probe_)
      out["adapter_probe_unexplained_by_task"][tasks::to_string(task)] = probe_unexplained / static_cast<double>(n);
    out["val_loss"][tasks::to_string(task)] = loss;
    all += loss;
  }
  out["val_loss_mean"] = all / static_cast<double>(task_list_.size());
  for (size_t si = 0; si < probe_sigmas.size(); ++si)
    out["x0_unexplained_by_sigma"][sigma_key(probe_sigmas[si])] =
        unexplained[si] / static_cast<double>(n * task_list_.size());
  out["latent_scale"] = channel_scale_;
  root_->train();
  return out;
}

json MfmStage::render_samples(const std::string& dir, int64_t step) {
  const std::string folder = export_model(dir);
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{folder};
  mf::pipeline::LoadOptions lo;
  lo.load_depth = false;
  lo.device = device_;
  auto pipe = mf::pipeline::Pipeline::load(folder, lo);
  ToyEvalOptions o;
  o.tasks.clear();
  for (TaskId t : {TaskId::VInp, TaskId::VSR, TaskId::T2V})
    if (std::find(task_list_.begin(), task_list_.end(), t) != task_list_.end()) o.tasks.push_back(t);
  if (o.tasks.empty()) o.tasks.push_back(task_list_.front());
  o.clips = 1;
  o.steps = 10;
  o.guidance = 1.0;
  o.width = cfg_.width;
  o.height = cfg_.height;
  o.frames = cfg_.frames;
  o.dataset_seed = cfg_.seed;
  o.max_shapes = cfg_.max_shapes;
  o.sr_factor = opt_.sr_factor;
  o.chroma_clips = 1;
  o.render_dir = dir;
  const auto report = evaluate_toy_model(*pipe, o);
  json files = json::array();
  for (TaskId t : o.tasks) files.push_back(std::string(tasks::task_facts(t).key) + ".png");
  return {{"step", step}, {"files", files}, {"evaluation", mf::eval::report_to_json(report)},
          {"note", "one held-out clip per task, 10 steps, guidance 1, through Pipeline::load of the exported weights"}};
}

std::string MfmStage::export_model(const std::string& out_dir) {
  const fs::path dir = fs::path(out_dir) / "pipeline";
  replace_folder_atomic(dir.string(), [&](const std::string& tmp_s) {
    const fs::path tmp(tmp_s);
    torch::NoGradGuard ng;
    write_json(tmp / "model_index.json",
               {{"_class_name", "MfMPipeline"},
                {"_diffusers_version", "0.33.1"},
                {"_manyfold_trained", true},
                {"_manyfold_note", "Manyfold's built-in toy model: the MfM architecture trained by `manyfold train` "
                                   "on the procedural toy world (recipe: resources/models/manyfold-toy/recipe)"},
                {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}},
                {"text_encoder", {"transformers", "T5EncoderModel"}},
                {"tokenizer", {"transformers", "T5Tokenizer"}},
                {"transformer", {"mfm", "Transformer3DModel"}},
                {"vae", {"diffusers", "AutoencoderKLCogVideoX"}}});
    write_json(tmp / "transformer" / "config.json", opt_.transformer_config(opt_.text_d_model));
    {
      std::vector<std::pair<std::string, torch::Tensor>> t;
      for (const auto& kv : transformer_->named_parameters()) t.push_back({kv.key(), kv.value().detach().contiguous()});
      mf::io::save_tensors((tmp / "transformer" / "diffusion_pytorch_model.safetensors").string(), t, {{"format", "pt"}});
    }
    write_json(tmp / "text_encoder" / "config.json", opt_.text_config(tokenizer_->vocab_size()));
    {
      std::vector<std::pair<std::string, torch::Tensor>> t;
      for (const auto& kv : t5_->named_parameters()) {
        if (kv.key() == "encoder.embed_tokens.weight") continue;  // tied to shared.weight
        t.push_back({kv.key(), kv.value().detach().contiguous()});
      }
      mf::io::save_tensors((tmp / "text_encoder" / "model.safetensors").string(), t, {{"format", "pt"}});
    }
    fs::create_directories(tmp / "tokenizer");
    for (const char* name : {"spiece.model", "tokenizer_config.json", "special_tokens_map.json"}) {
      const fs::path src = fs::path(opt_.tokenizer) / name;
      if (fs::exists(src)) fs::copy_file(src, tmp / "tokenizer" / name, fs::copy_options::overwrite_existing);
    }
    write_vae_folder(*vae_, (tmp / "vae").string());
    write_json(tmp / "scheduler" / "scheduler_config.json",
               {{"_class_name", "FlowMatchEulerDiscreteScheduler"}, {"num_train_timesteps", 1000}, {"shift", opt_.shift}});
    if (!opt_.depth.empty()) {
      mf::check(fs::exists(fs::path(opt_.depth) / "config.json"), mf::ErrorCode::MissingModel,
                "'mfm.depth' is " + opt_.depth + ", which has no config.json (train stage \"depth\" first)");
      copy_folder(opt_.depth, tmp / "depth");
    }
  });
  return dir.string();
}

}  // namespace mf::training
