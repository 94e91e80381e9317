// `manyfold parity FILE`: runs one component on the inputs stored in a parity file (weights.*, in.*,
// out.*, config JSON in the metadata) and compares with out.*. Each component registers a handler in
// its own file (parity_<component>.cpp) with MF_PARITY_HANDLER; cmd_parity.cpp picks the first handler
// whose detect() accepts the file.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "command.h"
#include "mf/io/tensor_io.h"

namespace mf::cli {

struct ParityOutput {
  std::string name;         // e.g. "sample", "latent_mean"
  torch::Tensor got;        // what Manyfold computed
  torch::Tensor reference;  // out.<name>
};

struct ParityHandler {
  std::string component;  // "transformer", "vae", "t5", "depth", ...
  // True when this handler understands the file (by keys and metadata).
  bool (*detect)(const mf::io::WeightSource& file);
  // Runs the component and returns the outputs to compare. dtype_label is "float32" or "bfloat16".
  std::vector<ParityOutput> (*run)(const mf::io::WeightSource& file, std::string* dtype_label);
};

void register_parity_handler(ParityHandler h);
const std::vector<ParityHandler>& parity_handlers();

struct ParityRegistrar {
  explicit ParityRegistrar(ParityHandler h) { register_parity_handler(std::move(h)); }
};

}  // namespace mf::cli

#define MF_PARITY_HANDLER(...) \
  static ::mf::cli::ParityRegistrar MF_CLI_CAT(mf_parity_registrar_, __LINE__)({__VA_ARGS__})
