// A small seeded pseudo-random generator with the same output on every platform and standard library
// (std::*_distribution is implementation-defined, so it is never used here).
// SplitMix64 expands the 64-bit seed into the state of xoshiro256**.
#pragma once

#include <cstdint>

namespace mf::toyworld {

// One step of SplitMix64: advances `state` and returns the mixed value.
uint64_t splitmix64(uint64_t& state);

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform in [lo, hi).
  double uniform(double lo, double hi);
  // Uniform integer in [0, n); n must be > 0.
  uint64_t below(uint64_t n);
  // Uniform integer in [lo, hi] (inclusive).
  int range(int lo, int hi);
  // True with probability p (p <= 0: never, p >= 1: always).
  bool chance(double p);

 private:
  uint64_t s_[4];
};

}  // namespace mf::toyworld
