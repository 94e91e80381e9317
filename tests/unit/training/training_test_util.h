// Helpers shared by the trainer tests: quiet trainer options, exact module comparison, one intra-op thread.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "mf/training/checkpoint.h"
#include "mf/training/trainer.h"

namespace mf::training::test {

inline TrainerOptions quiet(const std::string& out) {
  TrainerOptions o;
  o.out_dir = out;
  o.progress = Progress::Mode::Off;
  return o;
}

// Same parameter/buffer names and bit-identical values.
inline bool same_tensors(torch::nn::Module& a, torch::nn::Module& b) {
  auto ta = module_tensors(a), tb = module_tensors(b);
  if (ta.size() != tb.size()) return false;
  for (size_t i = 0; i < ta.size(); ++i)
    if (ta[i].first != tb[i].first || !torch::equal(ta[i].second, tb[i].second)) return false;
  return true;
}

// The largest relative L2 difference, tensor by tensor, between two modules of the same layout (any devices).
inline double max_relative_difference(torch::nn::Module& a, torch::nn::Module& b) {
  auto ta = module_tensors(a), tb = module_tensors(b);
  if (ta.size() != tb.size()) return 1e30;
  double worst = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].first != tb[i].first) return 1e30;
    const auto x = ta[i].second.to(torch::kCPU, torch::kDouble), y = tb[i].second.to(torch::kCPU, torch::kDouble);
    const double n = y.norm().item<double>();
    worst = std::max(worst, (x - y).norm().item<double>() / std::max(n, 1e-12));
  }
  return worst;
}

// LibTorch kernels are deterministic with one intra-op thread (what exact-resume tests need).
struct OneThread {
  int saved = torch::get_num_threads();
  OneThread() { torch::set_num_threads(1); }
  ~OneThread() { torch::set_num_threads(saved); }
};

}  // namespace mf::training::test
