// `manyfold parity FILE` for the MfM transformer (Transformer3DModel + condition adapter): files holding
// weights.pos_embed.proj.weight, in.hidden_states and out.sample (../shared/parity/mfm_dit_*.safetensors).
// Runs on CPU in the file's dtype with the model's own RoPE tables, and also compares those tables with
// the ones the official code built (in.rope_cos / in.rope_sin).
#include <torch/torch.h>

#include "mf/core/error.h"
#include "mf/mfm/transformer.h"
#include "parity.h"

namespace {

bool detect_transformer(const mf::io::WeightSource& f) {
  return f.contains("weights.pos_embed.proj.weight") && f.contains("in.hidden_states") && f.contains("out.sample");
}

std::vector<mf::cli::ParityOutput> run_transformer(const mf::io::WeightSource& f, std::string* dtype_label) {
  const auto& md = f.metadata();
  auto it = md.find("config");
  mf::check(it != md.end(), mf::ErrorCode::BadFile, f.describe() + " has no 'config' entry in its metadata");
  auto cfg = mf::mfm::Config::from_json_text(it->second, f.describe() + " (metadata config)");
  auto dt = md.find("dtype");
  const bool bf16 = dt != md.end() && dt->second.find("bfloat16") != std::string::npos;
  *dtype_label = bf16 ? "bfloat16" : "float32";

  mf::mfm::ModelOptions opts;
  opts.dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  auto model = mf::mfm::load_transformer(f.with_prefix("weights."), cfg, opts);
  model->eval();

  auto get = [&](const std::string& name) { return f.contains(name) ? f.read(name) : torch::Tensor(); };
  mf::mfm::TransformerInputs in;
  in.hidden_states = get("in.hidden_states");
  in.conditional_pixel_values = get("in.conditional_pixel_values");
  in.conditional_masks = get("in.conditional_masks");
  in.encoder_hidden_states = get("in.encoder_hidden_states");
  in.encoder_attention_mask = get("in.encoder_attention_mask");
  in.timestep = get("in.timestep");
  in.motion_score = get("in.motion_score");

  torch::NoGradGuard no_grad;
  auto sample = model->forward(in).to(torch::kFloat);
  std::vector<mf::cli::ParityOutput> outs;
  outs.push_back({"sample", sample, f.read("out.sample")});
  if (cfg.use_rope && f.contains("in.rope_cos") && f.contains("in.rope_sin")) {
    const auto& hs = in.hidden_states;
    auto t = mf::mfm::build_rope_tables(hs.size(2), hs.size(3) / cfg.patch_size, hs.size(4) / cfg.patch_size,
                                        cfg.attention_head_dim);
    outs.push_back({"rope_cos", t.cos, f.read("in.rope_cos")});
    outs.push_back({"rope_sin", t.sin, f.read("in.rope_sin")});
  }
  return outs;
}

}  // namespace

MF_PARITY_HANDLER("transformer", detect_transformer, run_transformer);
