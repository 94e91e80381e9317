// Latent-to-RGB preview: linear map per latent pixel, its least-squares fit and its JSON form.
#include "mf/vae/preview.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/vae/cogvideox_vae.h"

namespace mf::vae {

namespace {

constexpr const char* kFormat = "manyfold-latent-preview/1";

torch::Tensor weight_tensor(const LatentPreview& p, const torch::TensorOptions& opt) {
  const int64_t C = p.channels();
  std::vector<double> flat;
  for (auto& row : p.weight) flat.insert(flat.end(), row.begin(), row.end());
  return torch::tensor(flat, torch::kFloat64).view({3, C}).to(opt);
}

// Solves M x = r (n x n, several right-hand sides) by Gaussian elimination with partial pivoting, in place.
void solve_dense(std::vector<std::vector<double>>& M, std::vector<std::vector<double>>& R) {
  const size_t n = M.size();
  for (size_t col = 0; col < n; ++col) {
    size_t piv = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(M[r][col]) > std::fabs(M[piv][col])) piv = r;
    mf::check(std::fabs(M[piv][col]) > 0, mf::ErrorCode::BadInput,
              "latent preview fit: the latents do not vary enough to determine the map (singular system)");
    std::swap(M[piv], M[col]);
    std::swap(R[piv], R[col]);
    for (size_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = M[r][col] / M[col][col];
      if (f == 0) continue;
      for (size_t c = col; c < n; ++c) M[r][c] -= f * M[col][c];
      for (size_t c = 0; c < R[r].size(); ++c) R[r][c] -= f * R[col][c];
    }
  }
  for (size_t r = 0; r < n; ++r)
    for (auto& v : R[r]) v /= M[r][r];
}

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  auto p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

torch::Tensor LatentPreview::apply(const torch::Tensor& latents) const {
  mf::check(!weight.empty() && bias.size() == 3, mf::ErrorCode::Internal, "latent preview has no coefficients");
  const int64_t C = channels();
  const int64_t cdim = latents.dim() == 5 ? 1 : 0;
  mf::check(latents.dim() >= 3 && latents.dim() <= 5 && latents.size(cdim) == C, mf::ErrorCode::BadInput,
            "latent preview for " + std::to_string(C) + " channels got latents of another shape");
  auto opt = latents.options().dtype(latents.is_floating_point() ? latents.scalar_type() : torch::kFloat);
  auto W = weight_tensor(*this, opt);                                   // [3, C]
  auto b = torch::tensor(bias, torch::kFloat64).to(opt);               // [3]
  auto x = latents.to(opt).movedim(cdim, -1);                           // [..., C]
  auto y = torch::matmul(x, W.t()) + b;                                 // [..., 3]
  return y.movedim(-1, cdim).contiguous();
}

torch::Tensor LatentPreview::to_rgb8(const torch::Tensor& latents) const {
  auto rgb = apply(latents);
  if (rgb.dim() == 5) rgb = rgb[0];           // [3, T, h, w]
  if (rgb.dim() == 3) rgb = rgb.unsqueeze(1);  // [3, 1, h, w]
  auto x = ((rgb.to(torch::kFloat) + 1.0) * 0.5).clamp(0.0, 1.0).mul(255.0).round();
  return x.to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous().cpu();  // [T, h, w, 3]
}

std::string LatentPreview::to_json_text() const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["model"] = model;
  j["fingerprint"] = fingerprint;
  j["latent_scale"] = latent_scale;
  j["latent_channels"] = channels();
  j["weight"] = weight;
  j["bias"] = bias;
  j["samples"] = samples;
  j["rmse"] = rmse;
  return j.dump(1);
}

LatentPreview LatentPreview::from_json_text(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw mf::Error(mf::ErrorCode::BadFile, origin + ": latent preview file is not JSON: " + e.what());
  }
  auto bad = [&](const std::string& what) { throw mf::Error(mf::ErrorCode::BadFile, origin + ": latent preview " + what); };
  if (!j.is_object() || j.value("format", "") != kFormat) bad(std::string("is not of format ") + kFormat);
  LatentPreview p;
  try {
    p.model = j.value("model", "");
    p.fingerprint = j.value("fingerprint", "");
    p.latent_scale = j.value("latent_scale", 1.0);
    p.samples = j.value("samples", int64_t(0));
    p.rmse = j.value("rmse", 0.0);
    p.weight = j.at("weight").get<std::vector<std::vector<double>>>();
    p.bias = j.at("bias").get<std::vector<double>>();
  } catch (const std::exception& e) {
    bad(std::string("has a malformed field: ") + e.what());
  }
  if (p.weight.size() != 3 || p.bias.size() != 3) bad("must have 3 rows of weights and 3 biases");
  for (auto& row : p.weight)
    if (row.empty() || row.size() != p.weight[0].size()) bad("weight rows must have the same, non-zero length");
  return p;
}

LatentPreview LatentPreview::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw mf::Error(mf::ErrorCode::MissingModel, "no latent preview file at " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

void LatentPreview::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw mf::Error(mf::ErrorCode::Io, "cannot write " + tmp);
    out << to_json_text() << "\n";
    if (!out) throw mf::Error(mf::ErrorCode::Io, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot move " + tmp + " to " + path + ": " + ec.message());
}

LatentPreview LatentPreview::fit(const torch::Tensor& latents, const torch::Tensor& rgb, double ridge) {
  mf::check(latents.dim() == 2 && rgb.dim() == 2 && rgb.size(1) == 3 && latents.size(0) == rgb.size(0),
            mf::ErrorCode::BadInput, "latent preview fit expects latents [N, C] and rgb [N, 3]");
  const int64_t N = latents.size(0), C = latents.size(1);
  mf::check(N > C + 1, mf::ErrorCode::BadInput,
            "latent preview fit needs more samples (" + std::to_string(N) + ") than coefficients (" +
                std::to_string(C + 1) + ")");
  auto X = torch::cat({latents.to(torch::kFloat64).cpu(), torch::ones({N, 1}, torch::kFloat64)}, 1);  // [N, C+1]
  auto Y = rgb.to(torch::kFloat64).cpu();                                                           // [N, 3]
  auto M = X.t().mm(X).contiguous();  // [C+1, C+1]
  auto R = X.t().mm(Y).contiguous();  // [C+1, 3]
  const int64_t n = C + 1;
  double trace = 0;
  for (int64_t i = 0; i < C; ++i) trace += M[i][i].item<double>();
  const double lambda = ridge * (C > 0 ? trace / C : 0.0);
  std::vector<std::vector<double>> m(n, std::vector<double>(n)), r(n, std::vector<double>(3));
  auto Ma = M.accessor<double, 2>();
  auto Ra = R.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < n; ++k) m[i][k] = Ma[i][k];
    if (i < C) m[i][i] += lambda;  // no ridge on the bias
    for (int64_t k = 0; k < 3; ++k) r[i][k] = Ra[i][k];
  }
  solve_dense(m, r);
  LatentPreview p;
  p.weight.assign(3, std::vector<double>(C));
  p.bias.assign(3, 0.0);
  for (int64_t o = 0; o < 3; ++o) {
    for (int64_t c = 0; c < C; ++c) p.weight[o][c] = r[c][o];
    p.bias[o] = r[C][o];
  }
  std::vector<double> flat;
  for (int64_t i = 0; i < n; ++i) flat.insert(flat.end(), r[i].begin(), r[i].end());
  auto beta = torch::tensor(flat, torch::kFloat64).view({n, 3});
  p.rmse = std::sqrt((X.mm(beta) - Y).pow(2).mean().item<double>());
  p.samples = N;
  return p;
}

std::vector<std::pair<int64_t, int64_t>> latent_frame_spans(int64_t latent_frames, int temporal_ratio) {
  std::vector<std::pair<int64_t, int64_t>> spans;
  int64_t frame = 0;
  for (auto [b, e] : CogVideoXVae::temporal_chunks(latent_frames, CogVideoXVae::kLatentFramesPerChunk)) {
    const int64_t n = e - b;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t len = (n % 2 == 1 && i == 0) ? 1 : temporal_ratio;
      spans.emplace_back(frame, frame + len);
      frame += len;
    }
  }
  return spans;
}

std::pair<torch::Tensor, torch::Tensor> preview_fit_pairs(const torch::Tensor& latents, const torch::Tensor& decoded,
                                                          int spatial_ratio, int temporal_ratio) {
  mf::check(latents.dim() == 5 && decoded.dim() == 5 && decoded.size(0) == latents.size(0), mf::ErrorCode::BadInput,
            "preview_fit_pairs expects latents [B, C, t, h, w] and frames [B, 3, T, H, W]");
  const int64_t t = latents.size(2), h = latents.size(3), w = latents.size(4);
  const auto spans = latent_frame_spans(t, temporal_ratio);
  mf::check(decoded.size(2) == spans.back().second && decoded.size(3) == h * spatial_ratio &&
                decoded.size(4) == w * spatial_ratio,
            mf::ErrorCode::BadInput, "preview_fit_pairs: the frames are not the decode of these latents (sizes differ)");
  auto pooled = torch::avg_pool3d(decoded.to(torch::kFloat64).cpu(), {1, spatial_ratio, spatial_ratio});  // [B,3,T,h,w]
  std::vector<torch::Tensor> per_latent;
  for (auto [b, e] : spans) per_latent.push_back(pooled.narrow(2, b, e - b).mean(2, /*keepdim=*/true));
  auto target = torch::cat(per_latent, 2);  // [B, 3, t, h, w]
  auto X = latents.to(torch::kFloat64).cpu().permute({0, 2, 3, 4, 1}).reshape({-1, latents.size(1)});
  auto Y = target.permute({0, 2, 3, 4, 1}).reshape({-1, 3});
  return {X, Y};
}

std::string vae_fingerprint(const CogVideoXVae& vae) {
  const std::string cfg = vae.config().to_json_text();
  uint64_t h = fnv1a(cfg.data(), cfg.size(), 1469598103934665603ull);
  torch::NoGradGuard ng;
  auto& model = const_cast<CogVideoXVae&>(vae).model();
  auto wt = model->decoder->conv_out->conv->weight.detach().to(torch::kCPU, torch::kFloat).contiguous();
  h = fnv1a(wt.data_ptr<float>(), static_cast<size_t>(wt.numel()) * sizeof(float), h);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

// A procedural test video in [-1, 1]: a smooth random colour field, a colour ramp and moving discs.
torch::Tensor procedural_video(const PreviewFitOptions& opt, at::Generator& gen) {
  const int64_t T = opt.frames, H = opt.height, W = opt.width;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto coarse = torch::rand({1, 3, 2, 4, 4}, gen, f64) * 2 - 1;
  namespace F = torch::nn::functional;
  auto field = F::interpolate(coarse, F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{T, H, W})
                                          .mode(torch::kTrilinear)
                                          .align_corners(true));  // [1, 3, T, H, W]
  auto ys = torch::linspace(0, 1, H, f64).view({1, 1, 1, H, 1});
  auto xs = torch::linspace(0, 1, W, f64).view({1, 1, 1, 1, W});
  auto ramp_dir = torch::rand({1, 3, 1, 1, 1}, gen, f64) * 2 - 1;
  auto video = 0.6 * field + 0.4 * ramp_dir * (xs - ys);
  for (int d = 0; d < 3; ++d) {
    auto p = torch::rand({6}, gen, f64);
    auto color = (torch::rand({1, 3, 1, 1, 1}, gen, f64) * 2 - 1);
    for (int64_t t = 0; t < T; ++t) {
      const double cy = (p[0].item<double>() + p[2].item<double>() * 0.05 * t) * H;
      const double cx = (p[1].item<double>() + p[3].item<double>() * 0.05 * t) * W;
      const double rad = (0.1 + 0.2 * p[4].item<double>()) * std::min(H, W);
      auto mask = ((ys * H - cy).pow(2) + (xs * W - cx).pow(2)).lt(rad * rad).to(torch::kFloat64);  // [1,1,1,H,W]
      auto frame = video.narrow(2, t, 1);
      frame.copy_(frame * (1 - mask) + color * mask);
    }
  }
  return video.clamp(-1, 1).to(torch::kFloat);
}

}  // namespace

LatentPreview fit_preview_for(const CogVideoXVae& vae, const PreviewFitOptions& opt) {
  mf::check(opt.videos >= 1 && opt.frames >= 1 && opt.height >= 8 && opt.width >= 8, mf::ErrorCode::BadInput,
            "fit-preview needs at least one video of at least 1 frame and 8x8 pixels");
  auto gen = at::detail::createCPUGenerator(opt.seed);
  const int scr = vae.config().spatial_compression_ratio();
  const int tr = 1 << vae.config().temporal_compress_level();
  std::vector<torch::Tensor> xs, ys;
  for (int v = 0; v < opt.videos; ++v) {
    auto video = procedural_video(opt, gen);                 // [1, 3, T, H, W]
    auto mean = vae.encode(video).mean;                      // VAE latents
    auto decoded = vae.decode(mean).to(torch::kFloat).cpu();  // what those latents look like
    auto [X, Y] = preview_fit_pairs(mean.to(torch::kFloat64).cpu() * opt.latent_scale, decoded, scr, tr);
    xs.push_back(X);
    ys.push_back(Y);
  }
  auto p = LatentPreview::fit(torch::cat(xs, 0), torch::cat(ys, 0));
  p.latent_scale = opt.latent_scale;
  p.fingerprint = vae_fingerprint(vae);
  return p;
}

LatentPreview find_preview(const std::string& dir, const CogVideoXVae& vae) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  const std::string fp = vae_fingerprint(vae);
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".json") continue;
    try {
      auto p = LatentPreview::load(e.path().string());
      if (p.fingerprint == fp && p.channels() == vae.config().latent_channels) return p;
    } catch (const mf::Error&) {
      // not a preview file: ignore
    }
  }
  return {};
}

}  // namespace mf::vae
