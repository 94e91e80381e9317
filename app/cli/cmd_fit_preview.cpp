// `manyfold fit-preview`: fits the fast latent-to-RGB preview map of a CogVideoX-style VAE by least squares on
// procedural videos encoded and decoded by that VAE, and writes the coefficients as JSON (resources/preview/).
#ifdef MF_VAE_AVAILABLE
#include <filesystem>
#include <iostream>

#include "command.h"
#include "mf/core/error.h"
#include "mf/io/runtime.h"
#include "mf/io/tensor_io.h"
#include "mf/vae/cogvideox_vae.h"
#include "mf/vae/preview.h"

namespace {

namespace fs = std::filesystem;

int run_fit_preview(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv);
  auto unknown = args.unknown(
      {"vae", "weights", "prefix", "config-meta", "out", "videos", "frames", "size", "seed", "latent-scale", "name"});
  if (!unknown.empty()) return mf::cli::usage_error("fit-preview", "unknown option " + unknown[0]);
  if (args.has("vae") == args.has("weights"))
    return mf::cli::usage_error("fit-preview", "give either --vae DIR or --weights FILE");
  mf::io::init_torch_runtime();

  mf::vae::PreviewFitOptions opt;
  opt.videos = args.get_int("videos", opt.videos);
  opt.frames = args.get_int("frames", opt.frames);
  opt.seed = static_cast<uint64_t>(args.get_int("seed", static_cast<int>(opt.seed)));
  opt.latent_scale = args.get_double("latent-scale", opt.latent_scale);
  if (auto s = args.get("size")) {
    auto x = s->find('x');
    if (x == std::string::npos) return mf::cli::usage_error("fit-preview", "--size takes HxW, e.g. 128x128");
    opt.height = std::stoi(s->substr(0, x));
    opt.width = std::stoi(s->substr(x + 1));
  }

  std::string label;
  std::unique_ptr<mf::vae::CogVideoXVae> vae;
  if (auto dir = args.get("vae")) {
    vae = std::make_unique<mf::vae::CogVideoXVae>(mf::vae::CogVideoXVae::load(*dir));
    label = fs::path(*dir).lexically_normal().string();
  } else {
    const std::string file = *args.get("weights");
    auto src = mf::io::WeightSource::open(file);
    const std::string key = args.get_or("config-meta", "vae_config");
    auto it = src.metadata().find(key);
    if (it == src.metadata().end())
      throw mf::Error(mf::ErrorCode::BadFile, file + " has no metadata '" + key + "' with the VAE config (--config-meta)");
    auto cfg = mf::vae::VaeConfig::from_json_text(it->second, file + " metadata '" + key + "'");
    vae = std::make_unique<mf::vae::CogVideoXVae>(cfg);
    vae->load_weights(src.with_prefix(args.get_or("prefix", "weights.vae.")));
    label = fs::path(file).filename().string();
  }
  auto p = mf::vae::fit_preview_for(*vae, opt);
  p.model = args.get_or("name", label);
  if (auto out = args.get("out")) {
    p.save(*out);
    std::cerr << "wrote " << *out << " (" << p.samples << " latent pixels, rmse " << p.rmse << ")\n";
  } else {
    std::cout << p.to_json_text() << "\n";
  }
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("fit-preview", "fit the fast latent-to-RGB preview map of a VAE (least squares)",
               "manyfold fit-preview (--vae DIR | --weights FILE [--prefix weights.vae.] [--config-meta vae_config])\n"
               "                     [--out FILE] [--name LABEL] [--videos 4] [--frames 9] [--size 128x128]\n"
               "                     [--seed 1234] [--latent-scale 0.958917567]\n"
               "  Encodes procedural test videos with the VAE, decodes their latents, and fits rgb = W z + b per\n"
               "  latent pixel (z = VAE latents x latent scale, as the sampler holds them). Writes the JSON the\n"
               "  engine reads from resources/preview/ (matched to the VAE by fingerprint), or prints it.",
               run_fit_preview);
#endif
