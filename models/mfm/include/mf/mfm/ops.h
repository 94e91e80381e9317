// Numerical building blocks of the MfM transformer, written once with the official dtype policy:
// weights and activations in the model dtype (bf16 or fp32); modulation, gates, norm statistics and
// RoPE in fp32 (mfm-reference.md A.5-A.7). Also the single attention entry point, which picks the fastest
// correct kernel of the LibTorch it was compiled against.
// Thread-safety: free functions without shared state, except RopeCache (internally locked).
#pragma once

#include <torch/torch.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace mf::mfm {

// y = x W^T + b in x's dtype. On CPU, bf16/fp16 inputs are computed in fp32 and rounded once: older
// LibTorch CPU builds lack fast or fp32-accumulating reduced-precision GEMMs, and a GPU GEMM rounds
// the fp32 accumulator the same way.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);
// Convolutions with the same reduced-precision rule (zero padding, groups 1).
torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride,
                     int64_t padding);
torch::Tensor conv3d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride,
                     int64_t padding);

// RMSNorm over the last dim (official RMSNorm): statistics in fp32, weight multiplied in fp32, result in
// x's dtype. eps 1e-6 everywhere in this model.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps = 1e-6);
// LayerNorm without affine parameters; statistics in fp32, output in x's dtype.
torch::Tensor layer_norm_noaffine(const torch::Tensor& x, double eps = 1e-6);

// Sinusoidal embedding as diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=1):
// freq_k = exp(-ln(10000) k / (half - 1)), output [cos | sin], fp32. t: [N] (any dtype, taken as fp32).
torch::Tensor timestep_sinusoid(const torch::Tensor& t, int64_t channels = 256);  // [N, channels]

// ---- 3D RoPE (A.5) ----------------------------------------------------------------------------------
struct RopeTables {
  torch::Tensor cos;  // [S, Dh] fp32 (or [B, S, Dh] when given per batch element)
  torch::Tensor sin;
};
// Tables for a T x H x W token grid (t-major, then y, then x), head dim split 1/4, 3/8, 3/8 into
// (t | y | x) parts, integer positions, theta 10000, each frequency repeated for an interleaved pair.
// Computed in fp32 with the same operations as the official code. CPU tensors.
RopeTables build_rope_tables(int64_t grid_t, int64_t grid_h, int64_t grid_w, int64_t head_dim,
                             double theta = 10000.0);
// Interleaved-pair rotation: out[2j] = x[2j] cos - x[2j+1] sin, out[2j+1] = x[2j+1] cos + x[2j] sin,
// in fp32, result in x's dtype. x: [B, NH, S, Dh]; cos/sin fp32 broadcastable to it ([1|B, 1, S, Dh]).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Builds tables once per (grid, head dim, device) and hands out the cached [1, 1, S, Dh] copies.
class RopeCache {
 public:
  std::pair<torch::Tensor, torch::Tensor> get(int64_t grid_t, int64_t grid_h, int64_t grid_w, int64_t head_dim,
                                              const torch::Device& device);
  size_t size() const;  // number of cached grids (tests check reuse)
  void clear();

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, std::string>, std::pair<torch::Tensor, torch::Tensor>>
      tables_;
};

// ---- Attention ---------------------------------------------------------------------------------------
enum class AttentionKernel {
  Auto,  // the fastest correct kernel of this LibTorch (see attention_kernel_name())
  Math,  // explicit softmax(q k^T / sqrt(d) + bias) v, computed in fp32 (fp64 for fp64 inputs)
};

// Scaled dot-product attention, no dropout, not causal, scale 1/sqrt(Dh).
// q: [B, NH, Sq, Dh], k/v: [B, NH, Sk, Dh], bias: additive, broadcastable to [B, NH, Sq, Sk], or undefined.
// upcast_fp32: q, k, v and bias are cast to fp32 and the output back to q's dtype (upcast_attention).
// Output [B, NH, Sq, Dh] in q's dtype.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, bool upcast_fp32 = false,
                        AttentionKernel kernel = AttentionKernel::Auto);
// attention() with an explicit cap on the score-matrix elements per kernel call where queries are processed
// in blocks (the unfused paths; default 128 Mi elements = 512 MiB in fp32). Tests use small caps.
torch::Tensor attention_with_budget(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& bias, bool upcast_fp32, AttentionKernel kernel,
                                    int64_t max_score_elements);
// "sdpa" (LibTorch >= 2.0 torch::scaled_dot_product_attention), "sdpa-1.13" (private
// at::_scaled_dot_product_attention) or "math".
const char* attention_kernel_name();

}  // namespace mf::mfm
