// Building blocks of the CogVideoX VAE as LibTorch modules. Children are registered under the checkpoint's own
// names, so AutoencoderKLCogVideoX::named_parameters() equals the diffusers state_dict keys
// (encoder.down_blocks.0.resnets.0.conv1.conv.weight, decoder.up_blocks.1.upsamplers.0.conv.bias, ...).
//
// Every forward takes a RunContext: the causal-conv caches carried from the previous temporal chunk
// (CausalConv3d prepends the cache, or k-1 copies of the first frame when there is none, and stores the last
// k-1 frames of its padded input for the next chunk), plus memory knobs that never change the math.
//
// Threading: a module instance and a RunContext are used by one thread at a time.
#pragma once

#include <torch/torch.h>

#include <map>
#include <unordered_map>
#include <vector>

#include "mf/vae/config.h"

namespace mf::vae {

// Conv caches of one decode/encode stream (one per tile in tiled mode). Keyed by the conv module.
class ConvCache {
 public:
  torch::Tensor get(const void* conv) const {
    auto it = map_.find(conv);
    return it == map_.end() ? torch::Tensor() : it->second;
  }
  void put(const void* conv, torch::Tensor t) { map_[conv] = std::move(t); }
  void erase(const void* conv) { map_.erase(conv); }
  void clear() { map_.clear(); }
  bool empty() const { return map_.empty(); }
  size_t size() const { return map_.size(); }
  int64_t bytes() const;

 private:
  std::unordered_map<const void*, torch::Tensor> map_;
};

struct RunContext {
  ConvCache* cache = nullptr;  // null: every conv pads with copies of the first frame and stores nothing
  // False on the last temporal chunk: convs still read the carried frames but store none (and drop what they
  // read), so the caches' memory is released as the last chunk goes through the network.
  bool keep_cache = true;
  // Convolutions run over at most this many input bytes at a time, in slices along time (the same
  // convolution, like diffusers' CogVideoXSafeConv3d): bounds the transient memory of large frames.
  int64_t conv_chunk_bytes = int64_t(512) << 20;
  // Nearest-resized latents for the spatial norms of one decoder chunk, keyed by target (T, H, W):
  // every norm at the same resolution uses the same resized zq, so it is computed once.
  std::map<std::vector<int64_t>, torch::Tensor> zq_resized;
};

// 3-D convolution that is causal in time: no temporal padding inside the conv, zero padding in H and W.
class CausalConv3dImpl : public torch::nn::Module {
 public:
  CausalConv3dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size);
  torch::Tensor forward(const torch::Tensor& x, RunContext& ctx);  // [B, Cin, T, H, W] -> [B, Cout, T, H, W]
  torch::nn::Conv3d conv{nullptr};

 private:
  int64_t kt_;
};
TORCH_MODULE(CausalConv3d);

// GroupNorm(f) * conv_y(zq) + conv_b(zq), zq nearest-resized to f (first frame separately when T is odd > 1).
class SpatialNorm3DImpl : public torch::nn::Module {
 public:
  SpatialNorm3DImpl(int64_t f_channels, int64_t zq_channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& f, const torch::Tensor& zq, RunContext& ctx);
  torch::nn::GroupNorm norm_layer{nullptr};
  CausalConv3d conv_y{nullptr}, conv_b{nullptr};
};
TORCH_MODULE(SpatialNorm3D);

// norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2, + (1x1x1 conv_shortcut when channels change).
// Encoder resnets use GroupNorm; decoder resnets use SpatialNorm3D with zq channels = latent channels.
class ResnetBlock3DImpl : public torch::nn::Module {
 public:
  ResnetBlock3DImpl(int64_t in_channels, int64_t out_channels, int64_t groups, double eps,
                    int64_t spatial_norm_dim /* 0: GroupNorm */);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& zq, RunContext& ctx);

  torch::nn::GroupNorm gn1{nullptr}, gn2{nullptr};  // registered as norm1/norm2 in the encoder
  SpatialNorm3D sn1{nullptr}, sn2{nullptr};         // registered as norm1/norm2 in the decoder
  CausalConv3d conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv3d conv_shortcut{nullptr};

 private:
  int64_t in_channels_, out_channels_;
};
TORCH_MODULE(ResnetBlock3D);

// Optional temporal average pooling by 2 (first frame kept when T is odd), then pad right/bottom by one and a
// stride-2 3x3 Conv2d per frame.
class Downsample3DImpl : public torch::nn::Module {
 public:
  Downsample3DImpl(int64_t channels, bool compress_time);
  torch::Tensor forward(const torch::Tensor& x, RunContext& ctx);
  torch::nn::Conv2d conv{nullptr};

 private:
  bool compress_time_;
};
TORCH_MODULE(Downsample3D);

// Nearest x2 (in time too when compress_time: first frame spatial only when T is odd > 1), then a 3x3 Conv2d
// per frame.
class Upsample3DImpl : public torch::nn::Module {
 public:
  Upsample3DImpl(int64_t channels, bool compress_time);
  torch::Tensor forward(const torch::Tensor& x, RunContext& ctx);
  torch::nn::Conv2d conv{nullptr};

 private:
  bool compress_time_;
};
TORCH_MODULE(Upsample3D);

class Encoder3DImpl : public torch::nn::Module {
 public:
  explicit Encoder3DImpl(const VaeConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, RunContext& ctx);  // [B,3,T,H,W] -> [B,2*latent,T',H/8,W/8]
  CausalConv3d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};

 private:
  struct Block {
    std::vector<ResnetBlock3D> resnets;
    Downsample3D down{nullptr};
  };
  std::vector<Block> blocks_;
  std::vector<ResnetBlock3D> mid_;
};
TORCH_MODULE(Encoder3D);

class Decoder3DImpl : public torch::nn::Module {
 public:
  explicit Decoder3DImpl(const VaeConfig& cfg);
  torch::Tensor forward(const torch::Tensor& z, RunContext& ctx);  // [B,latent,t,h,w] -> [B,3,T,8h,8w]
  CausalConv3d conv_in{nullptr}, conv_out{nullptr};
  SpatialNorm3D norm_out{nullptr};

 private:
  struct Block {
    std::vector<ResnetBlock3D> resnets;
    Upsample3D up{nullptr};
  };
  std::vector<Block> blocks_;
  std::vector<ResnetBlock3D> mid_;
};
TORCH_MODULE(Decoder3D);

// The whole model: encoder, decoder and the optional quant_conv/post_quant_conv (1x1x1 convs).
class AutoencoderKLCogVideoXImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLCogVideoXImpl(const VaeConfig& cfg);
  const VaeConfig& config() const { return cfg_; }
  Encoder3D encoder{nullptr};
  Decoder3D decoder{nullptr};
  torch::nn::Conv3d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  VaeConfig cfg_;
};
TORCH_MODULE(AutoencoderKLCogVideoX);

// Output frames of decoding/encoding one temporal chunk (the up/down-sampling rules alone).
int64_t decoded_chunk_frames(int64_t latent_frames, int temporal_compress_level);
int64_t encoded_chunk_frames(int64_t sample_frames, int temporal_compress_level);

}  // namespace mf::vae
