// LibTorch side of weight I/O: read tensors from safetensors files (single or sharded) to a device and
// dtype on demand, write torch tensors, and load a state dict into a module with a strict LoadReport.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/io/safetensors.h"

namespace mf::io {

torch::ScalarType to_torch(DType d);  // F8 types map to their torch type when the LibTorch has one
DType from_torch(torch::ScalarType t);

// Copies one tensor out of a mapped file into a new torch tensor (CPU), converting to `dtype` if given
// (F8_E4M3/F8_E5M2 are decoded in software when the LibTorch lacks them), then moves it to `device`.
torch::Tensor read_tensor(const SafetensorsFile& file, const TensorInfo& info,
                          std::optional<torch::ScalarType> dtype = std::nullopt,
                          torch::Device device = torch::kCPU);

// The tensors of one model: a single .safetensors file, a sharded checkpoint given by its
// *.safetensors.index.json, or a folder holding either. Lists tensors without I/O; reads on demand.
class WeightSource {
 public:
  static WeightSource open(const std::string& path);  // throws mf::Error(MissingModel / BadFile)
  // A view of the tensors whose names start with `prefix`, with the prefix removed
  // (e.g. "weights." in parity files, "weights.transformer." in pipeline goldens).
  WeightSource with_prefix(const std::string& prefix) const;

  std::vector<std::string> names() const;           // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws mf::Error(BadFile) naming the tensor
  torch::Tensor read(const std::string& name, std::optional<torch::ScalarType> dtype = std::nullopt,
                     torch::Device device = torch::kCPU) const;
  // __metadata__ of the (first) file.
  const std::map<std::string, std::string>& metadata() const;
  std::string describe() const;  // path(s) for messages

 private:
  struct Entry {
    std::shared_ptr<const SafetensorsFile> file;
    const TensorInfo* info;
  };
  std::map<std::string, Entry> entries_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::string description_;
};

// Writes torch tensors (contiguous, CPU copies are made as needed) atomically.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// What happened when a state dict was loaded into a module.
struct LoadReport {
  std::vector<std::string> missing;      // module parameters/buffers with no tensor in the source
  std::vector<std::string> unexpected;   // source tensors the module has no place for
  struct Mismatch {
    std::string name;
    std::vector<int64_t> expected;
    std::vector<int64_t> found;
  };
  std::vector<Mismatch> shape_mismatches;
  // Shapes for the messages: what the module expects for each missing tensor, what the source holds for
  // each unexpected one.
  std::map<std::string, std::vector<int64_t>> missing_shapes;
  std::map<std::string, std::vector<int64_t>> unexpected_shapes;
  bool ok() const { return missing.empty() && unexpected.empty() && shape_mismatches.empty(); }
  std::string to_string() const;  // one line per problem, naming the tensor and the shapes
};

// Copies every named parameter and buffer of `module` from `source` (names as in module->named_parameters(),
// which match the checkpoint's own names), casting to each parameter's dtype. Strict by default: any problem
// throws mf::Error(BadFile) with LoadReport::to_string() naming every tensor. Non-strict returns the report.
LoadReport load_state_dict(torch::nn::Module& module, const WeightSource& source, bool strict = true,
                           const std::vector<std::string>& ignore_unexpected_prefixes = {});

}  // namespace mf::io
