// LoRA adapters: W' = W + scale * (alpha / rank) * up @ down for each targeted linear weight W [out, in]
// (down = lora_A [rank, in], up = lora_B [out, rank]).
//
// Files: safetensors with, per target module T (a parameter prefix such as "transformer_blocks.0.attn1.to_q"):
//   peft / diffusers:  T.lora_A.weight, T.lora_B.weight            (alpha: metadata or rank, i.e. factor 1)
//   kohya style:       T.lora_down.weight, T.lora_up.weight, T.alpha
// Leading "transformer.", "base_model.model." or "diffusion_model." is removed from T. A metadata key
// "lora_alpha" (or "alpha") gives the alpha for every layer without its own.
//
// LoraPatch applies LoRAs to a module in place and keeps the original weights of the touched parameters, so
// restore() brings back the base model bit for bit (no drift from subtracting in bf16). Memory: one copy of
// each touched weight.
//
// Thread-safety: LoraFile is a value; a LoraPatch and its module belong to one thread at a time.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace mf::lora {

struct LoraLayer {
  std::string target;   // parameter prefix; the weight updated is target + ".weight"
  torch::Tensor down;   // [rank, in] (lora_A), float32 CPU
  torch::Tensor up;     // [out, rank] (lora_B), float32 CPU
  double alpha = 0;     // 0 = rank (factor 1)
  int64_t rank() const { return down.size(0); }
  double factor() const { return alpha > 0 ? alpha / static_cast<double>(rank()) : 1.0; }
};

struct LoraFile {
  std::string path;
  std::vector<LoraLayer> layers;
  std::map<std::string, std::string> metadata;
};

// Throws mf::Error(MissingModel) when the file is missing, BadFile when it holds no LoRA pairs, a down without
// its up (or the reverse), or ranks that disagree, each naming the tensor.
LoraFile read_lora(const std::string& path);
// Writes peft-style keys (T.lora_A.weight, T.lora_B.weight) and alpha in the metadata when all layers share one.
void write_lora(const std::string& path, const std::vector<LoraLayer>& layers,
                std::map<std::string, std::string> metadata = {});

class LoraPatch {
 public:
  // Adds scale * factor * up @ down to each target's weight (computed in float32, stored in the weight's dtype
  // and device). Throws mf::Error(BadInput) naming the target when the module has no such weight or its shape
  // is not [up rows, down columns]; nothing is changed then. Several LoRAs stack.
  void apply(torch::nn::Module& root, const LoraFile& lora, double scale = 1.0);
  // Puts every touched weight back exactly as it was before the first apply().
  void restore(torch::nn::Module& root);
  bool empty() const { return originals_.empty(); }
  size_t touched() const { return originals_.size(); }

 private:
  std::map<std::string, torch::Tensor> originals_;  // parameter name -> copy of the base weight
};

}  // namespace mf::lora
