// TrainState: seed + counter random streams and JSON round trip.
#include "mf/training/train_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include "mf/core/error.h"
#include "mf/training/dataset.h"

namespace mf::training {

uint64_t TrainState::draw() { return mix_seed(seed, rng_counter++); }

torch::Generator TrainState::draw_generator() { return at::detail::createCPUGenerator(draw()); }

nlohmann::json TrainState::to_json() const {
  // 64-bit values as strings: JSON readers elsewhere (Python, jq) keep them exact.
  return {{"step", step},
          {"seed", std::to_string(seed)},
          {"rng_counter", std::to_string(rng_counter)},
          {"samples_seen", samples_seen},
          {"train_seconds", train_seconds}};
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& origin) {
  auto bad = [&](const std::string& what) { throw mf::Error(mf::ErrorCode::BadFile, origin + ": " + what); };
  if (!j.is_object()) bad("train state must be a JSON object");
  auto u64 = [&](const char* key) -> uint64_t {
    if (!j.contains(key) || !j.at(key).is_string()) bad(std::string("train state field '") + key + "' is missing");
    try {
      size_t pos = 0;
      const std::string s = j.at(key).get<std::string>();
      const uint64_t v = std::stoull(s, &pos);
      if (pos != s.size()) bad(std::string("train state field '") + key + "' is not a number");
      return v;
    } catch (const std::logic_error&) {
      bad(std::string("train state field '") + key + "' is not a number");
    }
    return 0;
  };
  auto i64 = [&](const char* key) -> int64_t {
    if (!j.contains(key) || !j.at(key).is_number_integer())
      bad(std::string("train state field '") + key + "' is missing or not an integer");
    return j.at(key).get<int64_t>();
  };
  TrainState s;
  s.step = i64("step");
  s.seed = u64("seed");
  s.rng_counter = u64("rng_counter");
  s.samples_seen = i64("samples_seen");
  if (j.contains("train_seconds") && j.at("train_seconds").is_number()) s.train_seconds = j.at("train_seconds");
  if (s.step < 0) bad("train state step is negative");
  return s;
}

}  // namespace mf::training
