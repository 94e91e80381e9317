// Batches of toy-world clips for training (backend/training/toyworld), deterministic from (seed, split, index).
//
// Splits by scene-seed range, so training never sees a held-out scene: with B = seed * 2^32,
//   validation clip i -> scene seed B + i                     (i < validation_size)
//   training clip i   -> scene seed B + validation_size + i   (i < train_size)
// Training batches are drawn from the training split by a counter (TrainState::rng_counter): without a fixed
// train_size every clip is new (indices counter*batch + b), with one the indices are uniform draws seeded by
// (seed, counter). The same (options, counter) always gives the same batch, on every platform.
//
// Threading: const methods may run on several threads at once.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mf/toyworld/sampler.h"
#include "mf/toyworld/scene.h"

namespace mf::training {

enum class Split { Train, Validation };
const char* to_string(Split s);

struct DatasetOptions {
  int width = 96;
  int height = 64;
  int frames = 9;
  uint64_t seed = 0;              // < 2^32 (the top 32 bits of every scene seed)
  int64_t validation_size = 16;   // clips held out
  int64_t train_size = 0;         // 0: the whole range left (2^32 - validation_size clips)
  // Scene sampling (width, height, frames are taken from the fields above). The toy model trains on at most
  // 2 shapes (the toy tokenizer's 76-token limit, see resources/models/manyfold-toy/tokenizer).
  mf::toyworld::SamplerOptions sampler = default_sampler();

  static mf::toyworld::SamplerOptions default_sampler();
  // The options every toy-world user builds (trainer stages, the held-out evaluation): clip size, seed, split
  // sizes and the most shapes per scene (the sampler's minimum lowered to it when larger).
  static DatasetOptions toy(int width, int height, int frames, uint64_t seed, int64_t validation_size,
                            int64_t train_size, int max_shapes);
  // Throws mf::Error(BadInput) naming the option.
  void validate() const;
};

struct VideoBatch {
  torch::Tensor video;  // [B, 3, T, H, W] float32 in [-1, 1] (RGB, x / 127.5 - 1)
  torch::Tensor depth;  // [B, 1, T, H, W] float32 inverse depth 1/z as rendered (larger = nearer)
  std::vector<std::string> captions;
  std::vector<uint64_t> scene_seeds;
  int64_t size() const { return static_cast<int64_t>(captions.size()); }
};

class ToyVideoDataset {
 public:
  explicit ToyVideoDataset(DatasetOptions options);  // validates
  const DatasetOptions& options() const { return opt_; }

  int64_t size(Split split) const;
  // The scene seed of clip `index` of a split (see the ranges above). Throws mf::Error(BadInput) out of range.
  uint64_t scene_seed(Split split, int64_t index) const;
  mf::toyworld::Scene scene(Split split, int64_t index) const;

  VideoBatch get(Split split, const std::vector<int64_t>& indices) const;
  // Clips [first, first + count) of a split.
  VideoBatch range(Split split, int64_t first, int64_t count) const;
  // The training indices of draw `counter` (one draw per optimizer step).
  std::vector<int64_t> train_indices(uint64_t counter, int batch) const;
  VideoBatch train_batch(uint64_t counter, int batch) const { return get(Split::Train, train_indices(counter, batch)); }

 private:
  DatasetOptions opt_;
};

// SplitMix64-style mix of two words (stream derivation for seeds and counters).
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace mf::training
