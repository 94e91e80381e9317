// The MfM diffusion transformer (official Transformer3DModel with TransformerBlockGoku blocks) and its
// condition adapter (cond_conv, ConvitConditioningEmbedding), as LibTorch modules whose
// named_parameters() are exactly the official state_dict keys, so released weights load unchanged.
//
// The forward pass is split so blocks can be run, streamed to a device or checkpointed one at a time:
//   auto st = model->embed(inputs);                                  // adapter + patches + temb + text
//   for (int i = 0; i < model->num_blocks(); ++i) st.x = model->run_block(i, st.x, st);
//   auto v = model->head(st.x, st);                                  // [B, C_out, T, h, w] velocity
// forward(inputs) does exactly this.
//
// Dtypes: the module computes in the dtype of its parameters (fp32, or bf16 with the official policy:
// modulation, gates, norm statistics and RoPE in fp32; see ops.h). Inputs are cast to the dtype and
// device of the weights at call time (so ->to() works); timesteps stay fp32. Parameters are created uninitialised (no random init cost on 8B
// models; pass torch::kMeta to count parameters without memory): load weights before running.
//
// Threading: a model instance is not safe for concurrent forward calls from several threads (the RoPE
// cache is locked, but LibTorch modules are not designed for it); use one engine thread per device.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mf/io/tensor_io.h"
#include "mf/mfm/config.h"
#include "mf/mfm/ops.h"

namespace mf::mfm {

struct ModelOptions {
  torch::Dtype dtype = torch::kFloat;  // kFloat or kBFloat16 (official inference dtype)
  torch::Device device = torch::kCPU;  // torch::kMeta builds a weightless skeleton
  AttentionKernel attention = AttentionKernel::Auto;
  torch::TensorOptions tensor_options() const { return torch::TensorOptions().dtype(dtype).device(device); }
};

// ---- Leaf layers (own parameters, created with ModelOptions; no default initialisation) --------------

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]
  torch::Tensor weight, bias;                      // [out, in], [out] (undefined without bias)
};
TORCH_MODULE(Linear);

class ConvImpl : public torch::nn::Module {  // Conv2d or Conv3d, kernel k, zero padding k/2
 public:
  ConvImpl(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);
  int dims;
  int64_t stride, padding;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Conv);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, const torch::TensorOptions& opts, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RMSNorm);

// ---- Condition adapter (B) ----------------------------------------------------------------------------

class ConditionAdapterImpl : public torch::nn::Module {
 public:
  ConditionAdapterImpl(int64_t in_channels, int64_t out_dim, const torch::TensorOptions& opts);
  // [B, Cin, Tpix, H, W] -> [B, D, T', H/16, W/16] with T' = ceil(ceil(Tpix/2)/2).
  torch::Tensor forward(const torch::Tensor& cond);
  // Layers in order: 0 = conv_in, 1..8 = blocks, 9 = conv_out.
  static constexpr int kLayers = 10;
  Conv layer(int i) const;
  // The output of layer i before its SiLU, frames folded into the batch: [B*T_i, c_i, H_i, W_i] (data-dependent
  // initialisation and diagnostics; runs layers 0..i only).
  torch::Tensor layer_output(const torch::Tensor& cond, int layer);
  static int64_t output_frames(int64_t pixel_frames);  // ceil(ceil(T/2)/2)
  Conv conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList blocks;
  std::vector<Conv> block_list;  // typed view of `blocks`
};
TORCH_MODULE(ConditionAdapter);

// ---- Embeddings ---------------------------------------------------------------------------------------

class PatchEmbedImpl : public torch::nn::Module {  // pos_embed: per-frame Conv2d(C -> D, k=p, s=p)
 public:
  PatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& latents);  // [B, C, T, h, w] -> [B, D, T, h/p, w/p]
  Conv proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

class TimestepEmbeddingImpl : public torch::nn::Module {  // linear_1 -> SiLU -> linear_2
 public:
  TimestepEmbeddingImpl(int64_t in, int64_t dim, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);
  Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

class TimeEmbedderImpl : public torch::nn::Module {  // time_embedder (A.4)
 public:
  TimeEmbedderImpl(int64_t dim, bool motion_score, const torch::TensorOptions& opts);
  // timestep [N] (sigma*1000), motion [N] or undefined -> temb [N, D] in the model dtype.
  torch::Tensor forward(const torch::Tensor& timestep, const torch::Tensor& motion_score);
  TimestepEmbedding timestep_embedder{nullptr}, guidance_embedder{nullptr};
};
TORCH_MODULE(TimeEmbedder);

// ---- Transformer block (A.6) --------------------------------------------------------------------------

// Everything a block needs besides its input tokens; built once by embed().
struct BlockContext {
  torch::Tensor temb;       // [B|1, D] model dtype
  torch::Tensor text;       // [B, Lt, Ct] model dtype (undefined when no block has cross-attention)
  torch::Tensor text_bias;  // [B, 1, 1, Lt] model dtype, 0 or -10000 (undefined: no mask)
  torch::Tensor rope_cos;   // [1|B, 1, S, Dh] fp32 (undefined when use_rope is false)
  torch::Tensor rope_sin;
  int64_t grid_t = 0, grid_h = 0, grid_w = 0;  // token grid (T, h/p, w/p)
  // The condition adapter's output [B, D, T, h/p, w/p] as added to the patches (kept for training losses and
  // diagnostics that look at what the adapter carries; holding it costs no compute).
  torch::Tensor adapter;
};

class AdaLayerNormZeroImpl : public torch::nn::Module {  // norm1
 public:
  AdaLayerNormZeroImpl(int64_t dim, bool rmsnorm, const torch::TensorOptions& opts);
  struct Out {
    torch::Tensor x;  // modulated norm(x), model dtype
    torch::Tensor gate_msa, shift_mlp, scale_mlp, gate_mlp;  // [B, D] fp32
  };
  Out forward(const torch::Tensor& x, const torch::Tensor& temb);
  Linear linear{nullptr};
  RMSNorm norm{nullptr};  // only for adaln_norm_type rmsnorm (norm1.norm.weight)
};
TORCH_MODULE(AdaLayerNormZero);

class AttentionImpl : public torch::nn::Module {  // attn1 / attn2 (goku_modules.Attention)
 public:
  AttentionImpl(int64_t dim, int64_t kv_dim, int64_t heads, int64_t head_dim, bool bias, bool upcast,
                AttentionKernel kernel, const torch::TensorOptions& opts);
  // x [B, S, D]; context [B, Lk, Ckv] (undefined: self-attention); bias broadcastable to [B, NH, S, Lk].
  // RoPE (if cos defined) rotates the query, and the key only in self-attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context, const torch::Tensor& bias,
                        const torch::Tensor& cos, const torch::Tensor& sin);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // over the full projected width (all heads together)
  int64_t heads, head_dim;
  bool upcast;
  AttentionKernel kernel;
};
TORCH_MODULE(Attention);

class FeedForwardImpl : public torch::nn::Module {  // ff: fc1 -> GELU(tanh) -> fc2
 public:
  FeedForwardImpl(int64_t dim, int64_t inner, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FeedForward);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(const Config& cfg, int index, const ModelOptions& opts);
  torch::Tensor forward(const torch::Tensor& x, const BlockContext& ctx);  // [B, S, D] -> [B, S, D]
  AdaLayerNormZero norm1{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};  // attn2 null without cross-attention
  RMSNorm norm2{nullptr}, norm3{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(TransformerBlock);

// ---- The model ----------------------------------------------------------------------------------------

struct TransformerInputs {
  torch::Tensor hidden_states;             // [B, C, T, h, w] noisy latents
  torch::Tensor conditional_pixel_values;  // [B, Cin-1, Tpix, H, W]: RGB x mask in [-1,1], then depth
  torch::Tensor conditional_masks;         // [B, 1, Tpix, H, W] in [0,1]; undefined: pixel values hold all Cin
  torch::Tensor encoder_hidden_states;     // [B, Lt, Ct] text embeddings
  torch::Tensor encoder_attention_mask;    // [B, Lt] 1 = token, 0 = pad; undefined: no mask
  torch::Tensor timestep;                  // [B] or [1]: sigma * 1000, fp32
  // [B] or [1]; rounded to the model dtype first, as the official pipeline rounds it to the latent dtype.
  torch::Tensor motion_score;
  // Optional RoPE tables [S, Dh] or [B, S, Dh] (as the official pipeline passes them); by default the
  // model builds them from the token grid once and caches them.
  torch::Tensor rope_cos, rope_sin;
};

class Transformer3DModelImpl : public torch::nn::Module {
 public:
  explicit Transformer3DModelImpl(const Config& cfg, const ModelOptions& opts = {});

  BlockContext embed(const TransformerInputs& in, torch::Tensor* tokens);  // tokens: [B, S, D]
  torch::Tensor run_block(int i, const torch::Tensor& x, const BlockContext& ctx);
  torch::Tensor head(const torch::Tensor& x, const BlockContext& ctx);      // -> [B, C_out, T, h, w]
  torch::Tensor forward(const TransformerInputs& in);

  int num_blocks() const { return static_cast<int>(block_list_.size()); }
  TransformerBlock block(int i) const { return block_list_.at(i); }
  const Config& config() const { return cfg_; }
  const ModelOptions& options() const { return opts_; }
  int64_t parameter_count() const;  // exact, from named_parameters()
  RopeCache& rope_cache() { return rope_cache_; }
  // Training: recompute each block's activations in the backward pass instead of keeping them (activation
  // memory of one block instead of all; about one more forward per step). Used only while autograd records;
  // the outputs and gradients equal the plain forward's (the block is deterministic: no dropout).
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }

  ConditionAdapter cond_conv{nullptr};
  PatchEmbed pos_embed{nullptr};
  TimeEmbedder time_embedder{nullptr};
  torch::nn::ModuleList transformer_blocks;
  Linear proj_out_1{nullptr}, proj_out_2{nullptr};

 private:
  Config cfg_;
  ModelOptions opts_;
  std::vector<TransformerBlock> block_list_;  // global block order, whatever the chunking
  RopeCache rope_cache_;
  bool gradient_checkpointing_ = false;
};
TORCH_MODULE(Transformer3DModel);

// Builds the model for `cfg`, cross-checks the checkpoint's tensor shapes against the config (A.9) and
// loads every tensor strictly (missing / unexpected / wrong shape -> mf::Error naming the tensor).
// `weights` holds the official names (use WeightSource::with_prefix for prefixed files).
Transformer3DModel load_transformer(const mf::io::WeightSource& weights, const Config& cfg,
                                    const ModelOptions& opts = {});

// Names and shapes of a WeightSource, for check_against_weights.
ShapeMap shapes_of(const mf::io::WeightSource& weights);

// Fills every parameter with reproducible random values of a sensible scale (tests, benchmarks).
void init_random_weights(torch::nn::Module& model, uint64_t seed);

}  // namespace mf::mfm
