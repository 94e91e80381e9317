// `manyfold parity FILE` for the T5 text encoder (files made by tests/tools/gen_t5_parity.py, key layout
// weights.* / in.input_ids / in.attention_mask / out.last_hidden_state, out.position_bias, out.after_layer0).
#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/text/t5_encoder.h"
#include "parity.h"

namespace {

bool detect_t5(const mf::io::WeightSource& file) {
  return file.contains("weights.encoder.block.0.layer.0.SelfAttention.q.weight");
}

std::vector<mf::cli::ParityOutput> run_t5(const mf::io::WeightSource& file, std::string* dtype_label) {
  const auto& meta = file.metadata();
  auto it = meta.find("config");
  if (it == meta.end())
    throw mf::Error(mf::ErrorCode::BadFile, file.describe() + ": T5 parity file has no 'config' in its metadata");
  const auto cfg = mf::text::T5Config::from_json(it->second, file.describe() + " metadata 'config'");
  auto d = meta.find("dtype");
  const bool bf16 = d != meta.end() && d->second == "bfloat16";
  *dtype_label = bf16 ? "bfloat16" : "float32";

  torch::NoGradGuard no_grad;
  mf::text::T5Encoder enc(cfg, bf16 ? torch::kBFloat16 : torch::kFloat32);
  enc->load(file.with_prefix("weights."));
  enc->eval();
  auto ids = file.read("in.input_ids");
  torch::Tensor mask;
  if (file.contains("in.attention_mask")) mask = file.read("in.attention_mask");
  mf::text::T5Trace trace;
  auto out = enc->forward(ids, mask, &trace);
  const int64_t S = ids.size(1);
  auto bias = enc->encoder->blocks[0]->attn->SelfAttention->compute_bias(S, S);

  std::vector<mf::cli::ParityOutput> outs;
  outs.push_back({"last_hidden_state", out.to(torch::kFloat), file.read("out.last_hidden_state")});
  if (file.contains("out.after_layer0"))
    outs.push_back({"after_layer0", trace.after_layer0.to(torch::kFloat), file.read("out.after_layer0")});
  if (file.contains("out.position_bias"))
    outs.push_back({"position_bias", bias.to(torch::kFloat), file.read("out.position_bias")});
  return outs;
}

}  // namespace

MF_PARITY_HANDLER("t5", detect_t5, run_t5);
