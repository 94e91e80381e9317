// Memory plan: before a job starts, estimate the peak device and host memory of an MfM job from the component
// configs and the job's shapes (no weights are read), pick the cheapest residency that fits the budget, or refuse
// the job with a message a person can act on.
//
// Residencies, tried in order (each one trades speed for memory):
//   all_resident           DiT, VAE and T5 stay on the device for the whole job (and between jobs)
//   release_t5             T5 is freed after the prompts are encoded (it is reloaded for the next job)
//   release_t5_vae_tiled   ... and the VAE decodes in spatial tiles (official enable_tiling geometry)
//   stream_dit_blocks      ... and the DiT blocks live in host memory and are copied to the device one
//                          (double-buffered) block at a time; only the embed/head weights stay resident
// The estimate is an upper-bound style model of what the implementation allocates (itemised in the JSON so a
// person can check it); it is not a measurement.
//
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/mfm/config.h"
#include "mf/text/t5_encoder.h"
#include "mf/vae/config.h"

namespace mf::engine {

enum class Residency { AllResident, ReleaseT5, ReleaseT5VaeTiled, StreamDitBlocks };
const char* to_string(Residency r);

struct PlanRequest {
  int num_frames = 97;
  int height = 352;
  int width = 640;
  int batch = 2;                     // 2 with classifier-free guidance (guidance_scale > 1), else 1
  int dtype_bytes = 2;               // 2 = bf16 (official policy), 4 = fp32
  bool device_is_host = false;       // CPU runs: device and host are one memory (budgets are added up)
  bool efficient_attention = true;   // SDPA flash/memory-efficient kernel (no [S, S] score matrix)
  int64_t device_budget_bytes = int64_t(24) << 30;
  int64_t host_budget_bytes = int64_t(64) << 30;
};

// Parameter counts from configs (exact for the DiT: built on the meta device; analytic for VAE decoder and T5).
int64_t dit_parameter_count(const mfm::Config& cfg, int64_t* per_block = nullptr);
int64_t vae_decoder_parameter_count(const vae::VaeConfig& cfg);
int64_t t5_encoder_parameter_count(const text::T5Config& cfg);

struct ResidencyOption {
  Residency residency = Residency::AllResident;
  int64_t device_peak_bytes = 0;
  int64_t host_peak_bytes = 0;
  std::map<std::string, int64_t> device_phase_bytes;  // "text", "denoise", "decode": device bytes in each phase
  bool fits = false;
};

struct MemoryPlan {
  std::string model;                     // label ("MfM-2B", a folder, ...)
  PlanRequest request;
  // Numbers the plan is based on.
  int latent_frames = 0, latent_height = 0, latent_width = 0;
  int64_t tokens = 0;                     // DiT sequence length S = T' * (h / p) * (w / p)
  int64_t dit_params = 0, dit_block_params = 0, dit_blocks = 0;
  int64_t vae_decoder_params = 0, t5_params = 0;
  std::map<std::string, int64_t> weights_bytes;      // dit, vae_decoder, t5
  std::map<std::string, int64_t> activation_bytes;   // t5, dit_block, attention_scores, adapter, vae_decode, ...
  std::vector<ResidencyOption> options;  // every residency, in order
  bool fits = false;
  Residency chosen = Residency::AllResident;
  int64_t device_peak_bytes = 0, host_peak_bytes = 0;  // of the chosen one (or the smallest when none fits)
  std::string message;                   // why it does not fit and what to do (empty when it fits)

  nlohmann::json to_json() const;
  std::string to_text() const;  // human-readable table with the numbers it is based on
};

MemoryPlan plan_memory(const std::string& model, const mfm::Config& dit, const vae::VaeConfig& vae,
                       const text::T5Config& t5, const PlanRequest& request);

// "12.34 GiB"
std::string format_bytes(int64_t bytes);

}  // namespace mf::engine
