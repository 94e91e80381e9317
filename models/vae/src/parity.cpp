// VAE parity runner: the official goldens in ../shared/parity were made by diffusers 0.33.1 with
// AutoencoderKLCogVideoX(**config), optionally enable_tiling(**tiling), encode(video).latent_dist and decode(latent).
#include "mf/vae/parity.h"

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/vae/cogvideox_vae.h"

namespace mf::vae {

bool is_vae_parity_file(const mf::io::WeightSource& file) {
  bool decoder = false;
  for (const auto& n : file.names())
    if (n.rfind("weights.decoder.", 0) == 0) {
      decoder = true;
      break;
    }
  return decoder && (file.contains("in.latent") || file.contains("in.video"));
}

VaeConfig parity_config(const mf::io::WeightSource& file, TilingOptions* tiling) {
  const auto& md = file.metadata();
  auto it = md.find("config");
  mf::check(it != md.end(), mf::ErrorCode::BadFile,
            file.describe() + ": parity file has no 'config' in its metadata (the VAE constructor arguments)");
  auto cfg = VaeConfig::from_json_text(it->second, file.describe() + " metadata 'config'");
  if (tiling) {
    *tiling = TilingOptions::defaults_for(cfg);
    tiling->enabled = false;
    auto t = md.find("tiling");
    if (t != md.end() && t->second != "null" && !t->second.empty()) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(t->second);
      } catch (const std::exception& e) {
        throw mf::Error(mf::ErrorCode::BadFile, file.describe() + ": metadata 'tiling' is not JSON: " + e.what());
      }
      tiling->enabled = true;
      // enable_tiling(...) keyword arguments; absent ones keep diffusers' defaults
      if (j.contains("tile_sample_min_height")) tiling->tile_sample_min_height = j["tile_sample_min_height"].get<int>();
      if (j.contains("tile_sample_min_width")) tiling->tile_sample_min_width = j["tile_sample_min_width"].get<int>();
      if (j.contains("tile_overlap_factor_height"))
        tiling->overlap_factor_height = j["tile_overlap_factor_height"].get<double>();
      if (j.contains("tile_overlap_factor_width"))
        tiling->overlap_factor_width = j["tile_overlap_factor_width"].get<double>();
    }
  }
  return cfg;
}

std::vector<VaeParityResult> run_vae_parity(const mf::io::WeightSource& file) {
  TilingOptions tiling;
  auto cfg = parity_config(file, &tiling);
  CogVideoXVae vae(cfg, torch::kCPU, torch::kFloat);
  vae.load_weights(file.with_prefix("weights."));
  if (tiling.enabled) vae.enable_tiling(tiling);
  std::vector<VaeParityResult> out;
  if (file.contains("in.video")) {
    auto dist = vae.encode(file.read("in.video", torch::kFloat));
    if (file.contains("out.latent_mean")) out.push_back({"latent_mean", dist.mean, file.read("out.latent_mean")});
    if (file.contains("out.latent_logvar"))
      out.push_back({"latent_logvar", dist.logvar, file.read("out.latent_logvar")});
  }
  if (file.contains("in.latent") && file.contains("out.decoded")) {
    auto dec = vae.decode(file.read("in.latent", torch::kFloat));
    out.push_back({"decoded", dec, file.read("out.decoded")});
  }
  return out;
}

}  // namespace mf::vae
