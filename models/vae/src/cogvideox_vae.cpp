// CogVideoXVae: chunked and tiled encode/decode around the AutoencoderKLCogVideoX modules (diffusers 0.33.1
// _encode/_decode/tiled_encode/tiled_decode), with streaming of decoded chunks.
#include "mf/vae/cogvideox_vae.h"

#include <sstream>

#include "mf/core/error.h"

namespace mf::vae {

namespace {

using torch::indexing::Slice;

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// range(0, n, step) as in Python
std::vector<int64_t> py_range(int64_t n, int64_t step) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; i += step) v.push_back(i);
  return v;
}

}  // namespace

torch::Tensor LatentDistribution::sample(torch::Generator generator) const {
  torch::Tensor eps;
  if (generator.defined() && generator.device() != mean.device()) {
    eps = torch::randn(mean.sizes(), generator, mean.options().device(generator.device())).to(mean.device());
  } else {
    eps = torch::randn(mean.sizes(), generator, mean.options());
  }
  return mean + std() * eps;
}

void blend_vertical(const torch::Tensor& a, torch::Tensor& b, int64_t extent) {
  const int64_t e = std::min({a.size(3), b.size(3), extent});
  for (int64_t y = 0; y < e; ++y) {
    const double w = static_cast<double>(y) / static_cast<double>(e);
    b.select(3, y).copy_(a.select(3, a.size(3) - e + y) * (1.0 - w) + b.select(3, y) * w);
  }
}

void blend_horizontal(const torch::Tensor& a, torch::Tensor& b, int64_t extent) {
  const int64_t e = std::min({a.size(4), b.size(4), extent});
  for (int64_t x = 0; x < e; ++x) {
    const double w = static_cast<double>(x) / static_cast<double>(e);
    b.select(4, x).copy_(a.select(4, a.size(4) - e + x) * (1.0 - w) + b.select(4, x) * w);
  }
}

// ---------------------------------------------------------------------------------------------------------------
CogVideoXVae::CogVideoXVae(const VaeConfig& cfg, torch::Device device, torch::ScalarType dtype)
    : model_(cfg), device_(device), dtype_(dtype) {
  model_->to(device, dtype);
  model_->eval();
}

CogVideoXVae CogVideoXVae::load(const std::string& vae_dir, torch::Device device, torch::ScalarType dtype) {
  auto cfg = VaeConfig::from_folder(vae_dir);
  CogVideoXVae vae(cfg, device, dtype);
  vae.load_weights(mf::io::WeightSource::open(vae_dir));
  return vae;
}

void CogVideoXVae::load_weights(const mf::io::WeightSource& weights) {
  torch::NoGradGuard ng;
  mf::io::load_state_dict(*model_, weights, /*strict=*/true);
}

void CogVideoXVae::enable_tiling(const TilingOptions& t) {
  const auto g = TileGeometry::compute(t, config().spatial_compression_ratio());
  mf::check(g.tile_latent_min_height > 0 && g.tile_latent_min_width > 0 && g.decode_stride_height > 0 &&
                g.decode_stride_width > 0 && g.encode_stride_height > 0 && g.encode_stride_width > 0,
            mf::ErrorCode::BadInput,
            "VAE tile size " + std::to_string(t.tile_sample_min_height) + "x" +
                std::to_string(t.tile_sample_min_width) + " is too small for the overlap factors (tiles would not advance)");
  tiling_ = t;
  tiling_.enabled = true;
}

std::vector<std::pair<int64_t, int64_t>> CogVideoXVae::temporal_chunks(int64_t frames, int64_t batch) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t n = std::max<int64_t>(frames / batch, 1);
  const int64_t rem = frames % batch;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t begin = batch * i + (i == 0 ? 0 : rem);
    const int64_t end = std::min(batch * (i + 1) + rem, frames);
    out.emplace_back(begin, end);
  }
  return out;
}

int64_t CogVideoXVae::decoded_frames(int64_t latent_frames) const {
  int64_t n = 0;
  for (auto [b, e] : temporal_chunks(latent_frames, kLatentFramesPerChunk))
    n += decoded_chunk_frames(e - b, config().temporal_compress_level());
  return n;
}

int64_t CogVideoXVae::encoded_frames(int64_t sample_frames) const {
  int64_t n = 0;
  for (auto [b, e] : temporal_chunks(sample_frames, kSampleFramesPerChunk))
    n += encoded_chunk_frames(e - b, config().temporal_compress_level());
  return n;
}

bool CogVideoXVae::decode_uses_tiles(int64_t latent_height, int64_t latent_width) const {
  if (!tiling_.enabled) return false;
  const auto g = TileGeometry::compute(tiling_, config().spatial_compression_ratio());
  return latent_width > g.tile_latent_min_width || latent_height > g.tile_latent_min_height;
}

bool CogVideoXVae::encode_uses_tiles(int64_t height, int64_t width) const {
  if (!tiling_.enabled) return false;
  return width > tiling_.tile_sample_min_width || height > tiling_.tile_sample_min_height;
}

// ---------------------------------------------------------------------------------------------------------------
LatentDistribution CogVideoXVae::encode(const torch::Tensor& video) const {
  mf::check(video.dim() == 5 && video.size(1) == config().in_channels && video.size(2) >= 1, mf::ErrorCode::BadInput,
            "VAE encode expects a video [B, " + std::to_string(config().in_channels) + ", T, H, W], got " +
                shape_str(video));
  const int64_t scr = config().spatial_compression_ratio();
  mf::check(video.size(3) >= scr && video.size(4) >= scr, mf::ErrorCode::BadInput,
            "VAE encode needs frames of at least " + std::to_string(scr) + "x" + std::to_string(scr) + " pixels, got " +
                shape_str(video));
  torch::NoGradGuard ng;
  auto x = video.to(device_, dtype_);
  auto h = encode_moments(x);  // [B, 2*latent, t, h, w]
  const int64_t c = h.size(1) / 2;
  LatentDistribution d;
  d.mean = h.narrow(1, 0, c);
  d.logvar = torch::clamp(h.narrow(1, c, c), -30.0, 20.0);
  return d;
}

// ---------------------------------------------------------------------------------------------------------------
// Training entry points: one chunk, no caches, autograd on.
LatentDistribution CogVideoXVae::encode_train(const torch::Tensor& video) {
  mf::check(video.dim() == 5 && video.size(1) == config().in_channels && video.size(2) >= 1, mf::ErrorCode::BadInput,
            "VAE encode_train expects a video [B, " + std::to_string(config().in_channels) + ", T, H, W], got " +
                shape_str(video));
  const int64_t scr = config().spatial_compression_ratio();
  mf::check(video.size(3) % scr == 0 && video.size(4) % scr == 0, mf::ErrorCode::BadInput,
            "VAE encode_train needs frame sizes that are multiples of " + std::to_string(scr) + ", got " +
                shape_str(video));
  RunContext ctx;  // no cache: every causal conv pads with copies of the first frame, as a first chunk does
  ctx.conv_chunk_bytes = run_.conv_chunk_bytes;
  auto h = model_->encoder->forward(video.to(device_, dtype_), ctx);
  if (model_->quant_conv) {
    mf::check(h.size(1) == model_->quant_conv->options.in_channels(), mf::ErrorCode::Unsupported,
              "this VAE config's quant_conv does not match the encoder's channels");
    h = model_->quant_conv->forward(h);
  }
  const int64_t c = h.size(1) / 2;
  LatentDistribution d;
  d.mean = h.narrow(1, 0, c);
  d.logvar = torch::clamp(h.narrow(1, c, c), -30.0, 20.0);
  return d;
}

torch::Tensor CogVideoXVae::decode_train(const torch::Tensor& z) {
  mf::check(z.dim() == 5 && z.size(1) == config().latent_channels && z.size(2) >= 1, mf::ErrorCode::BadInput,
            "VAE decode_train expects latents [B, " + std::to_string(config().latent_channels) + ", t, h, w], got " +
                shape_str(z));
  RunContext ctx;
  ctx.conv_chunk_bytes = run_.conv_chunk_bytes;
  return decode_chunk(z.to(device_, dtype_), ctx);
}

CogVideoXVae::TrainOutput CogVideoXVae::forward_train(const torch::Tensor& video, torch::Generator generator) {
  TrainOutput out;
  out.posterior = encode_train(video);
  out.latents = generator.defined() ? out.posterior.sample(generator) : out.posterior.mean;
  out.reconstruction = decode_train(out.latents);
  return out;
}

torch::Tensor CogVideoXVae::encode_stream(const torch::Tensor& x) const {
  ConvCache cache;
  RunContext ctx;
  ctx.cache = &cache;
  ctx.conv_chunk_bytes = run_.conv_chunk_bytes;
  std::vector<torch::Tensor> parts;
  const auto chunks = temporal_chunks(x.size(2), kSampleFramesPerChunk);
  for (size_t k = 0; k < chunks.size(); ++k) {
    const auto [b, e] = chunks[k];
    ctx.keep_cache = k + 1 < chunks.size();
    auto h = model_->encoder->forward(x.narrow(2, b, e - b), ctx);
    if (model_->quant_conv) {
      mf::check(h.size(1) == model_->quant_conv->options.in_channels(), mf::ErrorCode::Unsupported,
                "this VAE config has use_quant_conv with " + std::to_string(model_->quant_conv->options.in_channels()) +
                    " channels but the encoder gives " + std::to_string(h.size(1)) +
                    " (diffusers sizes quant_conv from out_channels; such a model cannot encode there either)");
      h = model_->quant_conv->forward(h);
    }
    parts.push_back(h);
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, 2);
}

torch::Tensor CogVideoXVae::encode_moments(const torch::Tensor& x) const {
  const int64_t H = x.size(3), W = x.size(4);
  if (!encode_uses_tiles(H, W)) return encode_stream(x);
  const auto g = TileGeometry::compute(tiling_, config().spatial_compression_ratio());
  const auto rows_at = py_range(H, g.encode_stride_height);
  const auto cols_at = py_range(W, g.encode_stride_width);
  std::vector<std::vector<torch::Tensor>> tiles(rows_at.size());
  for (size_t r = 0; r < rows_at.size(); ++r)
    for (size_t c = 0; c < cols_at.size(); ++c)
      tiles[r].push_back(encode_stream(x.index({Slice(), Slice(), Slice(),
                                                 Slice(rows_at[r], rows_at[r] + tiling_.tile_sample_min_height),
                                                 Slice(cols_at[c], cols_at[c] + tiling_.tile_sample_min_width)})));
  std::vector<torch::Tensor> result_rows;
  for (size_t r = 0; r < tiles.size(); ++r) {
    std::vector<torch::Tensor> row;
    for (size_t c = 0; c < tiles[r].size(); ++c) {
      auto& t = tiles[r][c];
      if (r > 0) blend_vertical(tiles[r - 1][c], t, g.encode_blend_height);
      if (c > 0) blend_horizontal(tiles[r][c - 1], t, g.encode_blend_width);
      row.push_back(t.index({Slice(), Slice(), Slice(), Slice(0, g.encode_keep_height), Slice(0, g.encode_keep_width)}));
    }
    result_rows.push_back(torch::cat(row, 4));
  }
  return torch::cat(result_rows, 3);
}

// ---------------------------------------------------------------------------------------------------------------
torch::Tensor CogVideoXVae::decode_chunk(const torch::Tensor& z, RunContext& ctx) const {
  torch::Tensor zc = z;
  if (model_->post_quant_conv) {
    mf::check(zc.size(1) == model_->post_quant_conv->options.in_channels(), mf::ErrorCode::Unsupported,
              "this VAE config has use_post_quant_conv with " +
                  std::to_string(model_->post_quant_conv->options.in_channels()) + " channels but the latents have " +
                  std::to_string(zc.size(1)) +
                  " (diffusers sizes post_quant_conv from out_channels; such a model cannot decode there either)");
    zc = model_->post_quant_conv->forward(zc);
  }
  return model_->decoder->forward(zc, ctx);
}

torch::Tensor CogVideoXVae::decode(const torch::Tensor& z_in, const FrameSink& sink) const {
  mf::check(z_in.dim() == 5 && z_in.size(1) == config().latent_channels && z_in.size(2) >= 1 && z_in.size(3) >= 1 &&
                z_in.size(4) >= 1,
            mf::ErrorCode::BadInput,
            "VAE decode expects latents [B, " + std::to_string(config().latent_channels) + ", T, h, w], got " +
                shape_str(z_in));
  torch::NoGradGuard ng;
  auto z = z_in.to(device_, dtype_);
  std::vector<torch::Tensor> collected;
  FrameSink keep = [&](const torch::Tensor& frames, int64_t) { collected.push_back(frames); };
  const FrameSink& out = sink ? sink : keep;
  if (decode_uses_tiles(z.size(3), z.size(4))) decode_tiled(z, out);
  else decode_untiled(z, out);
  if (sink) return {};
  return collected.size() == 1 ? collected[0] : torch::cat(collected, 2);
}

void CogVideoXVae::decode_untiled(const torch::Tensor& z, const FrameSink& sink) const {
  ConvCache cache;
  RunContext ctx;
  ctx.cache = &cache;
  ctx.conv_chunk_bytes = run_.conv_chunk_bytes;
  int64_t first = 0;
  const auto chunks = temporal_chunks(z.size(2), kLatentFramesPerChunk);
  for (size_t k = 0; k < chunks.size(); ++k) {
    const auto [b, e] = chunks[k];
    ctx.keep_cache = k + 1 < chunks.size();
    auto frames = decode_chunk(z.narrow(2, b, e - b), ctx);  // [B, 3, n, 8h, 8w]
    sink(frames, first);
    first += frames.size(2);
  }
}

void CogVideoXVae::decode_tiled(const torch::Tensor& z, const FrameSink& sink) const {
  const auto g = TileGeometry::compute(tiling_, config().spatial_compression_ratio());
  const auto rows_at = py_range(z.size(3), g.decode_stride_height);
  const auto cols_at = py_range(z.size(4), g.decode_stride_width);
  const auto chunks = temporal_chunks(z.size(2), kLatentFramesPerChunk);
  // tiles[r][c][k]: decoded pixels of tile (r, c), temporal chunk k. Each tile is decoded in full with its own
  // fresh conv caches, exactly as diffusers does; the blending below is per frame, so it can run per chunk.
  std::vector<std::vector<std::vector<torch::Tensor>>> tiles(rows_at.size());
  for (size_t r = 0; r < rows_at.size(); ++r) {
    for (size_t c = 0; c < cols_at.size(); ++c) {
      ConvCache cache;
      RunContext ctx;
      ctx.cache = &cache;
      ctx.conv_chunk_bytes = run_.conv_chunk_bytes;
      std::vector<torch::Tensor> per_chunk;
      for (size_t k = 0; k < chunks.size(); ++k) {
        const auto [b, e] = chunks[k];
        ctx.keep_cache = k + 1 < chunks.size();
        auto tile = z.index({Slice(), Slice(), Slice(b, e), Slice(rows_at[r], rows_at[r] + g.tile_latent_min_height),
                             Slice(cols_at[c], cols_at[c] + g.tile_latent_min_width)});
        auto dec = decode_chunk(tile, ctx);
        if (run_.tiles_on_host && dec.device() != torch::kCPU) dec = dec.to(torch::kCPU);
        per_chunk.push_back(dec);
      }
      tiles[r].push_back(std::move(per_chunk));
    }
  }
  int64_t first = 0;
  for (size_t k = 0; k < chunks.size(); ++k) {
    std::vector<torch::Tensor> result_rows;
    for (size_t r = 0; r < tiles.size(); ++r) {
      std::vector<torch::Tensor> row;
      for (size_t c = 0; c < tiles[r].size(); ++c) {
        auto& t = tiles[r][c][k];
        if (r > 0) blend_vertical(tiles[r - 1][c][k], t, g.decode_blend_height);
        if (c > 0) blend_horizontal(tiles[r][c - 1][k], t, g.decode_blend_width);
        row.push_back(t.index({Slice(), Slice(), Slice(), Slice(0, g.decode_keep_height), Slice(0, g.decode_keep_width)}));
      }
      result_rows.push_back(torch::cat(row, 4));
    }
    auto frames = torch::cat(result_rows, 3);
    result_rows.clear();
    for (auto& row : tiles)
      for (auto& t : row) t[k] = torch::Tensor();  // this chunk's tile pixels are no longer needed
    sink(frames, first);
    first += frames.size(2);
  }
}

}  // namespace mf::vae
