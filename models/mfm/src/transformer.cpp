#include "mf/mfm/transformer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/autocast.h"

namespace mf::mfm {

namespace {

std::string sizes_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

torch::Tensor act(const torch::Tensor& x) { return torch::silu(x); }

}  // namespace

// ---- Leaf layers ----------------------------------------------------------------------------------------

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty({out, in}, opts));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}, opts));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return linear(x, weight, bias); }

ConvImpl::ConvImpl(int dims_, int64_t in, int64_t out, int64_t kernel, int64_t stride_,
                   const torch::TensorOptions& opts)
    : dims(dims_), stride(stride_), padding(kernel / 2) {
  std::vector<int64_t> shape{out, in};
  for (int d = 0; d < dims; ++d) shape.push_back(kernel);
  weight = register_parameter("weight", torch::empty(shape, opts));
  bias = register_parameter("bias", torch::empty({out}, opts));
}

torch::Tensor ConvImpl::forward(const torch::Tensor& x) {
  return dims == 3 ? conv3d(x, weight, bias, stride, padding) : conv2d(x, weight, bias, stride, padding);
}

RMSNormImpl::RMSNormImpl(int64_t dim, const torch::TensorOptions& opts, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, opts));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, weight, eps); }

// ---- Condition adapter ------------------------------------------------------------------------------------

ConditionAdapterImpl::ConditionAdapterImpl(int64_t in_channels, int64_t out_dim, const torch::TensorOptions& opts) {
  const int64_t ch[5] = {16, 32, 96, 256, 512};  // block_out_channels used by Transformer3DModel
  conv_in = register_module("conv_in", Conv(2, in_channels, ch[0], 3, 1, opts));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i) {
    block_list.push_back(Conv(2, ch[i], ch[i], 3, 1, opts));
    // Even stages downsample with a Conv3d (time, height and width), odd ones with a strided Conv2d.
    block_list.push_back(Conv(i % 2 == 0 ? 3 : 2, ch[i], ch[i + 1], 3, 2, opts));
  }
  for (auto& b : block_list) blocks->push_back(b);
  conv_out = register_module("conv_out", Conv(2, ch[4], out_dim, 3, 1, opts));
}

int64_t ConditionAdapterImpl::output_frames(int64_t t) {
  for (int i = 0; i < 2; ++i) t = (t - 1) / 2 + 1;
  return t;
}

Conv ConditionAdapterImpl::layer(int i) const {
  check(i >= 0 && i < kLayers, ErrorCode::Internal, "the condition adapter has no layer " + std::to_string(i));
  return i == 0 ? conv_in : i == kLayers - 1 ? conv_out : block_list.at(static_cast<size_t>(i - 1));
}

namespace {
// Runs adapter layers 0..last on [B, Cin, T, H, W]; returns layer `last`'s output before any activation, frames
// folded into the batch (row = b*T + t), and its frame count in *frames.
torch::Tensor run_adapter(ConditionAdapterImpl& a, const torch::Tensor& cond, int last, int64_t* frames) {
  const int64_t B = cond.size(0);
  int64_t T = cond.size(2);
  auto x = cond.permute({0, 2, 1, 3, 4}).reshape({B * T, cond.size(1), cond.size(3), cond.size(4)});
  for (int i = 0; i <= last; ++i) {
    if (i > 0) x = act(x);  // SiLU after every layer but conv_out, the strided ones included
    Conv l = a.layer(i);
    if (l->dims == 3) {
      auto v = x.view({B, T, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});  // [B, c, T, H, W]
      v = l(v);
      T = v.size(2);
      x = v.permute({0, 2, 1, 3, 4}).reshape({B * T, v.size(1), v.size(3), v.size(4)});
    } else {
      x = l(x);
    }
  }
  *frames = T;
  return x;
}
}  // namespace

torch::Tensor ConditionAdapterImpl::forward(const torch::Tensor& cond) {
  int64_t T = 0;
  const auto x = run_adapter(*this, cond, kLayers - 1, &T);                            // [B*T', D, H/16, W/16]
  return x.view({cond.size(0), T, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});  // [B, D, T', H/16, W/16]
}

torch::Tensor ConditionAdapterImpl::layer_output(const torch::Tensor& cond, int i) {
  check(i >= 0 && i < kLayers, ErrorCode::Internal, "the condition adapter has no layer " + std::to_string(i));
  int64_t T = 0;
  return run_adapter(*this, cond, i, &T);
}

// ---- Embeddings --------------------------------------------------------------------------------------------

PatchEmbedImpl::PatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch, const torch::TensorOptions& opts) {
  proj = register_module("proj", Conv(2, in_channels, dim, patch, patch, opts));
  proj->padding = 0;
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& latents) {
  const int64_t B = latents.size(0), C = latents.size(1), T = latents.size(2);
  auto x = latents.permute({0, 2, 1, 3, 4}).reshape({B * T, C, latents.size(3), latents.size(4)});
  x = proj(x);                                                                      // [B*T, D, h', w']
  return x.view({B, T, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});  // [B, D, T, h', w']
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in, int64_t dim, const torch::TensorOptions& opts) {
  linear_1 = register_module("linear_1", Linear(in, dim, true, opts));
  linear_2 = register_module("linear_2", Linear(dim, dim, true, opts));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) { return linear_2(act(linear_1(x))); }

TimeEmbedderImpl::TimeEmbedderImpl(int64_t dim, bool motion_score, const torch::TensorOptions& opts) {
  timestep_embedder = register_module("timestep_embedder", TimestepEmbedding(256, dim, opts));
  if (motion_score) guidance_embedder = register_module("guidance_embedder", TimestepEmbedding(256, dim, opts));
}

torch::Tensor TimeEmbedderImpl::forward(const torch::Tensor& timestep, const torch::Tensor& motion_score) {
  const auto dt = timestep_embedder->linear_1->weight.scalar_type();
  // Sinusoid in fp32, cast to the model dtype before the MLP (A.4).
  auto temb = timestep_embedder(timestep_sinusoid(timestep).to(dt));
  if (guidance_embedder) temb = temb + guidance_embedder(timestep_sinusoid(motion_score).to(dt));
  return temb;  // [N, D]
}

// ---- Block -----------------------------------------------------------------------------------------------------

AdaLayerNormZeroImpl::AdaLayerNormZeroImpl(int64_t dim, bool rmsnorm, const torch::TensorOptions& opts) {
  linear = register_module("linear", Linear(dim, 6 * dim, true, opts));
  if (rmsnorm) norm = register_module("norm", RMSNorm(dim, opts));
}

AdaLayerNormZeroImpl::Out AdaLayerNormZeroImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  // Chunk order: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp; modulation in fp32.
  auto m = linear(act(temb)).to(torch::kFloat).chunk(6, 1);
  auto normed = norm ? norm(x) : layer_norm_noaffine(x);
  Out o;
  o.x = (normed.to(torch::kFloat) * (1 + m[1].unsqueeze(1)) + m[0].unsqueeze(1)).to(x.scalar_type());
  o.gate_msa = m[2];
  o.shift_mlp = m[3];
  o.scale_mlp = m[4];
  o.gate_mlp = m[5];
  return o;
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t kv_dim, int64_t heads_, int64_t head_dim_, bool bias, bool upcast_,
                             AttentionKernel kernel_, const torch::TensorOptions& opts)
    : heads(heads_), head_dim(head_dim_), upcast(upcast_), kernel(kernel_) {
  const int64_t inner = heads * head_dim;
  q_proj = register_module("q_proj", Linear(dim, inner, bias, opts));
  k_proj = register_module("k_proj", Linear(kv_dim, inner, bias, opts));
  v_proj = register_module("v_proj", Linear(kv_dim, inner, bias, opts));
  o_proj = register_module("o_proj", Linear(inner, dim, bias, opts));  // bias follows attention_bias (H.4)
  q_norm = register_module("q_norm", RMSNorm(inner, opts));
  k_norm = register_module("k_norm", RMSNorm(inner, opts));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context, const torch::Tensor& bias,
                                     const torch::Tensor& cos, const torch::Tensor& sin) {
  const bool cross = context.defined();
  const auto& kv = cross ? context : x;
  const int64_t B = x.size(0), S = x.size(1), L = kv.size(1);
  // QK-norm over the whole projected width (all heads jointly), before splitting into heads.
  auto q = q_norm(q_proj(x)).view({B, S, heads, head_dim}).transpose(1, 2);  // [B, NH, S, Dh]
  auto k = k_norm(k_proj(kv)).view({B, L, heads, head_dim}).transpose(1, 2);
  auto v = v_proj(kv).view({B, L, heads, head_dim}).transpose(1, 2);
  if (cos.defined()) {
    q = apply_rope(q, cos, sin);
    if (!cross) k = apply_rope(k, cos, sin);  // cross-attention: the text keys are not rotated (H.1)
  }
  auto o = attention(q, k, v, bias, upcast, kernel);  // [B, NH, S, Dh]
  return o_proj(o.transpose(1, 2).reshape({B, S, heads * head_dim}));
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t inner, const torch::TensorOptions& opts) {
  fc1 = register_module("fc1", Linear(dim, inner, true, opts));
  fc2 = register_module("fc2", Linear(inner, dim, true, opts));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x), "tanh")); }

TransformerBlockImpl::TransformerBlockImpl(const Config& cfg, int index, const ModelOptions& opts) {
  const auto t = opts.tensor_options();
  const int64_t D = cfg.inner_dim();
  norm1 = register_module("norm1", AdaLayerNormZero(D, cfg.adaln_rmsnorm(), t));
  attn1 = register_module("attn1", Attention(D, D, cfg.num_attention_heads, cfg.attention_head_dim,
                                             cfg.attention_bias, cfg.upcast_attention, opts.attention, t));
  if (cfg.block_has_cross_attention(index)) {
    norm2 = register_module("norm2", RMSNorm(D, t));
    attn2 = register_module("attn2", Attention(D, cfg.block_cross_dim(index), cfg.num_attention_heads,
                                               cfg.attention_head_dim, cfg.attention_bias, cfg.upcast_attention,
                                               opts.attention, t));
  }
  norm3 = register_module("norm3", RMSNorm(D, t));
  ff = register_module("ff", FeedForward(D, 4 * D, t));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x_in, const BlockContext& ctx) {
  const auto dt = x_in.scalar_type();
  auto n = norm1(x_in, ctx.temb);
  auto a = attn1(n.x, torch::Tensor(), torch::Tensor(), ctx.rope_cos, ctx.rope_sin);
  auto x = (n.gate_msa.unsqueeze(1) * a.to(torch::kFloat)).to(dt) + x_in;  // gate in fp32, residual in dtype
  if (attn2) {
    check(ctx.text.defined(), ErrorCode::BadInput,
          "the transformer has cross-attention but no encoder_hidden_states were given");
    x = x + attn2(norm2(x), ctx.text, ctx.text_bias, ctx.rope_cos, ctx.rope_sin);  // no gate, no modulation
  }
  auto h = norm3(x);
  h = (h.to(torch::kFloat) * (1 + n.scale_mlp.unsqueeze(1)) + n.shift_mlp.unsqueeze(1)).to(dt);
  auto f = ff(h);
  return (n.gate_mlp.unsqueeze(1) * f.to(torch::kFloat)).to(dt) + x;
}

// ---- Model -----------------------------------------------------------------------------------------------------

namespace {

// transformer_blocks.{c} when num_block_chunks > 1 (official MultipleLayers): its blocks live in `module`.
class BlockChunkImpl : public torch::nn::Module {
 public:
  BlockChunkImpl() { module = register_module("module", torch::nn::ModuleList()); }
  torch::nn::ModuleList module;
};
TORCH_MODULE(BlockChunk);

}  // namespace

Transformer3DModelImpl::Transformer3DModelImpl(const Config& cfg, const ModelOptions& opts) : cfg_(cfg), opts_(opts) {
  cfg_.validate();
  const auto t = opts.tensor_options();
  const int64_t D = cfg.inner_dim();
  cond_conv = register_module("cond_conv", ConditionAdapter(cfg.adapter_in_channels(), D, t));
  pos_embed = register_module("pos_embed", PatchEmbed(cfg.in_channels, D, cfg.patch_size, t));
  time_embedder = register_module("time_embedder", TimeEmbedder(D, cfg.add_motion_score, t));
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int i = 0; i < cfg.num_layers; ++i) block_list_.push_back(TransformerBlock(cfg, i, opts));
  if (cfg.num_block_chunks <= 1) {
    for (auto& b : block_list_) transformer_blocks->push_back(b);
  } else {
    const int per = cfg.blocks_per_chunk();
    for (int c = 0; c < cfg.num_block_chunks; ++c) {
      BlockChunk chunk;
      for (int j = 0; j < per; ++j) chunk->module->push_back(block_list_[c * per + j]);
      transformer_blocks->push_back(chunk);
    }
  }
  proj_out_1 = register_module("proj_out_1", Linear(D, 2 * D, true, t));
  proj_out_2 = register_module("proj_out_2",
                               Linear(D, int64_t(cfg.patch_size) * cfg.patch_size * cfg.out_channels_resolved(), true, t));
}

int64_t Transformer3DModelImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

BlockContext Transformer3DModelImpl::embed(const TransformerInputs& in, torch::Tensor* tokens) {
  // Dtype and device of the weights as they are now (the module may have been moved with ->to()).
  const auto dt = pos_embed->proj->weight.scalar_type();
  const auto dev = pos_embed->proj->weight.device();
  check(in.hidden_states.defined() && in.hidden_states.dim() == 5, ErrorCode::BadInput,
        "hidden_states must be latents [B, C, T, h, w]");
  auto x = in.hidden_states.to(dev, dt);
  const int64_t B = x.size(0), T = x.size(2), h = x.size(3), w = x.size(4), p = cfg_.patch_size;
  check(x.size(1) == cfg_.in_channels, ErrorCode::BadInput,
        "hidden_states have " + std::to_string(x.size(1)) + " channels but the transformer expects " +
            std::to_string(cfg_.in_channels));
  check(h % p == 0 && w % p == 0, ErrorCode::BadInput,
        "latent size " + std::to_string(h) + "x" + std::to_string(w) + " is not a multiple of the patch size " +
            std::to_string(p) + " (pixel sizes must be multiples of 16)");
  BlockContext ctx;
  ctx.grid_t = T;
  ctx.grid_h = h / p;
  ctx.grid_w = w / p;

  auto patches = pos_embed(x);  // [B, D, T, h', w']
  // Condition adapter: (RGB x mask, depth) then mask along channels.
  check(in.conditional_pixel_values.defined(), ErrorCode::BadInput,
        "conditional_pixel_values are required (all zeros for text-to-video)");
  auto cond = in.conditional_pixel_values.to(dev, dt);
  if (in.conditional_masks.defined()) cond = torch::cat({cond, in.conditional_masks.to(dev, dt)}, 1);
  check(cond.dim() == 5 && cond.size(0) == B && cond.size(1) == cfg_.adapter_in_channels(), ErrorCode::BadInput,
        "the condition (pixel values + mask) has shape " + sizes_str(cond) + " but the adapter expects [" +
            std::to_string(B) + ", " + std::to_string(cfg_.adapter_in_channels()) + ", frames, H, W]");
  auto a = cond_conv(cond);  // [B, D, T', H/16, W/16]
  check(a.size(2) == T && a.size(3) == ctx.grid_h && a.size(4) == ctx.grid_w, ErrorCode::BadInput,
        "the condition frames/size give an adapter grid " + std::to_string(a.size(2)) + "x" + std::to_string(a.size(3)) +
            "x" + std::to_string(a.size(4)) + " but the latents give a patch grid " + std::to_string(T) + "x" +
            std::to_string(ctx.grid_h) + "x" + std::to_string(ctx.grid_w) +
            " (pixel frames 4k+1 -> k+1 latent frames; pixel size = 8 x latent size)");
  patches = patches + a;
  ctx.adapter = a;
  // Token index (t*h' + y)*w' + x.
  *tokens = patches.flatten(2).transpose(1, 2).contiguous();  // [B, S, D]

  check(in.timestep.defined(), ErrorCode::BadInput, "timestep is required");
  torch::Tensor motion;
  if (cfg_.add_motion_score) {
    check(in.motion_score.defined(), ErrorCode::BadInput, "this transformer needs a motion_score");
    motion = in.motion_score.to(dev).to(dt);  // the pipeline rounds it to the latent dtype (H.7)
  }
  ctx.temb = time_embedder(in.timestep.to(dev).to(torch::kFloat).reshape({-1}), motion);  // [N, D]

  bool any_cross = false;
  for (int i = 0; i < cfg_.num_layers; ++i) any_cross = any_cross || cfg_.block_has_cross_attention(i);
  if (any_cross) {
    check(in.encoder_hidden_states.defined() && in.encoder_hidden_states.dim() == 3, ErrorCode::BadInput,
          "encoder_hidden_states [B, tokens, width] are required");
    ctx.text = in.encoder_hidden_states.to(dev, dt);
    if (ctx.text.size(0) == 1 && B > 1) ctx.text = ctx.text.expand({B, -1, -1});
    check(ctx.text.size(0) == B, ErrorCode::BadInput,
          "encoder_hidden_states batch " + std::to_string(ctx.text.size(0)) + " differs from the latents' " +
              std::to_string(B));
    if (in.encoder_attention_mask.defined()) {
      auto m = in.encoder_attention_mask.to(dev).to(dt);
      check(m.dim() == 2 && m.size(1) == ctx.text.size(1), ErrorCode::BadInput,
            "encoder_attention_mask must be [B, " + std::to_string(ctx.text.size(1)) + "], got " + sizes_str(m));
      if (m.size(0) == 1 && B > 1) m = m.expand({B, -1});
      // (1 - mask) * -10000 in the model dtype (-9984 in bf16), one row per batch element.
      ctx.text_bias = ((1 - m) * -10000.0).view({B, 1, 1, m.size(1)});
    }
  }

  if (cfg_.use_rope) {
    const int64_t S = T * ctx.grid_h * ctx.grid_w;
    if (in.rope_cos.defined()) {
      auto c = in.rope_cos.to(dev, torch::kFloat), s = in.rope_sin.to(dev, torch::kFloat);
      check(c.size(-2) == S && c.size(-1) == cfg_.attention_head_dim && c.sizes() == s.sizes(), ErrorCode::BadInput,
            "RoPE tables " + sizes_str(c) + " do not fit " + std::to_string(S) + " tokens x head dim " +
                std::to_string(cfg_.attention_head_dim));
      ctx.rope_cos = c.dim() == 2 ? c.unsqueeze(0).unsqueeze(0) : c.unsqueeze(1);
      ctx.rope_sin = s.dim() == 2 ? s.unsqueeze(0).unsqueeze(0) : s.unsqueeze(1);
    } else {
      std::tie(ctx.rope_cos, ctx.rope_sin) =
          rope_cache_.get(T, ctx.grid_h, ctx.grid_w, cfg_.attention_head_dim, torch::Device(dev));
    }
  }
  return ctx;
}

namespace {

// Block-level gradient checkpointing (reentrant, as torch.utils.checkpoint): the forward runs without
// recording; the backward re-runs the block with autograd on detached copies of its inputs and back-propagates
// through it, which accumulates the block's parameter gradients and returns those of its tensor inputs.
// The autocast state of the forward is restored for the recomputation.
struct BlockCheckpoint : public torch::autograd::Function<BlockCheckpoint> {
  static torch::Tensor forward(torch::autograd::AutogradContext* c, torch::Tensor x, torch::Tensor temb,
                               torch::Tensor text, torch::Tensor text_bias, torch::Tensor rope_cos,
                               torch::Tensor rope_sin, int64_t block_ptr, int64_t gt, int64_t gh, int64_t gw) {
    c->save_for_backward({x, temb, text, text_bias, rope_cos, rope_sin});
    c->saved_data["block"] = block_ptr;
    c->saved_data["grid"] = std::vector<int64_t>{gt, gh, gw};
    // The autocast of the device the block runs on (the backward may run on another thread, e.g. CUDA's).
    const auto device_type = x.device().type();
    c->saved_data["device_type"] = static_cast<int64_t>(device_type);
    c->saved_data["autocast"] = mf::io::autocast_enabled(device_type);
    c->saved_data["autocast_dtype"] = static_cast<int64_t>(mf::io::autocast_dtype(device_type));
    int64_t needs = 0, bit = 1;  // input i needs a gradient: bit i
    for (const auto& t : {x, temb, text, text_bias, rope_cos, rope_sin}) {
      if (t.defined() && t.requires_grad()) needs |= bit;
      bit <<= 1;
    }
    c->saved_data["needs"] = needs;
    auto* block = reinterpret_cast<TransformerBlockImpl*>(block_ptr);
    BlockContext ctx{temb, text, text_bias, rope_cos, rope_sin, gt, gh, gw, torch::Tensor()};
    return block->forward(x, ctx);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* c,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = c->get_saved_variables();
    const int64_t needs_bits = c->saved_data["needs"].toInt();
    auto needs_of = [&](size_t i) { return ((needs_bits >> i) & 1) != 0; };
    std::vector<torch::Tensor> in;
    for (size_t i = 0; i < saved.size(); ++i) {
      torch::Tensor t = saved[i];
      if (t.defined()) {
        t = t.detach();
        if (needs_of(i)) t.requires_grad_(true);
      }
      in.push_back(t);
    }
    auto* block = reinterpret_cast<TransformerBlockImpl*>(c->saved_data["block"].toInt());
    const auto grid = c->saved_data["grid"].toIntVector();
    torch::Tensor out;
    {
      torch::AutoGradMode on(true);
      mf::io::AutocastGuard ac(static_cast<c10::DeviceType>(c->saved_data["device_type"].toInt()),
                               c->saved_data["autocast"].toBool(),
                               static_cast<c10::ScalarType>(c->saved_data["autocast_dtype"].toInt()));
      BlockContext ctx{in[1], in[2], in[3], in[4], in[5], grid[0], grid[1], grid[2], torch::Tensor()};
      out = block->forward(in[0], ctx);
    }
    torch::autograd::backward({out}, {grad_out[0]});
    torch::autograd::variable_list grads;
    for (size_t i = 0; i < in.size(); ++i) grads.push_back(in[i].defined() && needs_of(i) ? in[i].grad() : torch::Tensor());
    for (int k = 0; k < 4; ++k) grads.emplace_back();  // block_ptr, gt, gh, gw
    return grads;
  }
};

}  // namespace

torch::Tensor Transformer3DModelImpl::run_block(int i, const torch::Tensor& x, const BlockContext& ctx) {
  if (gradient_checkpointing_ && torch::GradMode::is_enabled() && x.requires_grad())
    return BlockCheckpoint::apply(x, ctx.temb, ctx.text, ctx.text_bias, ctx.rope_cos, ctx.rope_sin,
                                  reinterpret_cast<int64_t>(block_list_.at(i).get()), ctx.grid_t, ctx.grid_h,
                                  ctx.grid_w);
  return block_list_.at(i)->forward(x, ctx);
}

torch::Tensor Transformer3DModelImpl::head(const torch::Tensor& x, const BlockContext& ctx) {
  const int64_t D = cfg_.inner_dim(), B = x.size(0), p = cfg_.patch_size, C = cfg_.out_channels_resolved();
  // Final modulation: (shift, scale) order, fp32 math (A.3 step 6).
  auto e = proj_out_1(act(ctx.temb)).to(torch::kFloat);
  auto shift = e.slice(1, 0, D).unsqueeze(1);
  auto scale = e.slice(1, D, 2 * D).unsqueeze(1);
  auto y = (layer_norm_noaffine(x).to(torch::kFloat) * (1 + scale) + shift).to(x.scalar_type());
  y = proj_out_2(y);  // [B, S, p*p*C], last index (py*p + px)*C + c
  y = y.view({B, ctx.grid_t, ctx.grid_h, ctx.grid_w, p, p, C}).permute({0, 6, 1, 2, 4, 3, 5});
  return y.reshape({B, C, ctx.grid_t, ctx.grid_h * p, ctx.grid_w * p});  // [B, C, T, h, w]
}

torch::Tensor Transformer3DModelImpl::forward(const TransformerInputs& in) {
  torch::Tensor x;
  auto ctx = embed(in, &x);
  for (int i = 0; i < num_blocks(); ++i) x = run_block(i, x, ctx);
  return head(x, ctx);
}

// ---- Loading -------------------------------------------------------------------------------------------------

ShapeMap shapes_of(const mf::io::WeightSource& weights) {
  ShapeMap m;
  for (const auto& n : weights.names()) m[n] = weights.info(n).shape;
  return m;
}

Transformer3DModel load_transformer(const mf::io::WeightSource& weights, const Config& cfg, const ModelOptions& opts) {
  check_against_weights(cfg, shapes_of(weights), weights.describe());
  Transformer3DModel model(cfg, opts);
  mf::io::load_state_dict(*model, weights);
  return model;
}

void init_random_weights(torch::nn::Module& model, uint64_t seed) {
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& kv : model.named_parameters()) {
    auto& p = kv.value();
    const std::string& name = kv.key();
    torch::Tensor v;
    auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    if (p.dim() == 1 && name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      v = 1 + 0.1 * at::randn(p.sizes(), gen, f32);  // norm weights around 1
    } else if (p.dim() == 1) {
      v = 0.05 * at::randn(p.sizes(), gen, f32);  // biases
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      v = at::randn(p.sizes(), gen, f32) / std::sqrt(fan_in);
    }
    p.copy_(v);
  }
}

}  // namespace mf::mfm
