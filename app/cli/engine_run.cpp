#include "engine_run.h"

#if defined(MF_PIPELINE_AVAILABLE) && defined(MF_ENGINE_AVAILABLE)

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>

#include "mf/core/error.h"
#include "mf/engine/engine.h"
#include "mf/engine/pipeline_backend.h"

namespace mf::cli {

namespace {

std::string fmt_time(double s) {
  if (s < 0 || !std::isfinite(s)) return "--:--";
  const int t = static_cast<int>(s + 0.5);
  char b[32];
  std::snprintf(b, sizeof b, "%d:%02d", t / 60, t % 60);
  return b;
}

}  // namespace

Progress::Progress() : tty(isatty(2) != 0) {}

void Progress::step(int done, int total, double step_s, double elapsed) {
  if (quiet) return;
  const double eta = done > 0 ? elapsed / done * (total - done) : -1;
  if (tty) {
    const int width = 30, fill = total > 0 ? done * width / total : 0;
    std::fprintf(stderr, "\r  denoise [%s%s] %d/%d  %.2f s/step  ETA %s ", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, total, step_s, fmt_time(eta).c_str());
    if (done == total) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "step %d/%d %.2fs eta %s\n", done, total, step_s, fmt_time(eta).c_str());
  }
  std::fflush(stderr);
}

void Progress::line(const std::string& s) {
  if (!quiet) std::cerr << s << "\n";
}

// Runs the jobs through the engine (an in-memory queue: `manyfold queue` manages persisted ones), printing
// progress from its events. A failed job throws its mf::Error so the exit code says what went wrong.
std::vector<std::string> run_jobs_on_engine(const std::string& model, const std::string& dtype,
                                            const mf::pipeline::LoadOptions& lo, mf::tasks::Drop3Policy drop3,
                                            const std::vector<mf::tasks::TaskSpec>& specs,
                                            const std::vector<std::string>& paths, Progress& progress) {
  mf::engine::EngineOptions eo;
  eo.dtype = dtype;
  eo.device = lo.device.str();
  eo.loader = [lo, drop3](const mf::engine::ModelKey& key) -> std::shared_ptr<mf::engine::ModelBackend> {
    if (key.model.rfind("test:", 0) == 0) return mf::engine::load_default_backend(key);
    return std::make_shared<mf::engine::PipelineBackend>(key.model, lo, drop3);
  };
  mf::engine::Engine engine(eo);
  std::mutex mu;
  std::optional<mf::Error> failure;
  std::vector<std::string> files;
  auto t0 = std::chrono::steady_clock::now();
  engine.set_event_sink([&](const mf::engine::Event& e) {
    std::lock_guard<std::mutex> lk(mu);
    switch (e.kind) {
      case mf::engine::EventKind::StateChanged:
        if (e.state == mf::engine::JobState::Running) t0 = std::chrono::steady_clock::now();
        break;
      case mf::engine::EventKind::Progress:
        progress.step(e.step, e.total, e.seconds_per_step,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        break;
      case mf::engine::EventKind::Finished:
        files.insert(files.end(), e.outputs.begin(), e.outputs.end());
        break;
      case mf::engine::EventKind::Failed:
        if (!failure) failure.emplace(e.code, e.message);
        break;
      default:
        break;
    }
  });
  std::vector<mf::engine::JobId> ids;
  for (size_t i = 0; i < specs.size(); ++i) {
    mf::tasks::TaskSpec s = specs[i];
    s.model = model;
    for (const auto& w : mf::tasks::validate(s))
      if (w.severity == mf::tasks::ValidationIssue::Severity::Warning) progress.line("warning: " + w.message);
    progress.line("  " + std::string(mf::tasks::to_string(s.task)) + " " + std::to_string(s.width) + "x" +
                  std::to_string(s.height) + ", " + std::to_string(s.num_frames) + " frames, " +
                  std::to_string(s.steps) + " steps -> " + paths[i]);
    mf::engine::JobOptions jo;
    jo.output = paths[i];
    ids.push_back(engine.submit(s, jo));
  }
  // Jobs run one after another; the first failure stops the batch (the remaining jobs are cancelled).
  while (!engine.wait_idle(std::chrono::milliseconds(200))) {
    std::lock_guard<std::mutex> lk(mu);
    if (failure) break;
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    if (failure) {
      for (const auto& id : ids) engine.cancel(id);
    }
  }
  engine.wait_idle();
  engine.shutdown();
  std::lock_guard<std::mutex> lk(mu);
  if (failure) throw *failure;
  return files;
}

}  // namespace mf::cli

#endif
