// The engine: an in-process worker that runs generation jobs one at a time on the device, with a persisted
// queue, streamed previews, cancel and pause, a memory plan per job and a cache of loaded models. The studio and
// the command-line tool both submit jobs here.
//
// Threading contract:
//  - Every public method is thread-safe and returns without waiting for the device (at most for a short lock and
//    a small JSON write). Nothing the caller does blocks the sampler and nothing the sampler does blocks the caller.
//  - One worker thread owns the device: it loads models, runs every stage and holds c10::InferenceMode (which is
//    thread-local). Cancel and pause take effect after the step in progress.
//  - Events are delivered on a separate dispatcher thread, in order, to the one sink (set_event_sink). Preview
//    events are coalesced by default: while a preview of a job is still waiting to be delivered, a newer one
//    replaces it (latest wins), so a slow consumer sees fewer previews but never slows the sampler.
//  - The sink must not call wait_idle(); it may call any other method.
//
// Persistence: with a folder (EngineOptions::dir) the queue and every job live there (see job_store.h) and
// survive a crash: on start, jobs that were running are queued again (attempts + 1) and restart from their last
// step checkpoint when they had step checkpoints enabled, or from their final latents when only the decode was
// left. The folder is locked by one engine process at a time.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/engine/backend.h"
#include "mf/engine/job_store.h"

namespace mf::engine {

enum class EventKind { StateChanged, Progress, Preview, Plan, Finished, Failed, EngineState };
const char* to_string(EventKind k);

struct Event {
  EventKind kind = EventKind::StateChanged;
  JobId job;                  // empty for EngineState
  JobState state = JobState::Queued;
  // Progress / Preview
  int step = 0, total = 0;    // step = steps completed (1-based count)
  double seconds_per_step = 0, eta_seconds = 0;
  torch::Tensor frames;       // Preview: [T, h, w, 3] uint8 CPU (latent preview: T' latent frames, small size)
  bool full_decode = false;   // Preview: a full VAE decode ([F, H, W, 3]) instead of the latent map
  // Finished
  std::vector<std::string> outputs;
  nlohmann::json recipe;
  std::map<std::string, double> stage_seconds;  // text, conditions, denoise, decode, ...
  int64_t peak_host_bytes = 0;                  // process peak resident set (VmHWM) at the end of the job
  int64_t peak_device_bytes = 0;                // the plan's estimate for the chosen residency
  // Failed
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  // Plan
  nlohmann::json plan;
  // EngineState
  bool paused = false;
};

struct EngineOptions {
  std::string dir;                 // queue folder ("" = in memory only; outputs then go to a temp folder)
  BackendLoader loader = load_default_backend;
  std::string device = "cpu";      // passed to the loader in the model key
  std::string dtype = "fp32";      // "fp32" | "bf16"
  int64_t device_budget_bytes = 0;  // 0 = all physical memory on CPU (or 24 GiB for another device)
  int64_t host_budget_bytes = 0;    // 0 = physical memory
  bool efficient_attention = false;  // for the plan: LibTorch 2.x SDPA on CUDA
  bool coalesce_previews = true;
  // Unload every cached model when paused (frees device memory). Default: on for non-CPU devices.
  std::optional<bool> release_models_on_pause;
  int64_t model_cache_bytes = 0;   // models kept loaded between jobs up to this many resident bytes (0 = budget)
};

struct LoadedModel {
  std::string key;
  int64_t resident_bytes = 0;
  bool in_use = false;
};

struct Snapshot {
  std::vector<JobInfo> jobs;  // in queue order
  bool paused = false;
  JobId running;              // "" when idle
  std::vector<LoadedModel> models;
};

class Engine {
 public:
  // Opens (or creates) the queue folder, recovers interrupted jobs and starts the worker. Throws mf::Error(Io)
  // when the folder cannot be written, Unsupported when another process holds its lock.
  explicit Engine(EngineOptions options);
  ~Engine();  // shutdown()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates the spec (mf::Error(BadInput) listing every problem), fills in a random seed when absent,
  // persists the job and queues it at the end. Returns immediately.
  JobId submit(const tasks::TaskSpec& spec, const JobOptions& options = {});
  // Queued/paused: cancelled now. Running: stops after the current step. Returns false for unknown/finished ids.
  bool cancel(const JobId& id);
  // Pause after the current step (the running job keeps its latents, device memory is released); no new job
  // starts until resume(). Persisted with the queue.
  void pause();
  void resume();
  bool paused() const;
  // Moves a job to `index` in the queue order (clamped). Returns false for an unknown id.
  bool reorder(const JobId& id, int index);
  // A new job with the same spec and options and a new seed (random unless given); queued at the end.
  JobId retry_with_new_seed(const JobId& id, std::optional<uint64_t> seed = std::nullopt);
  // Queues a failed or cancelled job again as it is: a job whose final latents were saved decodes again without
  // denoising; one with a step checkpoint resumes from it. Returns false unless the job is Failed/Cancelled.
  bool retry(const JobId& id);
  // Removes finished, failed and cancelled jobs (and their folders). Returns how many.
  size_t clear_finished();

  Snapshot snapshot() const;
  std::optional<JobInfo> job(const JobId& id) const;

  void set_event_sink(std::function<void(const Event&)> sink);

  // Unloads every cached model not in use by the running job (at once when idle, else after the job).
  void unload_models();

  // Waits until no job can run (queue empty, or paused with no job in progress) and every event has been
  // delivered. Returns false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

  // Stops the worker after the current step (the running job goes back to the queue with a checkpoint of its
  // latents) and delivers the remaining events. Idempotent.
  void shutdown();

  // The memory budget in effect (bytes).
  int64_t device_budget_bytes() const;

  // The memory plan a job with this spec would get, without queueing it (for a UI's estimate before submitting):
  // the model's configs are read through the loader (a cached model is reused; weights are not loaded).
  // spec.model must name the model. Throws mf::Error (MissingModel / BadInput from the loader).
  MemoryPlan plan(const tasks::TaskSpec& spec) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Classifies an exception from a stage: c10::OutOfMemoryError or a message with "out of memory" -> OutOfMemory;
// mf::Error -> its code; anything else -> Internal. Also returns a message a person can act on.
std::pair<ErrorCode, std::string> classify_exception(std::exception_ptr e);

// Physical memory of this machine in bytes (sysconf).
int64_t physical_memory_bytes();
// Peak resident set of this process (VmHWM) in bytes; 0 when unknown.
int64_t peak_rss_bytes();

}  // namespace mf::engine
