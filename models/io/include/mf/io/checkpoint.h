// Torch-free resolution of "the tensors of one model": a single .safetensors file, a sharded checkpoint
// given by its *.safetensors.index.json, or a folder holding either. WeightSource (tensor_io.h) wraps
// this with LibTorch reads; the pipeline-folder reader and `manyfold inspect` use it directly.
// Thread-safety: the result is immutable; concurrent reads are safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mf/io/safetensors.h"

namespace mf::io {

struct CheckpointFiles {
  struct Entry {
    size_t file = 0;  // index into files
    const TensorInfo* info = nullptr;
  };
  std::vector<std::shared_ptr<const SafetensorsFile>> files;  // shards in index order (one for a single file)
  std::map<std::string, Entry> tensors;                         // every tensor, by name
  std::string index_path;                                       // the *.index.json, if sharded
  std::string description;                                      // path(s) for messages
};

// Which file in `dir` holds the weights: an *.safetensors.index.json if there is one (preferring the
// diffusers/transformers names), else the single *.safetensors file (preferring
// diffusion_pytorch_model.safetensors / model.safetensors when several exist). Returns "" when the folder
// holds no weights. Throws mf::Error(BadInput) when the choice is ambiguous, naming the candidates.
std::string find_weights_in_folder(const std::string& dir);

// Opens and validates every file. Throws mf::Error(MissingModel) when the path does not exist or holds
// no weights, mf::Error(BadFile) when a file is corrupt, a shard is missing, a tensor named in the index
// is absent from its shard, or two shards hold the same tensor.
CheckpointFiles open_checkpoint(const std::string& path);

}  // namespace mf::io
