// Shared helpers of the engine tests (and of the kill -9 helper program).
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

#include "mf/engine/engine.h"
#include "mf/engine/test_backend.h"

namespace mf::engine::testing {

// A small t2v job for the test model: 5 frames at 32x32 -> latents [1, 4, 2, 4, 4].
inline tasks::TaskSpec tiny_spec(uint64_t seed, int steps = 6) {
  tasks::TaskSpec s;
  s.task = tasks::TaskId::T2V;
  s.prompt = "a red kite over the sea";
  s.num_frames = 5;
  s.height = 32;
  s.width = 32;
  s.steps = steps;
  s.seed = seed;
  s.model = "test:tiny";
  return s;
}

inline BackendLoader test_loader(TestBackendOptions o) {
  return [o](const ModelKey& key) { return std::make_shared<TestBackend>(key.model, o); };
}

inline std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() /
           ("mf_engine_test_" + name + "_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(d);
  return d.string();
}

// Collects events; waits for conditions on them.
class Recorder {
 public:
  std::function<void(const Event&)> sink(std::function<void(const Event&)> also = {}) {
    return [this, also](const Event& e) {
      if (also) also(e);
      {
        std::lock_guard<std::mutex> lk(mu_);
        events_.push_back(e);
      }
      cv_.notify_all();
    };
  }
  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lk(mu_);
    return events_;
  }
  std::vector<Event> of(EventKind k, const JobId& job = "") const {
    std::vector<Event> out;
    for (auto& e : events())
      if (e.kind == k && (job.empty() || e.job == job)) out.push_back(e);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

}  // namespace mf::engine::testing
