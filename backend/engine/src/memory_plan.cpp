#include "mf/engine/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "mf/core/error.h"
#include "mf/mfm/transformer.h"

namespace mf::engine {

const char* to_string(Residency r) {
  switch (r) {
    case Residency::AllResident: return "all_resident";
    case Residency::ReleaseT5: return "release_t5";
    case Residency::ReleaseT5VaeTiled: return "release_t5_vae_tiled";
    case Residency::StreamDitBlocks: return "stream_dit_blocks";
  }
  return "?";
}

std::string format_bytes(int64_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (b >= double(int64_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(int64_t(1) << 30));
  else if (b >= double(1 << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1 << 20));
  else std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

int64_t dit_parameter_count(const mfm::Config& cfg, int64_t* per_block) {
  // Exact: the model's own module tree on the meta device (no memory, no init).
  mfm::ModelOptions opts;
  opts.device = torch::kMeta;
  mfm::Transformer3DModel model(cfg, opts);
  if (per_block) {
    int64_t n = 0;
    if (model->num_blocks() > 0)
      for (const auto& p : model->block(0)->parameters()) n += p.numel();
    *per_block = n;
  }
  return model->parameter_count();
}

namespace {
int64_t conv3d(int64_t in, int64_t out, int64_t k) { return in * out * k * k * k + out; }
int64_t spatial_norm(int64_t f, int64_t zq) { return 2 * f + 2 * (zq * f + f); }  // GroupNorm + conv_y + conv_b
int64_t resnet(int64_t in, int64_t out, int64_t zq) {
  int64_t n = spatial_norm(in, zq) + conv3d(in, out, 3) + spatial_norm(out, zq) + conv3d(out, out, 3);
  if (in != out) n += in * out + out;  // 1x1x1 shortcut
  return n;
}
}  // namespace

int64_t vae_decoder_parameter_count(const vae::VaeConfig& cfg) {
  // Mirrors the decoder's module tree (mfm-reference.md D.2/D.3): conv_in, 2 mid resnets, up blocks of
  // layers_per_block + 1 resnets (+ a 2D upsampler conv except the last), SpatialNorm3D norm_out, conv_out.
  std::vector<int64_t> ch(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());
  const int64_t zq = cfg.latent_channels;
  int64_t n = conv3d(cfg.latent_channels, ch[0], 3);
  n += 2 * resnet(ch[0], ch[0], zq);
  int64_t out = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t prev = out;
    out = ch[i];
    for (int l = 0; l < cfg.layers_per_block + 1; ++l) n += resnet(l == 0 ? prev : out, out, zq);
    if (i + 1 != ch.size()) n += out * out * 9 + out;
  }
  n += spatial_norm(ch.back(), zq) + conv3d(ch.back(), cfg.out_channels, 3);
  return n;
}

int64_t t5_encoder_parameter_count(const text::T5Config& c) {
  const int64_t d = c.d_model, inner = c.inner_dim();
  const int64_t attn = 4 * d * inner;                       // q, k, v, o (no biases)
  const int64_t ff = (c.is_gated() ? 3 : 2) * d * c.d_ff;   // wi_0 (+ wi_1), wo
  return c.vocab_size * d + c.num_layers * (attn + ff + 2 * d) + d +
         c.relative_attention_num_buckets * c.num_heads;
}

MemoryPlan plan_memory(const std::string& model, const mfm::Config& dit, const vae::VaeConfig& vae,
                       const text::T5Config& t5, const PlanRequest& rq) {
  check(rq.num_frames >= 1 && rq.height >= 16 && rq.width >= 16, ErrorCode::BadInput,
        "memory plan: frames must be >= 1 and height/width >= 16 (got " + std::to_string(rq.num_frames) + "x" +
            std::to_string(rq.height) + "x" + std::to_string(rq.width) + ")");
  MemoryPlan p;
  p.model = model;
  p.request = rq;
  const int64_t b = rq.dtype_bytes, B = rq.batch;
  const int sr = vae.spatial_compression_ratio(), tr = vae.temporal_compression_ratio;
  p.latent_frames = (rq.num_frames - 1) / tr + 1;
  p.latent_height = rq.height / sr;
  p.latent_width = rq.width / sr;
  const int64_t ps = dit.patch_size, pt = dit.patch_size_t;
  p.tokens = int64_t(p.latent_frames / pt) * (p.latent_height / ps) * (p.latent_width / ps);
  const int64_t S = p.tokens, D = dit.inner_dim(), NH = dit.num_attention_heads, Dh = dit.attention_head_dim;
  const int64_t F = rq.num_frames, H = rq.height, W = rq.width;

  p.dit_params = dit_parameter_count(dit, &p.dit_block_params);
  p.dit_blocks = dit.num_layers;
  p.vae_decoder_params = vae_decoder_parameter_count(vae);
  p.t5_params = t5_encoder_parameter_count(t5);
  const int64_t w_dit = p.dit_params * b, w_vae = p.vae_decoder_params * b, w_t5 = p.t5_params * b;
  const int64_t w_block = p.dit_block_params * b;
  p.weights_bytes = {{"dit", w_dit}, {"vae_decoder", w_vae}, {"t5", w_t5}, {"dit_block", w_block}};

  // ---- activations (bytes) ----
  auto& a = p.activation_bytes;
  // T5 on [B, 77, d]: hidden, normed, q/k/v/o, scores [B, heads, 77, 77] fp32, FFN (2 x d_ff when gated).
  const int64_t L = 77;
  a["t5"] = B * L * (6 * t5.d_model + 3 * t5.d_ff) * b + B * t5.num_heads * L * L * 4;
  // DiT block on [B, S, D]: the residual stream, the fp32 modulated copy, q/k/v and the attention output in the
  // model dtype (attention phase), or fc1 + GELU outputs [B, S, 4D] (FFN phase); the larger phase counts.
  const int64_t bsd = B * S * D;
  const int64_t attn_phase = bsd * (5 * b + 4);
  const int64_t ffn_phase = bsd * (b + 8 * b + 4);
  a["dit_block"] = std::max(attn_phase, ffn_phase);
  // Self-attention scores: none with a memory-efficient kernel (per-query-block workspace only), the full
  // [B, NH, S, S] matrix (plus its softmax) on the math path.
  a["attention_scores"] = rq.efficient_attention ? B * NH * std::min<int64_t>(S, 128) * Dh * 4 * 4
                                                 : 2 * B * NH * S * S * b;
  a["cross_attention_scores"] = B * NH * S * L * 4;
  // Condition adapter at full resolution: the condition pixels [B, 5, F, H, W] and the two 16-channel maps of its
  // first convolutions; RoPE tables [S, Dh] cos+sin fp32; latents/velocity/prediction [B, C, T', h, w] fp32.
  a["adapter"] = B * F * H * W * b * (5 + 2 * 16);
  a["rope"] = 2 * S * Dh * 4;
  a["latents"] = 4 * B * int64_t(dit.in_channels) * p.latent_frames * p.latent_height * p.latent_width * 4;
  a["dit_embed_and_text"] = bsd * b * 2 + B * L * t5.d_model * b * 2;
  const int64_t dit_act =
      std::max(a["adapter"], a["dit_embed_and_text"] + a["dit_block"] + a["attention_scores"] +
                                 a["cross_attention_scores"]) + a["rope"] + a["latents"];
  a["dit_total"] = dit_act;
  // VAE decode (batch 1): a temporal chunk of 2 latent frames -> up to 8 frames (+2 causal-cache frames); the peak
  // is at full resolution in the last up block: the upsampler output and its norm (ch[-2] channels), the resnet
  // outputs (ch[-1] channels, 3 live) and the nearest-resized latent for the spatial norms. The decoded video is
  // accumulated on the device (chunks/tiles + the concatenated result, 3 channels, model dtype).
  const std::vector<int>& boc = vae.block_out_channels;
  const int64_t ch_last = boc.front(), ch_prev = boc.size() > 1 ? boc[1] : boc.front();
  const int64_t chunk_frames = 8 + 2;
  const int64_t per_pixel = (2 * ch_prev + 3 * ch_last + vae.latent_channels) * b;
  const int64_t video_out = 2 * 3 * F * H * W * b;
  a["vae_decode_untiled"] = chunk_frames * H * W * per_pixel + video_out;
  const auto tiling = vae::TilingOptions::defaults_for(vae);
  const int64_t th = std::min<int64_t>(H, tiling.tile_sample_min_height), tw = std::min<int64_t>(W, tiling.tile_sample_min_width);
  a["vae_decode_tiled"] = chunk_frames * th * tw * per_pixel + video_out;
  // Host: the decoded video [1, 3, F, H, W] fp32 + uint8 frames, the conditions [B, 5, F, H, W] fp32 kept for the
  // job, and the latents checkpoint.
  const int64_t host_job = 3 * F * H * W * (4 + 1) + B * 5 * F * H * W * 4 + a["latents"];
  a["host_job"] = host_job;

  // ---- residencies ----
  const int64_t text_act = a["t5"];
  auto make = [&](Residency r) {
    ResidencyOption o;
    o.residency = r;
    const bool release_t5 = r != Residency::AllResident;
    const bool tiled = r == Residency::ReleaseT5VaeTiled || r == Residency::StreamDitBlocks;
    const bool stream = r == Residency::StreamDitBlocks;
    const int64_t dit_dev = stream ? (w_dit - p.dit_blocks * w_block) + 2 * w_block : w_dit;
    const int64_t t5_dev = release_t5 ? 0 : w_t5;
    const int64_t vae_act = tiled ? a["vae_decode_tiled"] : a["vae_decode_untiled"];
    // Released T5: it is loaded and run before the DiT and VAE come to the device.
    o.device_phase_bytes["text"] = release_t5 ? w_t5 + text_act : w_t5 + w_dit + w_vae + text_act;
    o.device_phase_bytes["denoise"] = dit_dev + w_vae + t5_dev + dit_act;
    o.device_phase_bytes["decode"] = dit_dev + w_vae + t5_dev + vae_act;
    int64_t dev = 0;
    for (auto& [k, v] : o.device_phase_bytes) dev = std::max(dev, v);
    o.device_peak_bytes = dev;
    o.host_peak_bytes = host_job + (stream ? w_dit : 0);
    if (rq.device_is_host) {
      o.fits = o.device_peak_bytes + o.host_peak_bytes - (stream ? w_dit : 0) <=
               rq.device_budget_bytes + rq.host_budget_bytes;
    } else {
      o.fits = o.device_peak_bytes <= rq.device_budget_bytes && o.host_peak_bytes <= rq.host_budget_bytes;
    }
    return o;
  };
  for (Residency r : {Residency::AllResident, Residency::ReleaseT5, Residency::ReleaseT5VaeTiled,
                      Residency::StreamDitBlocks})
    p.options.push_back(make(r));
  const ResidencyOption* chosen = nullptr;
  for (const auto& o : p.options)
    if (o.fits) { chosen = &o; break; }
  if (chosen) {
    p.fits = true;
    p.chosen = chosen->residency;
    p.device_peak_bytes = chosen->device_peak_bytes;
    p.host_peak_bytes = chosen->host_peak_bytes;
  } else {
    const auto& last = p.options.back();
    p.fits = false;
    p.chosen = last.residency;
    p.device_peak_bytes = last.device_peak_bytes;
    p.host_peak_bytes = last.host_peak_bytes;
    std::ostringstream m;
    m << "this job does not fit: " << model << " at " << F << "x" << H << "x" << W << " (" << S
      << " tokens, batch " << B << ") needs at least " << format_bytes(last.device_peak_bytes)
      << " of device memory and " << format_bytes(last.host_peak_bytes) << " of host memory even with T5 released, "
      << "VAE tiling and DiT blocks streamed from host memory; the budget is "
      << format_bytes(rq.device_budget_bytes) << " device / " << format_bytes(rq.host_budget_bytes)
      << " host. Lower the frame count or the resolution";
    if (b > 2) m << ", use bf16 instead of fp32";
    if (!rq.efficient_attention) m << ", or run on a LibTorch with memory-efficient attention (>= 2.0)";
    m << ".";
    p.message = m.str();
  }
  return p;
}

nlohmann::json MemoryPlan::to_json() const {
  nlohmann::json j;
  j["model"] = model;
  j["request"] = {{"num_frames", request.num_frames}, {"height", request.height}, {"width", request.width},
                  {"batch", request.batch}, {"dtype_bytes", request.dtype_bytes},
                  {"device_is_host", request.device_is_host}, {"efficient_attention", request.efficient_attention},
                  {"device_budget_bytes", request.device_budget_bytes}, {"host_budget_bytes", request.host_budget_bytes}};
  j["latent_shape"] = {latent_frames, latent_height, latent_width};
  j["tokens"] = tokens;
  j["parameters"] = {{"dit", dit_params}, {"dit_block", dit_block_params}, {"dit_blocks", dit_blocks},
                     {"vae_decoder", vae_decoder_params}, {"t5", t5_params}};
  j["weights_bytes"] = weights_bytes;
  j["activation_bytes"] = activation_bytes;
  j["options"] = nlohmann::json::array();
  for (const auto& o : options)
    j["options"].push_back({{"residency", to_string(o.residency)}, {"device_peak_bytes", o.device_peak_bytes},
                            {"host_peak_bytes", o.host_peak_bytes}, {"phases", o.device_phase_bytes},
                            {"fits", o.fits}});
  j["fits"] = fits;
  j["chosen"] = to_string(chosen);
  j["device_peak_bytes"] = device_peak_bytes;
  j["host_peak_bytes"] = host_peak_bytes;
  if (!message.empty()) j["message"] = message;
  return j;
}

std::string MemoryPlan::to_text() const {
  std::ostringstream o;
  auto M = [](int64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fM", double(n) / 1e6);
    return std::string(buf);
  };
  o << "Memory plan for " << model << ": " << request.num_frames << " frames x " << request.height << " x "
    << request.width << ", batch " << request.batch << " (" << (request.batch == 2 ? "CFG" : "no CFG") << "), "
    << (request.dtype_bytes == 2 ? "bf16" : "fp32") << "\n";
  o << "  latents            " << latent_frames << " x " << latent_height << " x " << latent_width
    << "  -> DiT tokens S = " << tokens << "\n";
  o << "  parameters         DiT " << M(dit_params) << " (" << dit_blocks << " blocks x " << M(dit_block_params)
    << "), VAE decoder " << M(vae_decoder_params) << ", T5 encoder " << M(t5_params) << "\n";
  o << "  weights            DiT " << format_bytes(weights_bytes.at("dit")) << ", VAE decoder "
    << format_bytes(weights_bytes.at("vae_decoder")) << ", T5 " << format_bytes(weights_bytes.at("t5")) << "\n";
  o << "  activations        T5 " << format_bytes(activation_bytes.at("t5")) << "; DiT block "
    << format_bytes(activation_bytes.at("dit_block")) << " + attention scores "
    << format_bytes(activation_bytes.at("attention_scores"))
    << (request.efficient_attention ? " (memory-efficient kernel)" : " (math path: full S x S)") << "; adapter "
    << format_bytes(activation_bytes.at("adapter")) << "; DiT total " << format_bytes(activation_bytes.at("dit_total"))
    << "\n";
  o << "                     VAE decode " << format_bytes(activation_bytes.at("vae_decode_untiled")) << " untiled / "
    << format_bytes(activation_bytes.at("vae_decode_tiled")) << " tiled; host per job "
    << format_bytes(activation_bytes.at("host_job")) << "\n";
  o << "  budget             device " << format_bytes(request.device_budget_bytes) << ", host "
    << format_bytes(request.host_budget_bytes) << (request.device_is_host ? " (CPU: one memory)" : "") << "\n";
  o << "  residency            device peak   host peak     text / denoise / decode (device)\n";
  for (const auto& op : options) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-20s %-13s %-13s %s / %s / %s%s\n", to_string(op.residency),
                  format_bytes(op.device_peak_bytes).c_str(), format_bytes(op.host_peak_bytes).c_str(),
                  format_bytes(op.device_phase_bytes.at("text")).c_str(),
                  format_bytes(op.device_phase_bytes.at("denoise")).c_str(),
                  format_bytes(op.device_phase_bytes.at("decode")).c_str(), op.fits ? "  fits" : "");
    o << line;
  }
  if (fits) o << "  chosen: " << to_string(chosen) << "\n";
  else o << "  REFUSED: " << message << "\n";
  return o.str();
}

}  // namespace mf::engine
