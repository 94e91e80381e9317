// T5 encoder in LibTorch (see the header for the semantics it reproduces).
#include "mf/text/t5_encoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace fs = std::filesystem;

namespace mf::text {

// ---- config --------------------------------------------------------------------------------

bool T5Config::is_gated() const { return feed_forward_proj.rfind("gated-", 0) == 0; }

std::string T5Config::activation() const {
  if (feed_forward_proj == "gated-gelu") return "gelu_new";  // transformers' special case
  const size_t dash = feed_forward_proj.rfind('-');
  return dash == std::string::npos ? feed_forward_proj : feed_forward_proj.substr(dash + 1);
}

T5Config T5Config::xl() {
  T5Config c;  // the defaults are the XL shapes
  return c;
}

T5Config T5Config::from_json(const std::string& json_text, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw mf::Error(mf::ErrorCode::BadFile, label + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw mf::Error(mf::ErrorCode::BadFile, label + " is not a JSON object");
  // Missing fields take transformers' T5Config defaults (not the XL values above).
  T5Config c;
  c.vocab_size = 32128;
  c.d_model = 512;
  c.d_kv = 64;
  c.d_ff = 2048;
  c.num_layers = 6;
  c.num_heads = 8;
  c.feed_forward_proj = "relu";
  const auto get_int = [&](const char* key, int64_t* out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0)
      throw mf::Error(mf::ErrorCode::BadFile, label + ": '" + key + "' must be a positive integer");
    *out = j[key].get<int64_t>();
  };
  get_int("vocab_size", &c.vocab_size);
  get_int("d_model", &c.d_model);
  get_int("d_kv", &c.d_kv);
  get_int("d_ff", &c.d_ff);
  get_int("num_layers", &c.num_layers);
  get_int("num_heads", &c.num_heads);
  get_int("relative_attention_num_buckets", &c.relative_attention_num_buckets);
  get_int("relative_attention_max_distance", &c.relative_attention_max_distance);
  if (j.contains("layer_norm_epsilon")) {
    if (!j["layer_norm_epsilon"].is_number())
      throw mf::Error(mf::ErrorCode::BadFile, label + ": 'layer_norm_epsilon' must be a number");
    c.layer_norm_epsilon = j["layer_norm_epsilon"].get<double>();
  }
  if (j.contains("feed_forward_proj")) {
    if (!j["feed_forward_proj"].is_string())
      throw mf::Error(mf::ErrorCode::BadFile, label + ": 'feed_forward_proj' must be a string");
    c.feed_forward_proj = j["feed_forward_proj"].get<std::string>();
  }
  const auto& f = c.feed_forward_proj;
  const size_t dashes = static_cast<size_t>(std::count(f.begin(), f.end(), '-'));
  if (dashes > 1 || (dashes == 1 && !c.is_gated()))
    throw mf::Error(mf::ErrorCode::BadFile, label + ": feed_forward_proj '" + f +
                                                "' is not of the form 'ACT' or 'gated-ACT'");
  const std::string act = c.activation();
  if (act != "relu" && act != "gelu" && act != "gelu_new" && act != "silu")
    throw mf::Error(mf::ErrorCode::Unsupported,
                    label + ": activation '" + act + "' is not supported (relu, gelu, gelu_new, silu)");
  if (c.relative_attention_num_buckets < 4)
    throw mf::Error(mf::ErrorCode::BadFile, label + ": relative_attention_num_buckets must be >= 4");
  return c;
}

T5Config T5Config::from_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw mf::Error(mf::ErrorCode::MissingModel, "cannot read T5 config " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return from_json(ss.str(), path);
}

std::string T5Config::to_json() const {
  nlohmann::json j = {{"vocab_size", vocab_size},
                      {"d_model", d_model},
                      {"d_kv", d_kv},
                      {"d_ff", d_ff},
                      {"num_layers", num_layers},
                      {"num_heads", num_heads},
                      {"relative_attention_num_buckets", relative_attention_num_buckets},
                      {"relative_attention_max_distance", relative_attention_max_distance},
                      {"layer_norm_epsilon", layer_norm_epsilon},
                      {"feed_forward_proj", feed_forward_proj}};
  return j.dump();
}

// ---- modules -------------------------------------------------------------------------------

T5LayerNormImpl::T5LayerNormImpl(int64_t dim, double eps_, const torch::TensorOptions& opts) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}, opts), /*requires_grad=*/false);
}

torch::Tensor T5LayerNormImpl::forward(const torch::Tensor& x) const {
  // Variance in fp32; x * rsqrt promotes to fp32; cast back only for half types (as T5LayerNorm).
  auto variance = x.to(torch::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  auto h = x * torch::rsqrt(variance + eps);
  if (weight.scalar_type() == torch::kBFloat16 || weight.scalar_type() == torch::kHalf) h = h.to(weight.scalar_type());
  return weight * h;
}

T5LinearImpl::T5LinearImpl(int64_t in, int64_t out, const torch::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty({out, in}, opts), /*requires_grad=*/false);
}

torch::Tensor T5LinearImpl::forward(const torch::Tensor& x) const { return torch::linear(x, weight); }

T5EmbeddingImpl::T5EmbeddingImpl(int64_t n, int64_t dim, const torch::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty({n, dim}, opts), /*requires_grad=*/false);
}

T5EmbeddingImpl::T5EmbeddingImpl(torch::Tensor shared_weight) {
  weight = register_parameter("weight", std::move(shared_weight), /*requires_grad=*/false);
}

torch::Tensor t5_relative_position_bucket(const torch::Tensor& relative_position, int64_t num_buckets,
                                          int64_t max_distance) {
  const int64_t nb = num_buckets / 2;  // bidirectional: half the buckets for keys after the query
  auto buckets = (relative_position > 0).to(torch::kLong) * nb;
  auto n = relative_position.abs();
  const int64_t max_exact = nb / 2;
  auto is_small = n < max_exact;
  // Same float32 arithmetic as the reference: log(n / max_exact) / log(max_distance / max_exact) * (nb - max_exact),
  // truncated toward zero.
  auto large = (torch::log(n.to(torch::kFloat) / max_exact) /
                    std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                    static_cast<double>(nb - max_exact))
                   .to(torch::kLong) +
               max_exact;
  large = torch::min(large, torch::full_like(large, nb - 1));
  return buckets + torch::where(is_small, n, large);
}

T5AttentionImpl::T5AttentionImpl(const T5Config& c, bool has_relative_bias, const torch::TensorOptions& opts)
    : n_heads(c.num_heads),
      d_kv(c.d_kv),
      num_buckets(c.relative_attention_num_buckets),
      max_distance(c.relative_attention_max_distance) {
  q = register_module("q", T5Linear(c.d_model, c.inner_dim(), opts));
  k = register_module("k", T5Linear(c.d_model, c.inner_dim(), opts));
  v = register_module("v", T5Linear(c.d_model, c.inner_dim(), opts));
  o = register_module("o", T5Linear(c.inner_dim(), c.d_model, opts));
  if (has_relative_bias) {
    auto emb = register_module("relative_attention_bias", T5Embedding(c.relative_attention_num_buckets, c.num_heads, opts));
    relative_attention_bias = emb->weight;
  }
}

torch::Tensor T5AttentionImpl::compute_bias(int64_t q_len, int64_t k_len) const {
  TORCH_CHECK(relative_attention_bias.defined(), "compute_bias on an attention without relative_attention_bias");
  const auto dev = relative_attention_bias.device();
  auto context = torch::arange(q_len, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(1);
  auto memory = torch::arange(k_len, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0);
  auto bucket = t5_relative_position_bucket(memory - context, num_buckets, max_distance);  // [q, k]
  auto values = torch::embedding(relative_attention_bias, bucket);                          // [q, k, H]
  return values.permute({2, 0, 1}).unsqueeze(0);                                            // [1, H, q, k]
}

torch::Tensor T5AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& bias) const {
  const int64_t B = x.size(0);
  auto qs = q->forward(x).view({B, -1, n_heads, d_kv}).transpose(1, 2);  // [B, H, S, dk]
  auto ks = k->forward(x).view({B, -1, n_heads, d_kv}).transpose(1, 2);
  auto vs = v->forward(x).view({B, -1, n_heads, d_kv}).transpose(1, 2);
  auto scores = torch::matmul(qs, ks.transpose(3, 2));  // no 1/sqrt(d_kv): T5 folds it into the init
  scores += bias;
  auto weights = torch::softmax(scores.to(torch::kFloat), -1).to(scores.scalar_type());
  auto out = torch::matmul(weights, vs).transpose(1, 2).contiguous().view({B, -1, n_heads * d_kv});  // [B, S, inner]
  return o->forward(out);
}

T5LayerSelfAttentionImpl::T5LayerSelfAttentionImpl(const T5Config& c, bool has_relative_bias,
                                                   const torch::TensorOptions& opts) {
  SelfAttention = register_module("SelfAttention", T5Attention(c, has_relative_bias, opts));
  layer_norm = register_module("layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon, opts));
}

torch::Tensor T5LayerSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& bias) const {
  return x + SelfAttention->forward(layer_norm->forward(x), bias);
}

T5DenseImpl::T5DenseImpl(const T5Config& c, const torch::TensorOptions& opts) : gated(c.is_gated()), act(c.activation()) {
  if (gated) {
    wi_0 = register_module("wi_0", T5Linear(c.d_model, c.d_ff, opts));
    wi_1 = register_module("wi_1", T5Linear(c.d_model, c.d_ff, opts));
  } else {
    wi = register_module("wi", T5Linear(c.d_model, c.d_ff, opts));
  }
  wo = register_module("wo", T5Linear(c.d_ff, c.d_model, opts));
}

namespace {
torch::Tensor activate(const std::string& act, const torch::Tensor& x) {
  if (act == "gelu_new")  // NewGELUActivation, as composed elementwise ops in the tensor's dtype
    return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * torch::pow(x, 3.0))));
  if (act == "gelu") return torch::gelu(x);
  if (act == "silu") return torch::silu(x);
  return torch::relu(x);
}
}  // namespace

torch::Tensor T5DenseImpl::forward(const torch::Tensor& x) const {
  torch::Tensor h = gated ? activate(act, wi_0->forward(x)) * wi_1->forward(x) : activate(act, wi->forward(x));
  if (h.scalar_type() != wo->weight.scalar_type()) h = h.to(wo->weight.scalar_type());
  return wo->forward(h);
}

T5LayerFFImpl::T5LayerFFImpl(const T5Config& c, const torch::TensorOptions& opts) {
  DenseReluDense = register_module("DenseReluDense", T5Dense(c, opts));
  layer_norm = register_module("layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon, opts));
}

torch::Tensor T5LayerFFImpl::forward(const torch::Tensor& x) const {
  return x + DenseReluDense->forward(layer_norm->forward(x));
}

T5BlockImpl::T5BlockImpl(const T5Config& c, bool has_relative_bias, const torch::TensorOptions& opts) {
  attn = T5LayerSelfAttention(c, has_relative_bias, opts);
  ff = T5LayerFF(c, opts);
  layer = register_module("layer", torch::nn::ModuleList(attn, ff));
}

torch::Tensor T5BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& bias) const {
  return ff->forward(attn->forward(x, bias));
}

T5StackImpl::T5StackImpl(const T5Config& c, const torch::Tensor& shared_weight, const torch::TensorOptions& opts) {
  embed_tokens = register_module("embed_tokens", T5Embedding(shared_weight));
  block = register_module("block", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks.push_back(T5Block(c, /*has_relative_bias=*/i == 0, opts));
    block->push_back(blocks.back());
  }
  final_layer_norm = register_module("final_layer_norm", T5LayerNorm(c.d_model, c.layer_norm_epsilon, opts));
}

T5EncoderImpl::T5EncoderImpl(const T5Config& c, torch::ScalarType dtype, torch::Device device)
    : config_(c), dtype_(dtype), device_(device) {
  if (dtype != torch::kFloat && dtype != torch::kBFloat16 && dtype != torch::kHalf)
    throw mf::Error(mf::ErrorCode::Unsupported, "T5 encoder dtype must be float32, bfloat16 or float16");
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  shared = register_module("shared", T5Embedding(c.vocab_size, c.d_model, opts));
  encoder = register_module("encoder", T5Stack(c, shared->weight, opts));
}

namespace {
double lowest_of(torch::ScalarType t) {
  switch (t) {
    case torch::kBFloat16: return -3.3895313892515355e38;  // torch.finfo(torch.bfloat16).min
    case torch::kHalf: return -65504.0;
    default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}
}  // namespace

torch::Tensor T5EncoderImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                     T5Trace* trace) const {
  if (input_ids.dim() != 2)
    throw mf::Error(mf::ErrorCode::BadInput, "T5 input_ids must be [batch, tokens]");
  auto ids = input_ids.to(device_, torch::kLong);
  const int64_t S = ids.size(1);
  auto h = encoder->embed_tokens->forward(ids);  // [B, S, D], no sqrt(D) scaling
  auto bias = encoder->blocks[0]->attn->SelfAttention->compute_bias(S, S);  // [1, H, S, S]
  if (attention_mask.defined()) {
    if (attention_mask.sizes() != input_ids.sizes())
      throw mf::Error(mf::ErrorCode::BadInput, "T5 attention_mask must have the shape of input_ids");
    auto m = attention_mask.to(device_, dtype_).unsqueeze(1).unsqueeze(1);  // [B, 1, 1, S]
    bias = bias + (1.0 - m) * lowest_of(dtype_);
  }
  if (trace) trace->position_bias = bias;
  for (size_t i = 0; i < encoder->blocks.size(); ++i) {
    h = encoder->blocks[i]->forward(h, bias);
    if (trace && i == 0) trace->after_layer0 = h;
  }
  return encoder->final_layer_norm->forward(h);  // [B, S, D]
}

mf::io::LoadReport T5EncoderImpl::load(const mf::io::WeightSource& source, bool strict) {
  torch::NoGradGuard no_grad;
  mf::io::LoadReport report;
  static const std::string kShared = "shared.weight", kEmbed = "encoder.embed_tokens.weight";
  std::set<std::string> used;
  std::set<const void*> filled;  // tied parameters are filled once
  for (auto& item : named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    std::string src = name;
    if (!source.contains(src) && (name == kShared || name == kEmbed)) src = name == kShared ? kEmbed : kShared;
    if (!source.contains(src)) {
      report.missing.push_back(name);
      continue;
    }
    used.insert(src);
    const auto& info = source.info(src);
    if (info.shape != param.sizes().vec()) {
      report.shape_mismatches.push_back({name, param.sizes().vec(), info.shape});
      continue;
    }
    if (!filled.insert(param.data_ptr()).second) continue;
    // One tensor at a time, converted to the model dtype: peak memory = model + one tensor.
    param.copy_(source.read(src, dtype_, device_));
  }
  for (const auto& name : source.names()) {
    if (used.count(name) || name == kShared || name == kEmbed) continue;
    if (name.rfind("decoder.", 0) == 0 || name.rfind("lm_head.", 0) == 0) continue;  // full T5 checkpoints
    report.unexpected.push_back(name);
  }
  if (strict && !report.ok())
    throw mf::Error(mf::ErrorCode::BadFile,
                    "T5 encoder weights in " + source.describe() + " do not match the config:\n" + report.to_string());
  return report;
}

T5Encoder load_t5_encoder(const std::string& dir, torch::ScalarType dtype, torch::Device device) {
  const fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::exists(cfg))
    throw mf::Error(mf::ErrorCode::MissingModel,
                    "no config.json in " + dir + " (expected the MfM folder's text_encoder/ with config.json and model.safetensors)");
  T5Encoder enc(T5Config::from_file(cfg.string()), dtype, device);
  enc->load(mf::io::WeightSource::open(dir));
  enc->eval();
  return enc;
}

}  // namespace mf::text
