// make_test_pipeline: a complete pipeline folder with small random weights (a test fixture; see the header).
#include "mf/pipeline/test_pipeline.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/depth/config.h"
#include "mf/depth/model.h"
#include "mf/io/tensor_io.h"
#include "mf/mfm/transformer.h"
#include "mf/text/t5_encoder.h"
#include "mf/text/tokenizer.h"
#include "mf/vae/cogvideox_vae.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mf::pipeline {
namespace {

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path);
  f << text;
  f.close();
  check(static_cast<bool>(f), ErrorCode::Io, "cannot write " + path.string());
}

// Parameters and buffers under the module's own (checkpoint) names; a tensor shared under two names is saved once
// unless `keep_aliases`.
void save_module(torch::nn::Module& m, const fs::path& path, const std::vector<std::string>& skip = {}) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& kv : m.named_parameters()) {
    if (std::find(skip.begin(), skip.end(), kv.key()) != skip.end()) continue;
    tensors.push_back({kv.key(), kv.value().detach().to(torch::kFloat).contiguous()});
  }
  for (const auto& kv : m.named_buffers()) tensors.push_back({kv.key(), kv.value().detach().contiguous()});
  fs::create_directories(path.parent_path());
  io::save_tensors(path.string(), tensors, {{"format", "pt"}, {"manyfold_test_fixture", "true"}});
}

}  // namespace

void make_test_pipeline(const std::string& dir_s, const TestPipelineOptions& o) {
  check(o.config == "tiny", ErrorCode::BadInput,
        "unknown test pipeline config '" + o.config + "' (available: tiny)");
  const fs::path dir(dir_s);
  const fs::path spm = fs::path(o.tokenizer_dir) / "spiece.model";
  check(!o.tokenizer_dir.empty() && fs::exists(spm), ErrorCode::MissingModel,
        "make-test-pipeline needs a sentencepiece model to copy: " + spm.string() +
            " not found (give --tokenizer DIR with spiece.model)");
  torch::NoGradGuard ng;
  fs::create_directories(dir);

  // model_index.json: the official layout, marked as a fixture.
  json index = {{"_class_name", "MfMPipeline"},
                {"_diffusers_version", "0.33.1"},
                {"_manyfold_test_fixture", true},
                {"_manyfold_note", "TEST FIXTURE with random weights written by `manyfold make-test-pipeline`; "
                                   "never a product model"},
                {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}},
                {"text_encoder", {"transformers", "T5EncoderModel"}},
                {"tokenizer", {"transformers", "T5Tokenizer"}},
                {"transformer", {"mfm", "Transformer3DModel"}},
                {"vae", {"diffusers", "AutoencoderKLCogVideoX"}}};
  write_text(dir / "model_index.json", index.dump(2) + "\n");

  // Tokenizer: copied unchanged.
  fs::create_directories(dir / "tokenizer");
  for (const char* name : {"spiece.model", "tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path src = fs::path(o.tokenizer_dir) / name;
    if (fs::exists(src)) fs::copy_file(src, dir / "tokenizer" / name, fs::copy_options::overwrite_existing);
  }
  const auto tok = text::T5Tokenizer::load((dir / "tokenizer").string());
  const int64_t text_dim = 32;

  // Text encoder: a 2-layer gated-GELU T5 whose vocabulary covers the tokenizer.
  json t5 = {{"architectures", {"T5EncoderModel"}},
             {"model_type", "t5"},
             {"vocab_size", tok.vocab_size()},
             {"d_model", text_dim},
             {"d_kv", 16},
             {"d_ff", 64},
             {"num_layers", 2},
             {"num_heads", 2},
             {"relative_attention_num_buckets", 32},
             {"relative_attention_max_distance", 128},
             {"layer_norm_epsilon", 1e-6},
             {"feed_forward_proj", "gated-gelu"},
             {"is_encoder_decoder", true},
             {"pad_token_id", 0},
             {"eos_token_id", 1},
             {"tie_word_embeddings", false}};
  write_text(dir / "text_encoder" / "config.json", t5.dump(2) + "\n");
  {
    text::T5Encoder enc(text::T5Config::from_json(t5.dump(), "text_encoder/config.json"), torch::kFloat);
    mfm::init_random_weights(*enc, o.seed + 1);
    save_module(*enc, dir / "text_encoder" / "model.safetensors", {"encoder.embed_tokens.weight"});
  }

  // Transformer: the official architecture at width 128, 2 blocks (RoPE, motion score, depth adapter).
  json tr = {{"_class_name", "Transformer3DModel"},
             {"num_attention_heads", 2},
             {"attention_head_dim", 64},
             {"in_channels", 16},
             {"out_channels", 16},
             {"num_layers", 2},
             {"cross_attention_dim", text_dim},
             {"patch_size", 2},
             {"patch_size_t", 1},
             {"activation_fn", "gelu-approximate"},
             {"norm_type", "ada_norm_zero"},
             {"sample_size", 32},
             {"use_rope", true},
             {"add_motion_score", true},
             {"condition_type", "inpaint_mask"},
             {"use_depth_cond", true},
             {"sequence_parallel_size", 1}};
  write_text(dir / "transformer" / "config.json", tr.dump(2) + "\n");
  {
    mfm::Transformer3DModel model(mfm::Config::from_json_text(tr.dump(), "transformer/config.json"));
    mfm::init_random_weights(*model, o.seed + 2);
    save_module(*model, dir / "transformer" / "diffusion_pytorch_model.safetensors");
  }

  // VAE: the CogVideoX architecture with 4 levels of width 32/64 and one layer per block.
  json va = {{"_class_name", "AutoencoderKLCogVideoX"},
             {"in_channels", 3},
             {"out_channels", 3},
             {"down_block_types", std::vector<std::string>(4, "CogVideoXDownBlock3D")},
             {"up_block_types", std::vector<std::string>(4, "CogVideoXUpBlock3D")},
             {"block_out_channels", {32, 32, 64, 64}},
             {"latent_channels", 16},
             {"layers_per_block", 1},
             {"act_fn", "silu"},
             {"norm_eps", 1e-6},
             {"norm_num_groups", 8},
             {"temporal_compression_ratio", 4},
             {"sample_height", o.vae_sample_height},
             {"sample_width", o.vae_sample_width},
             {"scaling_factor", 1.15258426},
             {"use_quant_conv", false},
             {"use_post_quant_conv", false}};
  write_text(dir / "vae" / "config.json", va.dump(2) + "\n");
  {
    torch::manual_seed(static_cast<uint64_t>(o.seed + 3));
    vae::CogVideoXVae v(vae::VaeConfig::from_json_text(va.dump(), "vae/config.json"));
    save_module(*v.model(), dir / "vae" / "diffusion_pytorch_model.safetensors");
  }

  // Scheduler: FlowMatch Euler with the shift of the parity goldens.
  json sc = {{"_class_name", "FlowMatchEulerDiscreteScheduler"}, {"num_train_timesteps", 1000}, {"shift", 5.0}};
  write_text(dir / "scheduler" / "scheduler_config.json", sc.dump(2) + "\n");

  // Depth: a tiny Depth-Anything-V2 (DINOv2 width 32, 5 layers) in the transformers folder layout.
  if (o.with_depth) {
    json dc = {{"architectures", {"DepthAnythingForDepthEstimation"}},
               {"model_type", "depth_anything"},
               {"backbone_config",
                {{"model_type", "dinov2"},
                 {"hidden_size", 32},
                 {"num_hidden_layers", 5},
                 {"num_attention_heads", 2},
                 {"patch_size", 14},
                 {"image_size", 518},
                 {"out_indices", {1, 2, 4, 5}},
                 {"apply_layernorm", true},
                 {"reshape_hidden_states", false},
                 {"layerscale_value", 1.0}}},
               {"patch_size", 14},
               {"reassemble_hidden_size", 32},
               {"reassemble_factors", {4, 2, 1, 0.5}},
               {"neck_hidden_sizes", {8, 16, 24, 32}},
               {"fusion_hidden_size", 16},
               {"head_in_index", -1},
               {"head_hidden_size", 8},
               {"depth_estimation_type", "relative"},
               {"max_depth", nullptr}};
    write_text(dir / "depth" / "config.json", dc.dump(2) + "\n");
    depth::DepthAnything model(depth::DepthAnythingConfig::from_json(dc, "depth/config.json"));
    mfm::init_random_weights(*model, o.seed + 4);
    save_module(*model, dir / "depth" / "model.safetensors");
  }
}

}  // namespace mf::pipeline
