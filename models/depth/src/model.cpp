#include "mf/depth/model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mf/core/error.h"

namespace mf::depth {
namespace F = torch::nn::functional;

namespace {

// An empty module registered under `name`: it only carries the checkpoint's name path.
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

Dinov2LayerImpl::Dinov2LayerImpl(const Dinov2Config& c) : heads_(c.num_attention_heads), head_dim_(c.head_dim()) {
  const int64_t D = c.hidden_size;
  auto ln = [&](int64_t d) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(c.layer_norm_eps)); };
  norm1_ = register_module("norm1", ln(D));
  auto attention = holder(*this, "attention");
  auto self_attn = holder(*attention, "attention");
  auto lin = [&](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  query_ = self_attn->register_module("query", lin(D, D, c.qkv_bias));
  key_ = self_attn->register_module("key", lin(D, D, c.qkv_bias));
  value_ = self_attn->register_module("value", lin(D, D, c.qkv_bias));
  dense_ = holder(*attention, "output")->register_module("dense", lin(D, D, true));
  lambda1_ = holder(*this, "layer_scale1")->register_parameter("lambda1", torch::full({D}, c.layerscale_value));
  norm2_ = register_module("norm2", ln(D));
  auto mlp = holder(*this, "mlp");
  fc1_ = mlp->register_module("fc1", lin(D, c.mlp_hidden(), true));
  fc2_ = mlp->register_module("fc2", lin(c.mlp_hidden(), D, true));
  lambda2_ = holder(*this, "layer_scale2")->register_parameter("lambda1", torch::full({D}, c.layerscale_value));
}

torch::Tensor Dinov2LayerImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), S = x.size(1), D = x.size(2);
  auto h = norm1_(x);
  auto split = [&](const torch::Tensor& t) { return t.view({B, S, heads_, head_dim_}).permute({0, 2, 1, 3}); };
  auto q = split(query_(h)), k = split(key_(h)), v = split(value_(h));  // [B, H, S, Dh]
  // Same order as transformers' eager attention: scores / sqrt(Dh), softmax, weighted sum.
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim_));
  auto ctx = torch::matmul(torch::softmax(scores, -1), v);     // [B, H, S, Dh]
  ctx = ctx.permute({0, 2, 1, 3}).contiguous().view({B, S, D});  // [B, S, D]
  auto y = dense_(ctx) * lambda1_ + x;
  auto m = fc2_(F::gelu(fc1_(norm2_(y))));  // exact (erf) GELU
  return m * lambda2_ + y;
}

// ---------------------------------------------------------------------------------------------------------------

Dinov2BackboneImpl::Dinov2BackboneImpl(const Dinov2Config& c) : cfg_(c) {
  const int64_t D = c.hidden_size, g = c.trained_grid();
  auto emb = holder(*this, "embeddings");
  cls_token_ = emb->register_parameter("cls_token", torch::zeros({1, 1, D}));
  // Present in the checkpoint (masked-image pretraining); never used at inference.
  if (c.use_mask_token) mask_token_ = emb->register_parameter("mask_token", torch::zeros({1, D}), false);
  position_embeddings_ = emb->register_parameter("position_embeddings", torch::zeros({1, g * g + 1, D}));
  projection_ = holder(*emb, "patch_embeddings")
                    ->register_module("projection", conv(c.num_channels, D, c.patch_size, c.patch_size, 0, true));
  auto encoder = holder(*this, "encoder");
  auto list = encoder->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers_.emplace_back(c);
    list->push_back(layers_.back().ptr());
  }
  layernorm_ = register_module("layernorm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(c.layer_norm_eps)));
}

torch::Tensor Dinov2BackboneImpl::position_embeddings_for(int64_t gh, int64_t gw) const {
  const int64_t n = position_embeddings_.size(1) - 1, D = position_embeddings_.size(2);
  const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  mf::check(side * side == n, ErrorCode::BadFile,
            "backbone.embeddings.position_embeddings holds " + std::to_string(n) +
                " patch positions, which is not a square grid");
  if (gh == side && gw == side) return position_embeddings_;  // the trained grid: used as is
  auto cls = position_embeddings_.slice(1, 0, 1);
  auto grid = position_embeddings_.slice(1, 1).reshape({1, side, side, D}).permute({0, 3, 1, 2});
  // transformers >= 4.45: F.interpolate(size=(gh, gw), bicubic, align_corners=False) in float32, no antialias
  // (earlier releases used scale_factor with a +0.1 offset, which samples differently).
  auto dtype = grid.scalar_type();
  grid = F::interpolate(grid.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{gh, gw})
                                                      .mode(torch::kBicubic)
                                                      .align_corners(false))
             .to(dtype);
  grid = grid.permute({0, 2, 3, 1}).reshape({1, gh * gw, D});
  return torch::cat({cls, grid}, 1);  // [1, 1 + gh*gw, D]
}

std::vector<torch::Tensor> Dinov2BackboneImpl::forward(const torch::Tensor& pixel_values) {
  mf::check(pixel_values.dim() == 4 && pixel_values.size(1) == cfg_.num_channels, ErrorCode::BadInput,
            "depth backbone expects pixel_values [B, " + std::to_string(cfg_.num_channels) + ", H, W]");
  const int64_t B = pixel_values.size(0);
  const int64_t gh = pixel_values.size(2) / cfg_.patch_size, gw = pixel_values.size(3) / cfg_.patch_size;
  mf::check(gh > 0 && gw > 0, ErrorCode::BadInput, "depth input is smaller than one patch");
  auto x = projection_(pixel_values.to(projection_->weight.scalar_type())).flatten(2).transpose(1, 2);  // [B, N, D]
  x = torch::cat({cls_token_.expand({B, -1, -1}), x}, 1);                                             // [B, 1+N, D]
  x = x + position_embeddings_for(gh, gw);

  std::vector<torch::Tensor> out;
  auto take = [&](int64_t index, const torch::Tensor& h) {
    for (auto i : cfg_.out_indices) {
      if (i == index) out.push_back(cfg_.apply_layernorm ? layernorm_(h) : h);
    }
  };
  take(0, x);
  for (size_t i = 0; i < layers_.size(); ++i) {
    x = layers_[i](x);
    take(static_cast<int64_t>(i) + 1, x);
  }
  // Keep the order of out_indices (take() appends in layer order; re-sort when the config lists them otherwise).
  std::vector<int64_t> order = cfg_.out_indices;
  if (!std::is_sorted(order.begin(), order.end())) {
    std::vector<std::pair<int64_t, size_t>> pos;
    for (size_t k = 0; k < order.size(); ++k) pos.push_back({order[k], k});
    std::stable_sort(pos.begin(), pos.end());
    std::vector<torch::Tensor> sorted(out.size());
    for (size_t k = 0; k < pos.size(); ++k) sorted[pos[k].second] = out[k];
    out = sorted;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

PreActResidualImpl::PreActResidualImpl(int64_t ch) {
  conv1_ = register_module("convolution1", conv(ch, ch, 3, 1, 1, true));
  conv2_ = register_module("convolution2", conv(ch, ch, 3, 1, 1, true));
}

torch::Tensor PreActResidualImpl::forward(const torch::Tensor& x) {
  return conv2_(torch::relu(conv1_(torch::relu(x)))) + x;
}

// ---------------------------------------------------------------------------------------------------------------

DepthAnythingImpl::DepthAnythingImpl(const DepthAnythingConfig& c) : cfg_(c) {
  cfg_.validate("DepthAnythingConfig");
  backbone_ = register_module("backbone", Dinov2Backbone(c.backbone));
  auto neck = holder(*this, "neck");
  auto reassemble_layers = holder(*neck, "reassemble_stage")->register_module("layers", torch::nn::ModuleList());
  auto convs = neck->register_module("convs", torch::nn::ModuleList());
  auto fusion_layers = holder(*neck, "fusion_stage")->register_module("layers", torch::nn::ModuleList());
  const int64_t F_ = c.fusion_hidden_size;
  for (size_t i = 0; i < c.neck_hidden_sizes.size(); ++i) {
    const int64_t ch = c.neck_hidden_sizes[i];
    const double f = c.reassemble_factors[i];
    auto layer = std::make_shared<torch::nn::Module>();
    Reassemble r;
    r.projection = layer->register_module("projection", conv(c.reassemble_hidden_size, ch, 1, 1, 0, true));
    if (f > 1) {
      const auto k = static_cast<int64_t>(f);
      r.up = layer->register_module(
          "resize", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(ch, ch, k).stride(k).padding(0)));
    } else if (f < 1) {
      r.down = layer->register_module("resize", conv(ch, ch, 3, static_cast<int64_t>(1.0 / f), 1, true));
    }
    reassemble_layers->push_back(layer);
    reassemble_.push_back(r);
    convs_.push_back(conv(ch, F_, 3, 1, 1, false));
    convs->push_back(convs_.back().ptr());

    auto fl = std::make_shared<torch::nn::Module>();
    Fusion fu;
    fu.projection = fl->register_module("projection", conv(F_, F_, 1, 1, 0, true));
    fu.residual1 = fl->register_module("residual_layer1", PreActResidual(F_));
    fu.residual2 = fl->register_module("residual_layer2", PreActResidual(F_));
    fusion_layers->push_back(fl);
    fusion_.push_back(fu);
  }
  auto head = holder(*this, "head");
  head_conv1_ = head->register_module("conv1", conv(F_, F_ / 2, 3, 1, 1, true));
  head_conv2_ = head->register_module("conv2", conv(F_ / 2, c.head_hidden_size, 3, 1, 1, true));
  head_conv3_ = head->register_module("conv3", conv(c.head_hidden_size, 1, 1, 1, 0, true));
}

torch::Tensor DepthAnythingImpl::forward(const torch::Tensor& pixel_values) {
  const int64_t p = cfg_.patch_size;
  const int64_t gh = pixel_values.size(2) / p, gw = pixel_values.size(3) / p;
  auto hidden = backbone_(pixel_values);  // n x [B, 1 + gh*gw, D]
  const size_t n = hidden.size();

  // Reassemble: drop CLS, tokens -> [B, D, gh, gw], 1x1 projection, resize, then 3x3 conv to the fusion width.
  std::vector<torch::Tensor> features(n);
  for (size_t i = 0; i < n; ++i) {
    auto t = hidden[i].slice(1, 1);
    const int64_t B = t.size(0), C = t.size(2);
    t = t.reshape({B, gh, gw, C}).permute({0, 3, 1, 2}).contiguous();  // [B, D, gh, gw]
    t = reassemble_[i].projection(t);
    if (!reassemble_[i].up.is_empty()) t = reassemble_[i].up(t);
    if (!reassemble_[i].down.is_empty()) t = reassemble_[i].down(t);
    features[i] = convs_[i](t);  // [B, F, h_i, w_i]
  }

  // Fusion from the deepest stage; each output is resized (bilinear, align_corners) to the next stage's size,
  // the last one by a factor 2, then projected.
  std::vector<torch::Tensor> fused_all;
  torch::Tensor fused;
  for (size_t idx = 0; idx < n; ++idx) {
    const auto& stage = features[n - 1 - idx];
    auto& layer = fusion_[idx];
    if (!fused.defined()) {
      fused = stage;
    } else {
      auto residual = stage;
      if (fused.sizes() != residual.sizes()) {
        residual = F::interpolate(residual, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{fused.size(2), fused.size(3)})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
      }
      fused = fused + layer.residual1(residual);
    }
    fused = layer.residual2(fused);
    auto opts = F::InterpolateFuncOptions().mode(torch::kBilinear).align_corners(true);
    if (idx + 1 < n) {
      const auto& next = features[n - 2 - idx];
      opts.size(std::vector<int64_t>{next.size(2), next.size(3)});
    } else {
      opts.scale_factor(std::vector<double>{2.0, 2.0});
    }
    fused = layer.projection(F::interpolate(fused, opts));
    fused_all.push_back(fused);
  }

  // Head.
  const int64_t hi = cfg_.head_in_index < 0 ? cfg_.head_in_index + static_cast<int64_t>(n) : cfg_.head_in_index;
  auto x = head_conv1_(fused_all[static_cast<size_t>(hi)]);
  x = F::interpolate(x, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{gh * p, gw * p})
                            .mode(torch::kBilinear)
                            .align_corners(true));
  x = head_conv3_(torch::relu(head_conv2_(x)));
  x = cfg_.depth_estimation_type == "metric" ? torch::sigmoid(x) : torch::relu(x);
  x = x * cfg_.max_depth;
  return x.squeeze(1);  // [B, gh*p, gw*p]
}

}  // namespace mf::depth
