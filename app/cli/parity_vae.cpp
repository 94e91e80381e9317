// `manyfold parity FILE` for the CogVideoX VAE: files with weights.decoder.* and in.latent / in.video
// (../shared/parity/cogvideox_vae_*.safetensors). Encodes in.video -> latent_mean / latent_logvar and decodes
// in.latent -> decoded, on CPU in float32, with the tiling the file's metadata asks for.
#ifdef MF_VAE_AVAILABLE
#include "mf/vae/parity.h"
#include "parity.h"

namespace {

bool detect_vae(const mf::io::WeightSource& file) { return mf::vae::is_vae_parity_file(file); }

std::vector<mf::cli::ParityOutput> run_vae(const mf::io::WeightSource& file, std::string* dtype_label) {
  *dtype_label = "float32";
  std::vector<mf::cli::ParityOutput> out;
  for (auto& r : mf::vae::run_vae_parity(file)) out.push_back({r.name, r.got, r.reference});
  return out;
}

}  // namespace

MF_PARITY_HANDLER("vae", detect_vae, run_vae);
#endif
