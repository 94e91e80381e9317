#include "mf/mfm/ops.h"

#include <torch/version.h>

#include <cmath>

#include "mf/core/error.h"

namespace mf::mfm {

namespace {

bool reduced(torch::ScalarType t) { return t == torch::kBFloat16 || t == torch::kHalf; }

// CPU + bf16/fp16: compute in fp32, round once (see linear()).
bool cpu_upcast(const torch::Tensor& x) { return x.device().is_cpu() && reduced(x.scalar_type()); }

torch::Tensor maybe_float(const torch::Tensor& t, bool up) {
  return (up && t.defined()) ? t.to(torch::kFloat) : t;
}

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (!cpu_upcast(x)) return torch::linear(x, w, b);
  return torch::linear(x.to(torch::kFloat), w.to(torch::kFloat), maybe_float(b, true)).to(x.scalar_type());
}

torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride,
                     int64_t padding) {
  const bool up = cpu_upcast(x);
  auto y = torch::conv2d(maybe_float(x, up), maybe_float(w, up), maybe_float(b, up), {stride, stride},
                         {padding, padding});
  return up ? y.to(x.scalar_type()) : y;
}

torch::Tensor conv3d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride,
                     int64_t padding) {
  const bool up = cpu_upcast(x);
  auto y = torch::conv3d(maybe_float(x, up), maybe_float(w, up), maybe_float(b, up), {stride, stride, stride},
                         {padding, padding, padding});
  return up ? y.to(x.scalar_type()) : y;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto h = x.to(torch::kFloat);
  auto var = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(var + eps);
  // The official module multiplies the (possibly bf16) weight by the fp32 activations: fp32 product.
  return (weight * h).to(x.scalar_type());
}

torch::Tensor layer_norm_noaffine(const torch::Tensor& x, double eps) {
  return torch::layer_norm(x.to(torch::kFloat), {x.size(-1)}, {}, {}, eps).to(x.scalar_type());
}

torch::Tensor timestep_sinusoid(const torch::Tensor& t, int64_t channels) {
  const int64_t half = channels / 2;
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(t.device());
  // Same operation order as diffusers get_timestep_embedding (downscale_freq_shift=1 -> half - 1).
  auto exponent = torch::arange(0, half, opts) * (-std::log(10000.0));
  exponent = exponent / static_cast<double>(half - 1);
  auto freqs = torch::exp(exponent);
  auto args = t.to(torch::kFloat).reshape({-1, 1}) * freqs.unsqueeze(0);  // [N, half]
  return torch::cat({torch::cos(args), torch::sin(args)}, -1);              // flip_sin_to_cos: cos first
}

// ---- RoPE --------------------------------------------------------------------------------------------

namespace {

// Per-axis cos/sin [n, d] with each frequency repeated for an interleaved pair.
std::pair<torch::Tensor, torch::Tensor> rope_axis(int64_t n, int64_t d, double theta) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  auto pos = torch::arange(0, n, f32);                       // exact integers, as linspace(0, n, n, endpoint=False)
  auto exponent = torch::arange(0, d, 2, f32).slice(0, 0, d / 2) / static_cast<double>(d);
  auto inv_freq = torch::pow(theta, exponent).reciprocal();  // 1.0 / theta**exponent in fp32
  auto freqs = torch::outer(pos, inv_freq);                  // [n, d/2]
  return {freqs.cos().repeat_interleave(2, 1), freqs.sin().repeat_interleave(2, 1)};
}

}  // namespace

RopeTables build_rope_tables(int64_t grid_t, int64_t grid_h, int64_t grid_w, int64_t head_dim, double theta) {
  check(head_dim % 16 == 0 && grid_t > 0 && grid_h > 0 && grid_w > 0, ErrorCode::BadInput,
        "RoPE tables need a positive grid and a head dim divisible by 16 (got grid " + std::to_string(grid_t) + "x" +
            std::to_string(grid_h) + "x" + std::to_string(grid_w) + ", head dim " + std::to_string(head_dim) + ")");
  const int64_t dt = head_dim / 4, dh = head_dim / 8 * 3, dw = head_dim / 8 * 3;
  auto [tc, ts] = rope_axis(grid_t, dt, theta);
  auto [hc, hs] = rope_axis(grid_h, dh, theta);
  auto [wc, ws] = rope_axis(grid_w, dw, theta);
  auto combine = [&](const torch::Tensor& t, const torch::Tensor& h, const torch::Tensor& w) {
    auto te = t.index({torch::indexing::Slice(), torch::indexing::None, torch::indexing::None})
                  .expand({grid_t, grid_h, grid_w, dt});
    auto he = h.index({torch::indexing::None, torch::indexing::Slice(), torch::indexing::None})
                  .expand({grid_t, grid_h, grid_w, dh});
    auto we = w.index({torch::indexing::None, torch::indexing::None}).expand({grid_t, grid_h, grid_w, dw});
    return torch::cat({te, he, we}, -1).reshape({grid_t * grid_h * grid_w, head_dim}).contiguous();
  };
  return {combine(tc, hc, wc), combine(ts, hs, ws)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto sz = x.sizes().vec();
  const int64_t d = sz.back();
  sz.back() = d / 2;
  sz.push_back(2);
  auto pairs = x.reshape(sz);
  auto re = pairs.select(-1, 0), im = pairs.select(-1, 1);
  auto rotated = torch::stack({-im, re}, -1).flatten(-2);  // (-x[2j+1], x[2j])
  return (x.to(torch::kFloat) * cos + rotated.to(torch::kFloat) * sin).to(x.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> RopeCache::get(int64_t grid_t, int64_t grid_h, int64_t grid_w,
                                                       int64_t head_dim, const torch::Device& device) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_tuple(grid_t, grid_h, grid_w, head_dim, device.str());
  auto it = tables_.find(key);
  if (it != tables_.end()) return it->second;
  auto t = build_rope_tables(grid_t, grid_h, grid_w, head_dim);
  auto entry = std::make_pair(t.cos.to(device).unsqueeze(0).unsqueeze(0), t.sin.to(device).unsqueeze(0).unsqueeze(0));
  tables_.emplace(key, entry);
  return entry;
}

size_t RopeCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_.size();
}

void RopeCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.clear();
}

// ---- Attention ---------------------------------------------------------------------------------------

namespace {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

torch::Tensor math_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& bias) {
  const auto ct = q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q.to(ct) * scale, k.to(ct).transpose(-2, -1));
  if (bias.defined()) scores = scores + bias.to(ct);
  return torch::matmul(torch::softmax(scores, -1), v.to(ct)).to(q.scalar_type());
}

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& bias) {
  c10::optional<torch::Tensor> mask;
  if (bias.defined()) mask = bias.to(q.scalar_type());
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#elif TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 13
  // The private 1.13 entry point: additive float mask, default scale (checked by test_mfm_ops).
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, mask, 0.0, false, false));
#else
  return math_attention(q, k, v, bias);
#endif
}

// Runs `fn` over query blocks so that the [B, NH, Sq, Sk] score matrix stays under ~512 MiB; every
// query row's softmax is independent, so the result is identical to one call.
template <typename Fn>
torch::Tensor chunked_over_queries(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const torch::Tensor& bias, int64_t budget, Fn fn) {
  const int64_t rows_per_query = q.size(0) * q.size(1) * k.size(-2);
  const int64_t sq = q.size(-2);
  const int64_t block = std::max<int64_t>(1, budget / std::max<int64_t>(rows_per_query, 1));
  if (block >= sq) return fn(q, k, v, bias);
  std::vector<torch::Tensor> outs;
  for (int64_t s = 0; s < sq; s += block) {
    const int64_t e = std::min(sq, s + block);
    torch::Tensor b = bias;
    if (b.defined() && b.dim() >= 2 && b.size(-2) != 1) b = b.slice(-2, s, e);
    outs.push_back(fn(q.slice(-2, s, e), k, v, b));
  }
  return torch::cat(outs, -2);
}

}  // namespace

const char* attention_kernel_name() {
#if TORCH_VERSION_MAJOR >= 2
  return "sdpa";
#elif TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 13
  return "sdpa-1.13";
#else
  return "math";
#endif
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, bool upcast_fp32, AttentionKernel kernel) {
  return attention_with_budget(q, k, v, bias, upcast_fp32, kernel, int64_t(128) * 1024 * 1024);
}

torch::Tensor attention_with_budget(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& bias, bool upcast_fp32, AttentionKernel kernel,
                                    int64_t max_score_elements) {
  check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, ErrorCode::Internal,
        "attention expects [B, heads, tokens, head_dim] tensors");
  const auto out_dtype = q.scalar_type();
  // Reduced precision on a CPU without a fused kernel: the pre-2.0 CPU path is plain math in the input
  // dtype, which would round scores and probabilities to bf16; fused GPU/2.x kernels accumulate in fp32.
  const bool up = upcast_fp32 || (!kTorch2 && cpu_upcast(q));
  torch::Tensor qq = maybe_float(q, up), kk = maybe_float(k, up), vv = maybe_float(v, up);
  torch::Tensor bb = up ? maybe_float(bias, true) : bias;
  torch::Tensor out;
  if (kernel == AttentionKernel::Math) {
    out = chunked_over_queries(qq, kk, vv, bb, max_score_elements, math_attention);
  } else if (kTorch2) {
    out = fused_attention(qq, kk, vv, bb);
  } else {
    out = chunked_over_queries(qq, kk, vv, bb, max_score_elements, fused_attention);
  }
  return out.to(out_dtype);
}

}  // namespace mf::mfm
