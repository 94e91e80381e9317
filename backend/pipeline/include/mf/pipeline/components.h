// A Pipeline built from components already in memory instead of a folder: the parity goldens (tiny transformer
// and VAE in one safetensors file, with text, depth and noise injected through PrepareOverrides), benchmarks
// (random weights of a sliced config) and tests. Pipeline::load() ends up here too.
//
// Threading: as pipeline.h (one thread at a time).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mf/depth/depth_estimator.h"
#include "mf/mfm/transformer.h"
#include "mf/pipeline/pipeline.h"
#include "mf/sampling/flow_match_euler.h"
#include "mf/text/t5_encoder.h"
#include "mf/text/tokenizer.h"
#include "mf/vae/cogvideox_vae.h"
#include "mf/vae/preview.h"

namespace mf::pipeline {

struct Components {
  mfm::Transformer3DModel transformer{nullptr};  // required, weights loaded, in LoadOptions' dtype/device
  std::shared_ptr<vae::CogVideoXVae> vae;         // required
  std::shared_ptr<text::T5Tokenizer> tokenizer;   // optional: token ids (needed with a text encoder)
  text::T5Encoder text_encoder{nullptr};          // optional: without it prepare() needs overrides.encode_text
  std::string text_model_id;                      // embedding-cache key of (tokenizer, encoder, dtype)
  std::shared_ptr<depth::DepthEstimator> depth;   // optional: without it depth tasks need overrides.depth
  std::string depth_missing_reason;               // what to tell the user when depth is needed but absent
  sampling::FlowMatchEulerConfig scheduler;       // shift etc. from scheduler_config.json
  std::shared_ptr<vae::LatentPreview> preview;    // optional: preview coefficients (else the default map)
  std::string model_id = "custom";
  nlohmann::json info = nlohmann::json::object();  // model_info(): folder, files, configs
  bool test_fixture = false;
};

std::unique_ptr<Pipeline> make_pipeline(Components components, const LoadOptions& options = {});

// The default latent -> RGB map used when no fitted preview file matches the VAE: a fixed 3 x 16 matrix that maps
// CogVideoX latent channels to a rough colour (an approximation good enough to see composition and motion; run
// `manyfold fit-preview --vae DIR` to fit an exact one for a VAE).
vae::LatentPreview default_latent_preview();

}  // namespace mf::pipeline
