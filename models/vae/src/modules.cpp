// The CogVideoX VAE building blocks. The math follows diffusers 0.33.1 op for op; where this file deviates in
// form (time-sliced convolutions, in-place activations, one resized zq per resolution) the values are the same.
#include "mf/vae/modules.h"

#include <algorithm>

#include "mf/core/error.h"

namespace mf::vae {

namespace {
// GroupNorm over an input of another dtype than its weights (bf16 activations under autocast, float32 weights
// in training) normalises in the weights' dtype; LibTorch 1.13's CPU kernel refuses mixed dtypes. Same dtypes
// (every inference path) take the plain call.
torch::Tensor norm_in_weight_dtype(torch::nn::GroupNorm& gn, const torch::Tensor& x) {
  const auto& w = gn->weight;
  if (!w.defined() || w.scalar_type() == x.scalar_type()) return gn->forward(x);
  return gn->forward(x.to(w.scalar_type()));
}
}  // namespace

namespace F = torch::nn::functional;

int64_t ConvCache::bytes() const {
  int64_t b = 0;
  for (auto& kv : map_)
    if (kv.second.defined()) b += kv.second.numel() * static_cast<int64_t>(kv.second.element_size());
  return b;
}

namespace {

int64_t frame_bytes(const torch::Tensor& x) {
  // bytes of one time step of a [B, C, T, H, W] tensor
  return x.size(0) * x.size(1) * x.size(3) * x.size(4) * static_cast<int64_t>(x.element_size());
}

// How many output frames one slice may hold when each needs `halo` extra input frames.
int64_t frames_per_slice(int64_t per_frame_bytes, int64_t halo, int64_t budget, int64_t total) {
  if (per_frame_bytes <= 0) return total;
  int64_t n = budget / per_frame_bytes - halo;
  return std::max<int64_t>(1, std::min(n, total));
}

// Runs a per-frame Conv2d over a [B, C, T, H, W] tensor (frames folded into the batch, as diffusers does),
// in slices of frames; returns a contiguous [B, Cout, T, H', W'].
torch::Tensor conv2d_per_frame(torch::nn::Conv2d conv, const torch::Tensor& x, int64_t budget) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t n = frames_per_slice(frame_bytes(x), 0, budget, T);
  torch::Tensor out;
  for (int64_t t0 = 0; t0 < T; t0 += n) {
    const int64_t m = std::min(n, T - t0);
    auto in = x.narrow(2, t0, m).permute({0, 2, 1, 3, 4}).reshape({B * m, C, H, W});  // [B*m, C, H, W]
    auto y = conv->forward(in);                                                         // [B*m, Co, H', W']
    auto y5 = y.view({B, m, y.size(1), y.size(2), y.size(3)}).permute({0, 2, 1, 3, 4});
    if (n >= T) return y5.contiguous();
    if (!out.defined()) out = torch::empty({B, y.size(1), T, y.size(2), y.size(3)}, y.options());
    out.narrow(2, t0, m).copy_(y5);
  }
  return out;
}

// True when autograd records ops on `t` (training through CogVideoXVae::*_train). In-place activations and
// products are then done out of place: the same values, and backward needs no saved copies of overwritten inputs.
// Inference (no grad) keeps the in-place ops.
bool recording(const torch::Tensor& t) { return torch::GradMode::is_enabled() && t.requires_grad(); }

void silu_in_place(torch::Tensor& h) {
  if (recording(h)) h = torch::silu(h);
  else torch::silu_(h);
}

torch::Tensor nearest_resize(const torch::Tensor& x, std::vector<int64_t> size) {
  return F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
}

torch::Tensor nearest_scale2(const torch::Tensor& x, int dims) {
  return F::interpolate(
      x, F::InterpolateFuncOptions().scale_factor(std::vector<double>(static_cast<size_t>(dims), 2.0)).mode(torch::kNearest));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
CausalConv3dImpl::CausalConv3dImpl(int64_t in_channels, int64_t out_channels, int64_t k) : kt_(k) {
  const int64_t pad = (k - 1) / 2;
  conv = register_module(
      "conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in_channels, out_channels, k).stride(1).padding(
                  std::vector<int64_t>{0, pad, pad})));
}

torch::Tensor CausalConv3dImpl::forward(const torch::Tensor& x, RunContext& ctx) {
  // x: [B, Cin, T, H, W]
  const int64_t T = x.size(2);
  const int64_t halo = kt_ - 1;
  if (halo == 0) {
    // kernel 1 in time: no padding; diffusers keeps the whole input as a cache that nothing reads.
    const int64_t n = frames_per_slice(frame_bytes(x), 0, ctx.conv_chunk_bytes, T);
    if (n >= T) return conv->forward(x);
    torch::Tensor out;
    for (int64_t t0 = 0; t0 < T; t0 += n) {
      auto y = conv->forward(x.narrow(2, t0, std::min(n, T - t0)));
      if (!out.defined()) out = torch::empty({y.size(0), y.size(1), T, y.size(3), y.size(4)}, y.options());
      out.narrow(2, t0, y.size(2)).copy_(y);
    }
    return out;
  }
  torch::Tensor prev = ctx.cache ? ctx.cache->get(this) : torch::Tensor();
  if (!prev.defined() && !ctx.cache && recording(x) &&
      frames_per_slice(frame_bytes(x), halo, ctx.conv_chunk_bytes, T) >= T) {
    // Training (one chunk, no cache): the same first-frame replication as one replicate pad, whose backward is a
    // single kernel (narrow + expand + cat would allocate and fill a zero gradient of the whole input per conv).
    return conv->forward(F::pad(x, F::PadFuncOptions({0, 0, 0, 0, halo, 0}).mode(torch::kReplicate)));
  }
  if (!prev.defined()) {
    // no previous chunk: replicate the first frame k-1 times
    prev = x.narrow(2, 0, 1).expand({x.size(0), x.size(1), halo, x.size(3), x.size(4)});
  }
  TORCH_CHECK(prev.size(2) == halo, "conv cache has ", prev.size(2), " frames, expected ", halo);
  // The virtual padded input is cat(prev, x) with T + halo frames; output frame t reads virtual [t, t + k).
  auto virtual_slice = [&](int64_t begin, int64_t len) -> torch::Tensor {
    std::vector<torch::Tensor> parts;
    const int64_t end = begin + len;
    if (begin < halo) parts.push_back(prev.narrow(2, begin, std::min(end, halo) - begin));
    if (end > halo) {
      const int64_t xb = std::max<int64_t>(begin - halo, 0);
      parts.push_back(x.narrow(2, xb, end - halo - xb));
    }
    return parts.size() == 1 ? parts[0].contiguous() : torch::cat(parts, 2);
  };
  if (ctx.cache && ctx.keep_cache) ctx.cache->put(this, virtual_slice(T, halo).clone());  // last k-1 padded frames
  else if (ctx.cache) ctx.cache->erase(this);  // `prev` keeps what this call still needs

  const int64_t n = frames_per_slice(frame_bytes(x), halo, ctx.conv_chunk_bytes, T);
  if (n >= T) return conv->forward(virtual_slice(0, T + halo));
  torch::Tensor out;
  for (int64_t t0 = 0; t0 < T; t0 += n) {
    const int64_t m = std::min(n, T - t0);
    auto y = conv->forward(virtual_slice(t0, m + halo));  // [B, Cout, m, H, W]
    if (!out.defined()) out = torch::empty({y.size(0), y.size(1), T, y.size(3), y.size(4)}, y.options());
    out.narrow(2, t0, m).copy_(y);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
SpatialNorm3DImpl::SpatialNorm3DImpl(int64_t f_channels, int64_t zq_channels, int64_t groups) {
  norm_layer = register_module(
      "norm_layer", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, f_channels).eps(1e-6).affine(true)));
  conv_y = register_module("conv_y", CausalConv3d(zq_channels, f_channels, 1));
  conv_b = register_module("conv_b", CausalConv3d(zq_channels, f_channels, 1));
}

torch::Tensor SpatialNorm3DImpl::forward(const torch::Tensor& f, const torch::Tensor& zq, RunContext& ctx) {
  // f: [B, C, T, H, W]; zq: [B, latent, t, h, w]
  const int64_t T = f.size(2), H = f.size(3), W = f.size(4);
  std::vector<int64_t> key{zq.size(2), zq.size(3), zq.size(4), T, H, W};
  torch::Tensor z;
  auto it = ctx.zq_resized.find(key);
  if (it != ctx.zq_resized.end()) {
    z = it->second;
  } else {
    if (T > 1 && T % 2 == 1) {
      auto z_first = nearest_resize(zq.narrow(2, 0, 1), {1, H, W});
      auto z_rest = nearest_resize(zq.narrow(2, 1, zq.size(2) - 1), {T - 1, H, W});
      z = torch::cat({z_first, z_rest}, 2);
    } else {
      z = nearest_resize(zq, {T, H, W});
    }
    ctx.zq_resized[key] = z;
  }
  auto out = norm_in_weight_dtype(norm_layer, f);
  {
    auto y = conv_y->forward(z, ctx);
    if (recording(out) || recording(y)) out = out * y;
    else out.mul_(y);
  }
  out.add_(conv_b->forward(z, ctx));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
ResnetBlock3DImpl::ResnetBlock3DImpl(int64_t in_channels, int64_t out_channels, int64_t groups, double eps,
                                     int64_t spatial_norm_dim)
    : in_channels_(in_channels), out_channels_(out_channels) {
  if (spatial_norm_dim == 0) {
    gn1 = register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, in_channels).eps(eps)));
  } else {
    sn1 = register_module("norm1", SpatialNorm3D(in_channels, spatial_norm_dim, groups));
  }
  conv1 = register_module("conv1", CausalConv3d(in_channels, out_channels, 3));
  if (spatial_norm_dim == 0) {
    gn2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, out_channels).eps(eps)));
  } else {
    sn2 = register_module("norm2", SpatialNorm3D(out_channels, spatial_norm_dim, groups));
  }
  conv2 = register_module("conv2", CausalConv3d(out_channels, out_channels, 3));
  if (in_channels != out_channels) {
    conv_shortcut = register_module(
        "conv_shortcut", torch::nn::Conv3d(torch::nn::Conv3dOptions(in_channels, out_channels, 1).stride(1).padding(0)));
  }
}

torch::Tensor ResnetBlock3DImpl::forward(const torch::Tensor& x, const torch::Tensor& zq, RunContext& ctx) {
  torch::Tensor h = sn1 ? sn1->forward(x, zq, ctx) : norm_in_weight_dtype(gn1, x);
  silu_in_place(h);
  h = conv1->forward(h, ctx);
  h = sn2 ? sn2->forward(h, zq, ctx) : norm_in_weight_dtype(gn2, h);
  silu_in_place(h);
  h = conv2->forward(h, ctx);  // dropout is 0 (and inference only)
  if (in_channels_ != out_channels_) {
    // 1x1x1 convolution, sliced along time like the causal convs (the same math)
    const int64_t T = x.size(2);
    const int64_t n = frames_per_slice(frame_bytes(x), 0, ctx.conv_chunk_bytes, T);
    if (n >= T && recording(x)) return h + conv_shortcut->forward(x);  // training: no in-place view update
    for (int64_t t0 = 0; t0 < T; t0 += n) {
      const int64_t m = std::min(n, T - t0);
      h.narrow(2, t0, m).add_(conv_shortcut->forward(x.narrow(2, t0, m)));
    }
  } else {
    h.add_(x);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
Downsample3DImpl::Downsample3DImpl(int64_t channels, bool compress_time) : compress_time_(compress_time) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).stride(2).padding(0)));
}

torch::Tensor Downsample3DImpl::forward(const torch::Tensor& x_in, RunContext& ctx) {
  torch::Tensor x = x_in;
  if (compress_time_) {
    const int64_t T = x.size(2);
    // avg_pool1d(kernel 2) over time: (a + b) / 2 accumulated in float, as the pooling kernel does
    auto pool = [](const torch::Tensor& v) {
      const int64_t n = v.size(2) / 2;
      auto a = v.narrow(2, 0, 2 * n).unflatten(2, {n, 2});  // [B, C, n, 2, H, W]
      auto s = a.select(3, 0).to(torch::kFloat) + a.select(3, 1).to(torch::kFloat);
      return s.div_(2).to(v.scalar_type());
    };
    if (T % 2 == 1) {
      auto first = x.narrow(2, 0, 1);
      if (T > 1) x = torch::cat({first, pool(x.narrow(2, 1, T - 1))}, 2);
      else x = first;
    } else {
      x = pool(x);
    }
  }
  x = F::pad(x, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kConstant).value(0));
  return conv2d_per_frame(conv, x, ctx.conv_chunk_bytes);
}

// ---------------------------------------------------------------------------------------------------------------
Upsample3DImpl::Upsample3DImpl(int64_t channels, bool compress_time) : compress_time_(compress_time) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).stride(1).padding(1)));
}

torch::Tensor Upsample3DImpl::forward(const torch::Tensor& x, RunContext& ctx) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  torch::Tensor up;
  if (compress_time_ && T > 1 && T % 2 == 1) {
    auto first = nearest_scale2(x.select(2, 0), 2).unsqueeze(2);  // [B, C, 1, 2H, 2W]
    auto rest = nearest_scale2(x.narrow(2, 1, T - 1), 3);         // [B, C, 2(T-1), 2H, 2W]
    up = torch::cat({first, rest}, 2);
  } else if (compress_time_ && T > 1) {
    up = nearest_scale2(x, 3);
  } else if (compress_time_) {
    up = nearest_scale2(x.squeeze(2), 2).unsqueeze(2);
  } else {
    auto frames = x.permute({0, 2, 1, 3, 4}).reshape({B * T, C, H, W});
    auto u = nearest_scale2(frames, 2);
    up = u.view({B, T, C, u.size(2), u.size(3)}).permute({0, 2, 1, 3, 4});
  }
  return conv2d_per_frame(conv, up, ctx.conv_chunk_bytes);
}

// ---------------------------------------------------------------------------------------------------------------
namespace {
std::shared_ptr<torch::nn::Module> new_container() { return std::make_shared<torch::nn::Module>(); }
}  // namespace

Encoder3DImpl::Encoder3DImpl(const VaeConfig& cfg) {
  const auto& ch = cfg.block_out_channels;
  const int64_t groups = cfg.norm_num_groups;
  const int level = cfg.temporal_compress_level();
  conv_in = register_module("conv_in", CausalConv3d(cfg.in_channels, ch[0], 3));
  auto down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  int64_t out_ch = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in_ch = out_ch;
    out_ch = ch[i];
    const bool is_final = i + 1 == ch.size();
    auto block = new_container();
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    Block b;
    for (int l = 0; l < cfg.layers_per_block; ++l) {
      auto r = ResnetBlock3D(l == 0 ? in_ch : out_ch, out_ch, groups, cfg.norm_eps, 0);
      resnets->push_back(r);
      b.resnets.push_back(r);
    }
    if (!is_final) {
      auto downs = block->register_module("downsamplers", torch::nn::ModuleList());
      b.down = Downsample3D(out_ch, static_cast<int>(i) < level);
      downs->push_back(b.down);
    }
    down_blocks->push_back(block);
    blocks_.push_back(std::move(b));
  }
  auto mid = register_module("mid_block", new_container());
  auto mid_resnets = mid->register_module("resnets", torch::nn::ModuleList());
  for (int l = 0; l < 2; ++l) {
    auto r = ResnetBlock3D(ch.back(), ch.back(), groups, cfg.norm_eps, 0);
    mid_resnets->push_back(r);
    mid_.push_back(r);
  }
  norm_out = register_module("norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, ch.back()).eps(1e-6)));
  conv_out = register_module("conv_out", CausalConv3d(ch.back(), 2 * cfg.latent_channels, 3));
}

torch::Tensor Encoder3DImpl::forward(const torch::Tensor& x, RunContext& ctx) {
  torch::Tensor none;
  auto h = conv_in->forward(x, ctx);
  for (auto& b : blocks_) {
    for (auto& r : b.resnets) h = r->forward(h, none, ctx);
    if (b.down) h = b.down->forward(h, ctx);
  }
  for (auto& r : mid_) h = r->forward(h, none, ctx);
  h = norm_in_weight_dtype(norm_out, h);
  silu_in_place(h);
  return conv_out->forward(h, ctx);
}

Decoder3DImpl::Decoder3DImpl(const VaeConfig& cfg) {
  std::vector<int> ch(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());
  const int64_t groups = cfg.norm_num_groups;
  const int64_t zq = cfg.latent_channels;
  const int level = cfg.temporal_compress_level();
  conv_in = register_module("conv_in", CausalConv3d(cfg.latent_channels, ch[0], 3));
  auto mid = register_module("mid_block", new_container());
  auto mid_resnets = mid->register_module("resnets", torch::nn::ModuleList());
  for (int l = 0; l < 2; ++l) {
    auto r = ResnetBlock3D(ch[0], ch[0], groups, cfg.norm_eps, zq);
    mid_resnets->push_back(r);
    mid_.push_back(r);
  }
  auto up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  int64_t out_ch = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t prev_ch = out_ch;
    out_ch = ch[i];
    const bool is_final = i + 1 == ch.size();
    auto block = new_container();
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    Block b;
    for (int l = 0; l < cfg.layers_per_block + 1; ++l) {
      auto r = ResnetBlock3D(l == 0 ? prev_ch : out_ch, out_ch, groups, cfg.norm_eps, zq);
      resnets->push_back(r);
      b.resnets.push_back(r);
    }
    if (!is_final) {
      auto ups = block->register_module("upsamplers", torch::nn::ModuleList());
      b.up = Upsample3D(out_ch, static_cast<int>(i) < level);
      ups->push_back(b.up);
    }
    up_blocks->push_back(block);
    blocks_.push_back(std::move(b));
  }
  norm_out = register_module("norm_out", SpatialNorm3D(ch.back(), zq, groups));
  conv_out = register_module("conv_out", CausalConv3d(ch.back(), cfg.out_channels, 3));
}

torch::Tensor Decoder3DImpl::forward(const torch::Tensor& z, RunContext& ctx) {
  ctx.zq_resized.clear();
  auto h = conv_in->forward(z, ctx);
  for (auto& r : mid_) h = r->forward(h, z, ctx);
  for (auto& b : blocks_) {
    for (auto& r : b.resnets) h = r->forward(h, z, ctx);
    if (b.up) h = b.up->forward(h, ctx);
  }
  h = norm_out->forward(h, z, ctx);
  ctx.zq_resized.clear();
  silu_in_place(h);
  return conv_out->forward(h, ctx);
}

// ---------------------------------------------------------------------------------------------------------------
AutoencoderKLCogVideoXImpl::AutoencoderKLCogVideoXImpl(const VaeConfig& cfg) : cfg_(cfg) {
  cfg_.validate("VAE config");
  encoder = register_module("encoder", Encoder3D(cfg));
  decoder = register_module("decoder", Decoder3D(cfg));
  // diffusers sizes both from out_channels (the image channels), as reproduced here so checkpoints that carry
  // them load; applying them is checked against the encoder/decoder channels at run time.
  if (cfg.use_quant_conv)
    quant_conv = register_module(
        "quant_conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(2 * cfg.out_channels, 2 * cfg.out_channels, 1)));
  if (cfg.use_post_quant_conv)
    post_quant_conv = register_module(
        "post_quant_conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(cfg.out_channels, cfg.out_channels, 1)));
}

int64_t decoded_chunk_frames(int64_t t, int level) {
  for (int i = 0; i < level; ++i) {
    if (t > 1 && t % 2 == 1) t = 1 + 2 * (t - 1);
    else if (t > 1) t = 2 * t;
  }
  return t;
}

int64_t encoded_chunk_frames(int64_t t, int level) {
  for (int i = 0; i < level; ++i) t = (t % 2 == 1) ? 1 + (t - 1) / 2 : t / 2;
  return t;
}

}  // namespace mf::vae
