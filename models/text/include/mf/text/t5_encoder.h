// The T5 encoder MfM conditions on (transformers' T5EncoderModel semantics, mfm-reference.md E):
// token embedding without scaling; relative position bias computed once from block 0's table
// (bidirectional buckets) and shared by every layer; attention WITHOUT 1/sqrt(d_kv) scaling; pre-norm
// T5 RMS layer norm (variance in fp32, result cast to the weight dtype); gated-GELU (gelu_new, tanh)
// or plain ReLU/GELU feed-forward; final layer norm. Parameters are registered under the checkpoint's
// own names (shared.weight, encoder.block.N.layer.0.SelfAttention.q.weight, ...), so named_parameters()
// equals the state_dict keys of T5EncoderModel (encoder.embed_tokens.weight is the same tensor as
// shared.weight, as in the tied original).
//
// dtype: float32, or bfloat16 as the official pipeline runs it (every weight bf16, wo included).
// Memory: parameters are allocated uninitialised in the target dtype and filled tensor by tensor from the
// checkpoint (load()), so loading the 24-layer XL encoder needs its size plus one tensor, not twice.
//
// Threading: forward() is const with respect to module state and may run concurrently on one instance
// (under torch::NoGradGuard); load() must not run concurrently with anything else.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mf/io/tensor_io.h"

namespace mf::text {

struct T5Config {
  int64_t vocab_size = 32128;
  int64_t d_model = 2048;
  int64_t d_kv = 64;
  int64_t d_ff = 5120;
  int64_t num_layers = 24;
  int64_t num_heads = 32;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "gated-gelu";

  // Derived from feed_forward_proj as transformers' T5Config does: "gated-ACT" -> gated; "gated-gelu"
  // means gelu_new (tanh approximation).
  bool is_gated() const;
  std::string activation() const;  // "gelu_new", "gelu", "relu", "silu"
  int64_t inner_dim() const { return num_heads * d_kv; }

  static T5Config xl();  // google/flan-t5-xl / t5-v1_1-xl shapes (mfm-reference.md E.1)
  // Parses a text_encoder/config.json (or a parity file's config JSON). Throws mf::Error(BadFile)
  // naming `label` for missing/invalid fields and Unsupported for unknown activations.
  static T5Config from_json(const std::string& json_text, const std::string& label);
  static T5Config from_file(const std::string& path);
  std::string to_json() const;
};

class T5LayerNormImpl : public torch::nn::Module {
 public:
  T5LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x) const;  // [B, S, D] -> [B, S, D]
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(T5LayerNorm);

// nn.Linear(bias=False) with an uninitialised weight [out, in].
class T5LinearImpl : public torch::nn::Module {
 public:
  T5LinearImpl(int64_t in, int64_t out, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight;
};
TORCH_MODULE(T5Linear);

class T5AttentionImpl : public torch::nn::Module {
 public:
  T5AttentionImpl(const T5Config& c, bool has_relative_bias, const torch::TensorOptions& opts);
  // x [B, S, D]; bias [1 or B, H, S, S] (position bias plus additive mask) -> [B, S, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) const;
  // [1, H, q_len, k_len] from relative_attention_bias (only the block-0 attention has it).
  torch::Tensor compute_bias(int64_t q_len, int64_t k_len) const;
  T5Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::Tensor relative_attention_bias;  // [buckets, H] (the Embedding's weight), undefined if absent
  int64_t n_heads, d_kv, num_buckets, max_distance;
};
TORCH_MODULE(T5Attention);

class T5LayerSelfAttentionImpl : public torch::nn::Module {
 public:
  T5LayerSelfAttentionImpl(const T5Config& c, bool has_relative_bias, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) const;
  T5Attention SelfAttention{nullptr};
  T5LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(T5LayerSelfAttention);

class T5DenseImpl : public torch::nn::Module {  // "DenseReluDense": gated (wi_0, wi_1, wo) or plain (wi, wo)
 public:
  T5DenseImpl(const T5Config& c, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x) const;
  T5Linear wi{nullptr}, wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};
  bool gated;
  std::string act;
};
TORCH_MODULE(T5Dense);

class T5LayerFFImpl : public torch::nn::Module {
 public:
  T5LayerFFImpl(const T5Config& c, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x) const;
  T5Dense DenseReluDense{nullptr};
  T5LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(T5LayerFF);

class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5Config& c, bool has_relative_bias, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) const;
  torch::nn::ModuleList layer{nullptr};  // layer.0 = self-attention, layer.1 = feed-forward
  T5LayerSelfAttention attn{nullptr};
  T5LayerFF ff{nullptr};
};
TORCH_MODULE(T5Block);

class T5EmbeddingImpl : public torch::nn::Module {  // nn.Embedding with an uninitialised (or given) weight
 public:
  T5EmbeddingImpl(int64_t n, int64_t dim, const torch::TensorOptions& opts);
  explicit T5EmbeddingImpl(torch::Tensor shared_weight);  // ties to an existing weight
  torch::Tensor forward(const torch::Tensor& ids) const { return torch::embedding(weight, ids); }
  torch::Tensor weight;
};
TORCH_MODULE(T5Embedding);

class T5StackImpl : public torch::nn::Module {  // "encoder"
 public:
  T5StackImpl(const T5Config& c, const torch::Tensor& shared_weight, const torch::TensorOptions& opts);
  T5Embedding embed_tokens{nullptr};
  torch::nn::ModuleList block{nullptr};
  std::vector<T5Block> blocks;
  T5LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(T5Stack);

// Intermediate tensors for parity checks (mfm-reference.md G item 2).
struct T5Trace {
  torch::Tensor position_bias;  // [1 or B, H, S, S] (incl. the additive mask)
  torch::Tensor after_layer0;   // [B, S, D]
};

class T5EncoderImpl : public torch::nn::Module {
 public:
  explicit T5EncoderImpl(const T5Config& c, torch::ScalarType dtype = torch::kFloat32,
                         torch::Device device = torch::kCPU);

  // input_ids [B, S] int64; attention_mask [B, S] (1 keep, 0 masked) or undefined for none (what the
  // MfM pipeline does: pad tokens attend and are attended to). Returns last_hidden_state [B, S, D] in the
  // model dtype.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        T5Trace* trace = nullptr) const;

  // Fills every parameter from `source` tensor by tensor, converting each to the model dtype.
  // shared.weight / encoder.embed_tokens.weight may be present either or both. Strict: missing,
  // unexpected (other than decoder./lm_head. keys of a full T5 checkpoint) or mis-shaped tensors throw
  // mf::Error(BadFile) listing every problem.
  mf::io::LoadReport load(const mf::io::WeightSource& source, bool strict = true);

  const T5Config& config() const { return config_; }
  torch::ScalarType dtype() const { return dtype_; }
  torch::Device device() const { return device_; }

  T5Embedding shared{nullptr};  // shared.weight [vocab, D], the same tensor as encoder.embed_tokens.weight
  T5Stack encoder{nullptr};

 private:
  T5Config config_;
  torch::ScalarType dtype_;
  torch::Device device_;
};
TORCH_MODULE(T5Encoder);

// Loads a text_encoder/ folder (config.json + model.safetensors or a sharded index) onto `device` in
// `dtype`. Throws mf::Error(MissingModel) naming the folder when files are missing.
T5Encoder load_t5_encoder(const std::string& dir, torch::ScalarType dtype = torch::kBFloat16,
                          torch::Device device = torch::kCPU);

// Bucket index of relative position (key - query), bidirectional, as T5's _relative_position_bucket.
torch::Tensor t5_relative_position_bucket(const torch::Tensor& relative_position, int64_t num_buckets,
                                          int64_t max_distance);

}  // namespace mf::text
