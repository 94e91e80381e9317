// The state of a training run that is not in the model or the optimizer: the step, and the random streams as
// seed + counter. Every random draw of a stage (data order, posterior noise, timesteps of later stages) comes
// from draw() / draw_generator(), so a run resumed from a checkpoint makes exactly the draws the uninterrupted
// run would have made.
//
// Threading: value type; one trainer thread.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mf::training {

struct TrainState {
  int64_t step = 0;            // optimizer steps done
  uint64_t seed = 0;           // the run's seed
  uint64_t rng_counter = 0;    // draws made so far
  int64_t samples_seen = 0;    // training clips consumed
  double train_seconds = 0.0;  // wall time spent in training steps, over every session

  // A 64-bit value from the stream (seed, rng_counter), then rng_counter + 1.
  uint64_t draw();
  // A fresh CPU torch generator seeded with draw().
  torch::Generator draw_generator();

  nlohmann::json to_json() const;
  // Throws mf::Error(BadFile) naming `origin` when a field is missing or has the wrong type.
  static TrainState from_json(const nlohmann::json& j, const std::string& origin);
};

}  // namespace mf::training
