// Tiny, self-written MfM pipeline folders and official key sets (mfm-reference.md A.2, D.4, E.2) for the
// io tests and the `inspect` CLI test. Shapes only matter: weights are zero bytes (U8).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mf/io/pipeline_folder.h"
#include "mf/io/safetensors.h"

namespace mf::io::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;
using mf::io::ShapeMap;

// The official Transformer3DModel key set (mfm-reference.md A.2) for a config.
inline ShapeMap transformer_shapes(int D, int L, int Ct, bool bias, bool rms, bool motion, int cin = 5, int chunks = 1) {
  ShapeMap s;
  auto lin = [&](const std::string& n, int64_t o, int64_t i, bool b = true) {
    s[n + ".weight"] = {o, i};
    if (b) s[n + ".bias"] = {o};
  };
  s["cond_conv.conv_in.weight"] = {16, cin, 3, 3};
  s["cond_conv.conv_in.bias"] = {16};
  const int64_t ch[] = {16, 32, 96, 256, 512};
  for (int i = 0; i < 4; ++i) {
    s["cond_conv.blocks." + std::to_string(2 * i) + ".weight"] = {ch[i], ch[i], 3, 3};
    s["cond_conv.blocks." + std::to_string(2 * i) + ".bias"] = {ch[i]};
    if (i % 2 == 0) s["cond_conv.blocks." + std::to_string(2 * i + 1) + ".weight"] = {ch[i + 1], ch[i], 3, 3, 3};
    else s["cond_conv.blocks." + std::to_string(2 * i + 1) + ".weight"] = {ch[i + 1], ch[i], 3, 3};
    s["cond_conv.blocks." + std::to_string(2 * i + 1) + ".bias"] = {ch[i + 1]};
  }
  s["cond_conv.conv_out.weight"] = {D, 512, 3, 3};
  s["cond_conv.conv_out.bias"] = {D};
  s["pos_embed.proj.weight"] = {D, 16, 2, 2};
  s["pos_embed.proj.bias"] = {D};
  lin("time_embedder.timestep_embedder.linear_1", D, 256);
  lin("time_embedder.timestep_embedder.linear_2", D, D);
  if (motion) {
    lin("time_embedder.guidance_embedder.linear_1", D, 256);
    lin("time_embedder.guidance_embedder.linear_2", D, D);
  }
  for (int i = 0; i < L; ++i) {
    std::string b = chunks > 1 ? "transformer_blocks." + std::to_string(i / (L / chunks)) + ".module." +
                                     std::to_string(i % (L / chunks)) + "."
                               : "transformer_blocks." + std::to_string(i) + ".";
    lin(b + "norm1.linear", 6 * D, D);
    if (rms) s[b + "norm1.norm.weight"] = {D};
    for (const char* a : {"attn1", "attn2"}) {
      const bool cross = std::string(a) == "attn2";
      lin(b + a + ".q_proj", D, D, bias);
      lin(b + a + ".k_proj", D, cross ? Ct : D, bias);
      lin(b + a + ".v_proj", D, cross ? Ct : D, bias);
      lin(b + a + ".o_proj", D, D, bias);
      s[b + a + ".q_norm.weight"] = {D};
      s[b + a + ".k_norm.weight"] = {D};
    }
    s[b + "norm2.weight"] = {D};
    s[b + "norm3.weight"] = {D};
    lin(b + "ff.fc1", 4 * D, D);
    lin(b + "ff.fc2", D, 4 * D);
  }
  lin("proj_out_1", 2 * D, D);
  lin("proj_out_2", 2 * 2 * 16, D);
  return s;
}

// A CogVideoX decoder (D.4) with block_out_channels {8, 16}, latent 4, layers_per_block 1.
inline ShapeMap vae_shapes() {
  ShapeMap s;
  const std::vector<int64_t> boc = {8, 16};
  const int64_t Z = 4;
  s["decoder.conv_in.conv.weight"] = {16, Z, 3, 3, 3};
  s["decoder.conv_in.conv.bias"] = {16};
  std::vector<int64_t> rev = {16, 8};
  for (int b = 0; b < 2; ++b) {
    for (int r = 0; r < 2; ++r) {
      int64_t in = r == 0 ? (b == 0 ? rev[0] : rev[b - 1]) : rev[b];
      std::string p = "decoder.up_blocks." + std::to_string(b) + ".resnets." + std::to_string(r) + ".";
      s[p + "conv1.conv.weight"] = {rev[b], in, 3, 3, 3};
      s[p + "conv2.conv.weight"] = {rev[b], rev[b], 3, 3, 3};
      s[p + "norm1.norm_layer.weight"] = {in};
    }
  }
  s["decoder.norm_out.conv_y.conv.weight"] = {8, Z, 1, 1, 1};
  s["decoder.conv_out.conv.weight"] = {3, 8, 3, 3, 3};
  s["decoder.conv_out.conv.bias"] = {3};
  return s;
}

// T5 encoder (E.2): vocab 40, d_model 48, 2 layers, 4 heads x 12, d_ff 64, gated-gelu.
inline ShapeMap t5_shapes() {
  ShapeMap s;
  s["shared.weight"] = {40, 48};
  for (int i = 0; i < 2; ++i) {
    std::string b = "encoder.block." + std::to_string(i) + ".layer.";
    for (const char* w : {"q", "k", "v"}) s[b + "0.SelfAttention." + w + ".weight"] = {48, 48};
    s[b + "0.SelfAttention.o.weight"] = {48, 48};
    if (i == 0) s[b + "0.SelfAttention.relative_attention_bias.weight"] = {32, 4};
    s[b + "0.layer_norm.weight"] = {48};
    s[b + "1.DenseReluDense.wi_0.weight"] = {64, 48};
    s[b + "1.DenseReluDense.wi_1.weight"] = {64, 48};
    s[b + "1.DenseReluDense.wo.weight"] = {48, 64};
    s[b + "1.layer_norm.weight"] = {48};
  }
  s["encoder.final_layer_norm.weight"] = {48};
  return s;
}

inline void write_weights(const fs::path& file, const ShapeMap& shapes) {
  std::vector<mf::io::TensorBlob> blobs;
  for (const auto& [name, shape] : shapes) {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    blobs.push_back({name, mf::io::DType::U8, shape, std::vector<uint8_t>(n, 0)});
  }
  mf::io::write_safetensors(file.string(), blobs);
}

inline void write_json(const fs::path& file, const json& j) { std::ofstream(file) << j.dump(2); }

inline json transformer_json() {
  return {{"_class_name", "Transformer3DModel"}, {"num_attention_heads", 1}, {"attention_head_dim", 64},
          {"in_channels", 16}, {"out_channels", 16}, {"num_layers", 2}, {"cross_attention_dim", 48},
          {"patch_size", 2}, {"activation_fn", "gelu-approximate"}, {"norm_type", "ada_norm_zero"},
          {"sample_size", 32}, {"use_rope", true}, {"add_motion_score", true}, {"condition_type", "inpaint_mask"},
          {"use_depth_cond", true}, {"sequence_parallel_size", 1}};
}

// Writes a complete, consistent tiny pipeline folder; `edit` may change configs before they are written.
inline void write_pipeline(const fs::path& root, json tcfg = transformer_json(), ShapeMap tshapes = {}) {
  fs::create_directories(root);
  write_json(root / "model_index.json",
             {{"_class_name", "MfMPipeline"}, {"_diffusers_version", "0.33.1"},
              {"transformer", {"mfm.modeling.transformer_3d", "Transformer3DModel"}},
              {"vae", {"diffusers", "AutoencoderKLCogVideoX"}}, {"text_encoder", {"transformers", "T5EncoderModel"}},
              {"tokenizer", {"transformers", "T5Tokenizer"}},
              {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}}, {"depth_pipe", {nullptr, nullptr}}});
  for (const char* d : {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"}) fs::create_directories(root / d);
  write_json(root / "transformer" / "config.json", tcfg);
  write_weights(root / "transformer" / "diffusion_pytorch_model.safetensors",
                tshapes.empty() ? transformer_shapes(64, 2, 48, false, false, true) : tshapes);
  write_json(root / "vae" / "config.json",
             {{"_class_name", "AutoencoderKLCogVideoX"}, {"block_out_channels", {8, 16}}, {"latent_channels", 4},
              {"layers_per_block", 1}, {"norm_num_groups", 4},
              {"down_block_types", {"CogVideoXDownBlock3D", "CogVideoXDownBlock3D"}},
              {"up_block_types", {"CogVideoXUpBlock3D", "CogVideoXUpBlock3D"}}});
  write_weights(root / "vae" / "diffusion_pytorch_model.safetensors", vae_shapes());
  write_json(root / "text_encoder" / "config.json",
             {{"architectures", {"T5EncoderModel"}}, {"vocab_size", 40}, {"d_model", 48}, {"d_kv", 12}, {"d_ff", 64},
              {"num_layers", 2}, {"num_heads", 4}, {"feed_forward_proj", "gated-gelu"}, {"model_type", "t5"}});
  write_weights(root / "text_encoder" / "model.safetensors", t5_shapes());
  std::ofstream(root / "tokenizer" / "spiece.model") << "not parsed here";
  write_json(root / "tokenizer" / "tokenizer_config.json",
             {{"tokenizer_class", "T5Tokenizer"}, {"model_max_length", 512}, {"extra_ids", 100}, {"legacy", true}});
  write_json(root / "scheduler" / "scheduler_config.json",
             {{"_class_name", "FlowMatchEulerDiscreteScheduler"}, {"num_train_timesteps", 1000}, {"shift", 5.0}});
}

}  // namespace mf::io::testing
