#include "mf/engine/engine.h"

#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "mf/io/safetensors.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;

namespace mf::engine {

const char* to_string(EventKind k) {
  switch (k) {
    case EventKind::StateChanged: return "state_changed";
    case EventKind::Progress: return "progress";
    case EventKind::Preview: return "preview";
    case EventKind::Plan: return "plan";
    case EventKind::Finished: return "finished";
    case EventKind::Failed: return "failed";
    case EventKind::EngineState: return "engine_state";
  }
  return "?";
}

int64_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * int64_t(page) : int64_t(16) << 30;
}

int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return int64_t(std::stoll(line.substr(6))) * 1024;
  return 0;
}

std::pair<ErrorCode, std::string> classify_exception(std::exception_ptr e) {
  const std::string oom_advice =
      " The job was stopped cleanly; lower the frame count or resolution, close other programs using the GPU, or "
      "let the engine stream DiT blocks from host memory (a smaller --budget-gb).";
  try {
    std::rethrow_exception(e);
  } catch (const c10::OutOfMemoryError& x) {
    return {ErrorCode::OutOfMemory, std::string("out of device memory: ") + x.what_without_backtrace() + "." + oom_advice};
  } catch (const mf::Error& x) {
    return {x.code(), x.what()};
  } catch (const c10::Error& x) {
    std::string m = x.what_without_backtrace();
    if (m.find("out of memory") != std::string::npos || m.find("CUBLAS_STATUS_ALLOC_FAILED") != std::string::npos)
      return {ErrorCode::OutOfMemory, "out of device memory: " + m + "." + oom_advice};
    return {ErrorCode::Internal, "LibTorch error: " + m};
  } catch (const std::bad_alloc&) {
    return {ErrorCode::OutOfMemory, "out of host memory." + oom_advice};
  } catch (const std::exception& x) {
    std::string m = x.what();
    if (m.find("out of memory") != std::string::npos) return {ErrorCode::OutOfMemory, m + "." + oom_advice};
    return {ErrorCode::Internal, "unexpected error: " + m};
  } catch (...) {
    return {ErrorCode::Internal, "unexpected non-standard exception"};
  }
}

namespace {

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32 ^ uint64_t(rd())) & ((uint64_t(1) << 53) - 1);  // exact in JSON doubles too
}

struct Runtime {  // per-job state that is not persisted
  std::shared_ptr<PreparedJob> prepared;
  torch::Tensor latents;  // latents of a paused job (host)
  ModelKey key;
};

}  // namespace

struct Engine::Impl {
  EngineOptions opt;
  std::unique_ptr<JobStore> store;

  mutable std::mutex mu;
  std::condition_variable cv;          // worker wake-up and idle waits
  std::vector<JobId> order;
  std::map<JobId, JobInfo> jobs;
  std::map<JobId, Runtime> runtime;
  uint64_t next_id = 1;
  bool paused_flag = false;
  bool stopping = false;
  bool unload_requested = false;
  JobId running;
  std::atomic<bool> cancel_running{false};
  std::atomic<bool> pause_requested{false};
  std::atomic<bool> stop_requested{false};

  // Model cache (worker thread mostly; snapshot reads under mu).
  struct CacheEntry {
    std::shared_ptr<ModelBackend> backend;
    uint64_t last_used = 0;
  };
  std::map<ModelKey, CacheEntry> cache;
  uint64_t use_counter = 0;
  ModelKey in_use_key;
  bool has_in_use = false;

  // Event dispatcher.
  std::mutex ev_mu;
  std::condition_variable ev_cv;
  std::deque<Event> events;
  bool ev_delivering = false;
  bool ev_stop = false;
  std::mutex sink_mu;
  std::function<void(const Event&)> sink;

  std::thread worker, dispatcher;

  // ---------------------------------------------------------------- persistence (call with mu held)
  void persist_job(const JobInfo& j) {
    if (store) store->save_job(j);
  }
  void persist_queue() {
    if (!store) return;
    QueueFile q;
    q.order = order;
    q.next_id = next_id;
    q.paused = paused_flag;
    store->save_queue(q);
  }
  std::string checkpoint_path(const JobId& id) const {
    return store ? store->checkpoint_path(id) : std::string();
  }
  std::string final_latents_path(const JobId& id) const {
    return store ? store->final_latents_path(id) : std::string();
  }
  std::string job_dir(const JobId& id) const {
    if (store) return store->job_dir(id);
    return (fs::temp_directory_path() / ("manyfold-engine-" + std::to_string(::getpid())) / id).string();
  }

  // ---------------------------------------------------------------- events
  void emit(Event e) {
    {
      std::lock_guard<std::mutex> lk(ev_mu);
      if (opt.coalesce_previews && e.kind == EventKind::Preview) {
        for (auto& q : events)
          if (q.kind == EventKind::Preview && q.job == e.job && q.full_decode == e.full_decode) {
            q = std::move(e);  // latest wins, in the older one's place
            return;
          }
      }
      events.push_back(std::move(e));
    }
    ev_cv.notify_all();
  }
  void emit_state(const JobInfo& j) {
    Event e;
    e.kind = EventKind::StateChanged;
    e.job = j.id;
    e.state = j.state;
    e.step = j.completed_steps;
    e.total = j.total_steps;
    emit(std::move(e));
  }
  void dispatcher_main() {
    for (;;) {
      Event e;
      {
        std::unique_lock<std::mutex> lk(ev_mu);
        ev_cv.wait(lk, [&] { return ev_stop || !events.empty(); });
        if (events.empty()) return;  // ev_stop and drained
        e = std::move(events.front());
        events.pop_front();
        ev_delivering = true;
      }
      {
        std::lock_guard<std::mutex> lk(sink_mu);
        if (sink) {
          try {
            sink(e);
          } catch (...) {
            // A throwing sink must not kill the engine; the event is dropped.
          }
        }
      }
      {
        std::lock_guard<std::mutex> lk(ev_mu);
        ev_delivering = false;
      }
      ev_cv.notify_all();
    }
  }

  // ---------------------------------------------------------------- helpers (mu held)
  JobInfo* find(const JobId& id) {
    auto it = jobs.find(id);
    return it == jobs.end() ? nullptr : &it->second;
  }
  bool runnable(const JobInfo& j) const { return j.state == JobState::Queued || j.state == JobState::Paused; }
  JobInfo* next_runnable() {
    for (const auto& id : order) {
      auto* j = find(id);
      if (j && runnable(*j)) return j;
    }
    return nullptr;
  }
  void set_state(JobInfo& j, JobState s) {
    j.state = s;
    if (is_terminal(s)) j.finished_at = now_iso8601();
    persist_job(j);
    emit_state(j);
  }
  ModelKey key_for(const tasks::TaskSpec& spec) const { return {spec.model, opt.dtype, opt.device}; }

  PlanRequest budget_request() const {
    PlanRequest r;
    r.device_is_host = opt.device == "cpu";
    r.dtype_bytes = opt.dtype == "bf16" ? 2 : 4;
    r.efficient_attention = opt.efficient_attention;
    r.device_budget_bytes = device_budget();
    r.host_budget_bytes = opt.host_budget_bytes > 0 ? opt.host_budget_bytes : physical_memory_bytes();
    if (r.device_is_host && opt.device_budget_bytes <= 0) r.host_budget_bytes = 0;  // one memory, counted once
    return r;
  }
  int64_t device_budget() const {
    if (opt.device_budget_bytes > 0) return opt.device_budget_bytes;
    return opt.device == "cpu" ? physical_memory_bytes() : int64_t(24) << 30;
  }

  // ---------------------------------------------------------------- model cache (worker thread)
  std::shared_ptr<ModelBackend> get_backend(const ModelKey& key) {
    {
      std::lock_guard<std::mutex> lk(mu);
      auto it = cache.find(key);
      if (it != cache.end()) {
        it->second.last_used = ++use_counter;
        in_use_key = key;
        has_in_use = true;
        return it->second.backend;
      }
    }
    auto backend = opt.loader(key);  // may throw MissingModel; loads outside the lock
    check(backend != nullptr, ErrorCode::MissingModel, "no model for " + key.to_string());
    std::lock_guard<std::mutex> lk(mu);
    cache[key] = {backend, ++use_counter};
    in_use_key = key;
    has_in_use = true;
    // Keep other models only while everything fits the cache budget (least recently used go first).
    const int64_t limit = opt.model_cache_bytes > 0 ? opt.model_cache_bytes : device_budget();
    for (;;) {
      int64_t total = 0;
      for (auto& [k, e] : cache) total += e.backend->resident_bytes();
      if (total <= limit || cache.size() <= 1) break;
      auto victim = cache.end();
      for (auto it = cache.begin(); it != cache.end(); ++it)
        if (!(it->first < key) && !(key < it->first)) continue;
        else if (victim == cache.end() || it->second.last_used < victim->second.last_used) victim = it;
      if (victim == cache.end()) break;
      cache.erase(victim);
    }
    return backend;
  }
  void release_cache(bool keep_in_use) {
    std::lock_guard<std::mutex> lk(mu);
    for (auto it = cache.begin(); it != cache.end();) {
      bool in_use = has_in_use && !(it->first < in_use_key) && !(in_use_key < it->first);
      if (keep_in_use && in_use) ++it;
      else it = cache.erase(it);
    }
  }

  // ---------------------------------------------------------------- the worker
  void worker_main() {
    c10::InferenceMode guard;  // thread-local: this thread owns every tensor computation of the engine
    for (;;) {
      JobId id;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return stopping || unload_requested || (!paused_flag && next_runnable() != nullptr); });
        if (stopping) return;
        if (unload_requested) {
          unload_requested = false;
          has_in_use = false;
          lk.unlock();
          release_cache(false);
          continue;
        }
        JobInfo* j = next_runnable();
        id = j->id;
        running = id;
        cancel_running = false;
        pause_requested = false;
        j->attempts += 1;
        j->error_code.reset();
        j->error_message.clear();
        set_state(*j, JobState::Preparing);
      }
      run_job(id);
      {
        std::lock_guard<std::mutex> lk(mu);
        running.clear();
        has_in_use = false;
      }
      cv.notify_all();
    }
  }

  // Reads a latents file; returns the step it holds (or -1 when absent/unusable for this job).
  int read_latents(const std::string& path, uint64_t seed, torch::Tensor* out) {
    if (path.empty() || !fs::exists(path)) return -1;
    try {
      auto src = io::WeightSource::open(path);
      const auto& md = src.metadata();
      auto s = md.find("seed");
      if (s == md.end() || s->second != std::to_string(seed)) return -1;
      *out = src.read("latents");
      return std::stoi(md.at("step"));
    } catch (...) {
      return -1;  // a damaged checkpoint costs the steps it held, never the job
    }
  }
  void save_latents(const std::string& path, const torch::Tensor& x, int step, uint64_t seed) {
    if (path.empty()) return;
    fs::create_directories(fs::path(path).parent_path());
    io::save_tensors(path, {{"latents", x}}, {{"step", std::to_string(step)}, {"seed", std::to_string(seed)}});
  }

  void fail_job(const JobId& id, ErrorCode code, const std::string& message) {
    std::lock_guard<std::mutex> lk(mu);
    JobInfo* j = find(id);
    if (!j) return;
    j->error_code = code;
    j->error_message = message;
    runtime[id].prepared.reset();
    runtime[id].latents = torch::Tensor();
    set_state(*j, code == ErrorCode::Cancelled ? JobState::Cancelled : JobState::Failed);
    Event e;
    e.kind = EventKind::Failed;
    e.job = id;
    e.state = j->state;
    e.code = code;
    e.message = message;
    e.step = j->completed_steps;
    e.total = j->total_steps;
    emit(std::move(e));
  }

  void run_job(const JobId& id) {
    tasks::TaskSpec spec;
    JobOptions jopt;
    Runtime rt;
    bool had_final = false;
    {
      std::lock_guard<std::mutex> lk(mu);
      JobInfo& j = jobs.at(id);
      spec = j.spec;
      jopt = j.options;
      rt = runtime[id];
      had_final = j.has_final_latents;
    }
    const uint64_t seed = *spec.seed;
    std::map<std::string, double> stage_seconds;
    MemoryPlan plan;
    try {
      auto t_load = std::chrono::steady_clock::now();
      auto backend = get_backend(key_for(spec));
      stage_seconds["load"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

      plan = backend->plan(spec, budget_request());
      {
        std::lock_guard<std::mutex> lk(mu);
        jobs.at(id).plan = plan.to_json();
        persist_job(jobs.at(id));
        Event e;
        e.kind = EventKind::Plan;
        e.job = id;
        e.state = JobState::Preparing;
        e.plan = jobs.at(id).plan;
        emit(std::move(e));
      }
      if (!plan.fits) throw Error(ErrorCode::OutOfMemory, plan.message);

      if (!rt.prepared) {
        auto t0 = std::chrono::steady_clock::now();
        rt.prepared = backend->prepare(spec);
        stage_seconds["prepare"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (auto& [k, v] : rt.prepared->stage_seconds) stage_seconds[k] = v;
      }
      if (plan.chosen != Residency::AllResident) backend->release_text_encoder();
      PreparedJob& prep = *rt.prepared;
      const int total = prep.total_steps;

      torch::Tensor x;
      int start = 0;
      int final_step = had_final ? read_latents(final_latents_path(id), seed, &x) : -1;
      if (final_step == total) {
        start = total;
      } else if (rt.latents.defined()) {
        x = rt.latents;
        std::lock_guard<std::mutex> lk(mu);
        start = jobs.at(id).completed_steps;
      } else {
        int ck = read_latents(checkpoint_path(id), seed, &x);
        if (ck >= 0 && ck <= total) start = ck;
        else x = prep.initial_latents, start = 0;
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        JobInfo& j = jobs.at(id);
        j.total_steps = total;
        j.completed_steps = start;
        j.resumed_from_step = start;
        runtime[id] = rt;
        set_state(j, start < total ? JobState::Running : JobState::Decoding);
      }

      if (start < total) {
        auto t_den = std::chrono::steady_clock::now();
        int run_steps = 0;
        double run_seconds = 0;
        auto on_step = [&](const StepInfo& s) -> bool {
          ++run_steps;
          run_seconds += s.seconds;
          const double sps = run_seconds / run_steps;
          const int done = s.step + 1;
          Event p;
          p.kind = EventKind::Progress;
          p.job = id;
          p.state = JobState::Running;
          p.step = done;
          p.total = s.total;
          p.seconds_per_step = sps;
          p.eta_seconds = sps * (s.total - done);
          emit(p);
          Event pv = p;
          pv.kind = EventKind::Preview;
          pv.frames = backend->preview(s.predicted);  // [T', h, w, 3] uint8
          emit(std::move(pv));
          if (jopt.full_decode_every > 0 && done % jopt.full_decode_every == 0) {
            Event fd = p;
            fd.kind = EventKind::Preview;
            fd.full_decode = true;
            fd.frames = backend->decode_preview(prep, s.predicted);
            emit(std::move(fd));
          }
          if (jopt.step_checkpoints && done < s.total && done % std::max(1, jopt.checkpoint_every) == 0)
            save_latents(checkpoint_path(id), s.latents, done, seed);
          {
            std::lock_guard<std::mutex> lk(mu);
            JobInfo& j = jobs.at(id);
            j.completed_steps = done;
            if (jopt.step_checkpoints) persist_job(j);  // progress on disk only when it can be resumed from
          }
          return !(cancel_running || pause_requested || stop_requested);
        };
        DenoiseOutcome out = backend->denoise(prep, x, start, on_step);
        stage_seconds["denoise"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t_den).count();
        x = out.latents;
        if (out.completed_steps < total) {
          if (cancel_running) {
            std::error_code ec;
            fs::remove(checkpoint_path(id), ec);
            fail_job(id, ErrorCode::Cancelled,
                     "cancelled by the user after step " + std::to_string(out.completed_steps) + " of " +
                         std::to_string(total));
            return;
          }
          // Pause or shutdown: keep the latents (memory and disk) so the job continues exactly where it stopped.
          save_latents(checkpoint_path(id), x, out.completed_steps, seed);
          bool release = false;
          {
            std::lock_guard<std::mutex> lk(mu);
            JobInfo& j = jobs.at(id);
            j.completed_steps = out.completed_steps;
            rt.latents = x.to(torch::kCPU);
            runtime[id] = rt;
            set_state(j, stop_requested ? JobState::Queued : JobState::Paused);
            release = !stop_requested && opt.release_models_on_pause.value_or(opt.device != "cpu");
            has_in_use = false;
          }
          backend.reset();
          if (release) release_cache(false);
          return;
        }
      }

      // The denoising is done: keep it on disk before the decode can fail.
      if (start < total) save_latents(final_latents_path(id), x, total, seed);
      {
        std::lock_guard<std::mutex> lk(mu);
        JobInfo& j = jobs.at(id);
        j.completed_steps = total;
        j.has_final_latents = !final_latents_path(id).empty();
        runtime[id].latents = torch::Tensor();
        if (start < total) set_state(j, JobState::Decoding);
        else persist_job(j);
      }
      std::string out_path = jopt.output.empty() ? spec.output : jopt.output;
      if (out_path.empty()) out_path = (fs::path(job_dir(id)) / ("output" + backend->output_extension(spec))).string();
      WrittenOutputs w = backend->decode_and_write(prep, x, out_path, {{"job_id", id}, {"plan", plan.to_json()}});
      for (auto& [k, v] : w.stage_seconds) stage_seconds[k] = v;
      {
        std::lock_guard<std::mutex> lk(mu);
        JobInfo& j = jobs.at(id);
        j.outputs = w.files;
        j.recipe = w.recipe;
        j.stage_seconds = stage_seconds;
        runtime.erase(id);
        std::error_code ec;
        fs::remove(checkpoint_path(id), ec);
        set_state(j, JobState::Finished);
        Event e;
        e.kind = EventKind::Finished;
        e.job = id;
        e.state = JobState::Finished;
        e.step = e.total = total;
        e.outputs = w.files;
        e.recipe = w.recipe;
        e.stage_seconds = stage_seconds;
        e.peak_host_bytes = peak_rss_bytes();
        e.peak_device_bytes = plan.device_peak_bytes;
        e.plan = j.plan;
        emit(std::move(e));
      }
    } catch (...) {
      auto [code, message] = classify_exception(std::current_exception());
      {
        std::lock_guard<std::mutex> lk(mu);
        runtime[id].prepared.reset();
        has_in_use = false;
      }
      if (code == ErrorCode::OutOfMemory) release_cache(false);  // give the next job the whole device
      fail_job(id, code, message);
    }
  }
};

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.opt = std::move(options);
  if (!m.opt.dir.empty()) {
    m.store = std::make_unique<JobStore>(m.opt.dir);
    check(m.store->try_lock(), ErrorCode::Unsupported,
          "the job queue " + m.opt.dir + " is in use by another Manyfold process; close it or use another folder");
    QueueFile q = m.store->load_queue();
    m.order = q.order;
    m.next_id = q.next_id;
    m.paused_flag = q.paused;
    for (auto& j : m.store->load_jobs(q.order)) {
      // Jobs that were in progress when the process died go back to the queue (they resume from their
      // checkpoint or final latents); a paused one stays paused.
      if (j.state == JobState::Preparing || j.state == JobState::Running || j.state == JobState::Decoding) {
        j.state = JobState::Queued;
        m.store->save_job(j);
      }
      m.jobs[j.id] = j;
    }
  }
  m.dispatcher = std::thread([&m] { m.dispatcher_main(); });
  m.worker = std::thread([&m] { m.worker_main(); });
}

Engine::~Engine() { shutdown(); }

void Engine::shutdown() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (!m.worker.joinable() && !m.dispatcher.joinable()) return;
    m.stopping = true;
    m.stop_requested = true;
  }
  m.cv.notify_all();
  if (m.worker.joinable()) m.worker.join();
  {
    std::lock_guard<std::mutex> lk(m.ev_mu);
    m.ev_stop = true;
  }
  m.ev_cv.notify_all();
  if (m.dispatcher.joinable()) m.dispatcher.join();
  std::lock_guard<std::mutex> lk(m.mu);
  m.cache.clear();
}

JobId Engine::submit(const tasks::TaskSpec& spec_in, const JobOptions& options) {
  tasks::check_valid(spec_in);
  tasks::TaskSpec spec = spec_in;
  if (!spec.seed) spec.seed = random_seed();
  Impl& m = *impl_;
  JobId id;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06llu", static_cast<unsigned long long>(m.next_id++));
    id = buf;
    JobInfo j;
    j.id = id;
    j.spec = spec;
    j.options = options;
    j.total_steps = spec.steps;
    j.created_at = now_iso8601();
    m.persist_job(j);  // the job file first: a crash between the two writes leaves an unlisted folder, no ghost
    m.order.push_back(id);
    m.jobs[id] = j;
    m.persist_queue();
    m.emit_state(j);
  }
  m.cv.notify_all();
  return id;
}

bool Engine::cancel(const JobId& id) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    JobInfo* j = m.find(id);
    if (!j || is_terminal(j->state)) return false;
    if (m.running == id) {
      m.cancel_running = true;  // the worker stops after the step in progress
      return true;
    }
  }
  m.fail_job(id, ErrorCode::Cancelled, "cancelled by the user before it finished");
  std::error_code ec;
  if (m.store) fs::remove(m.store->checkpoint_path(id), ec);
  m.cv.notify_all();
  return true;
}

void Engine::pause() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lk(m.mu);
  if (m.paused_flag) return;
  m.paused_flag = true;
  m.pause_requested = true;
  m.persist_queue();
  Event e;
  e.kind = EventKind::EngineState;
  e.paused = true;
  m.emit(std::move(e));
}

void Engine::resume() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (!m.paused_flag) return;
    m.paused_flag = false;
    m.pause_requested = false;
    m.persist_queue();
    Event e;
    e.kind = EventKind::EngineState;
    e.paused = false;
    m.emit(std::move(e));
  }
  m.cv.notify_all();
}

bool Engine::paused() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->paused_flag;
}

bool Engine::reorder(const JobId& id, int index) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lk(m.mu);
  auto it = std::find(m.order.begin(), m.order.end(), id);
  if (it == m.order.end()) return false;
  m.order.erase(it);
  index = std::max(0, std::min(index, int(m.order.size())));
  m.order.insert(m.order.begin() + index, id);
  m.persist_queue();
  return true;
}

JobId Engine::retry_with_new_seed(const JobId& id, std::optional<uint64_t> seed) {
  tasks::TaskSpec spec;
  JobOptions options;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    JobInfo* j = impl_->find(id);
    check(j != nullptr, ErrorCode::BadInput, "no job " + id + " in the queue");
    spec = j->spec;
    options = j->options;
  }
  spec.seed = seed ? *seed : random_seed();
  if (!options.output.empty()) options.output.clear();  // never overwrite the first take's files
  if (!spec.output.empty()) spec.output.clear();
  return submit(spec, options);
}

bool Engine::retry(const JobId& id) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    JobInfo* j = m.find(id);
    if (!j || (j->state != JobState::Failed && j->state != JobState::Cancelled)) return false;
    j->error_code.reset();
    j->error_message.clear();
    j->finished_at.clear();
    m.set_state(*j, JobState::Queued);
  }
  m.cv.notify_all();
  return true;
}

size_t Engine::clear_finished() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lk(m.mu);
  size_t n = 0;
  for (auto it = m.order.begin(); it != m.order.end();) {
    JobInfo* j = m.find(*it);
    if (j && is_terminal(j->state)) {
      if (m.store) m.store->remove_job(*it);
      m.jobs.erase(*it);
      m.runtime.erase(*it);
      it = m.order.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (n) m.persist_queue();
  return n;
}

Snapshot Engine::snapshot() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lk(m.mu);
  Snapshot s;
  for (const auto& id : m.order) s.jobs.push_back(m.jobs.at(id));
  s.paused = m.paused_flag;
  s.running = m.running;
  for (const auto& [k, e] : m.cache) {
    LoadedModel lm;
    lm.key = k.to_string();
    lm.resident_bytes = e.backend->resident_bytes();
    lm.in_use = m.has_in_use && !(k < m.in_use_key) && !(m.in_use_key < k);
    s.models.push_back(lm);
  }
  return s;
}

std::optional<JobInfo> Engine::job(const JobId& id) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto it = impl_->jobs.find(id);
  if (it == impl_->jobs.end()) return std::nullopt;
  return it->second;
}

void Engine::set_event_sink(std::function<void(const Event&)> sink) {
  std::lock_guard<std::mutex> lk(impl_->sink_mu);
  impl_->sink = std::move(sink);
}

void Engine::unload_models() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->unload_requested = true;
  }
  impl_->cv.notify_all();
}

bool Engine::wait_idle(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    std::unique_lock<std::mutex> lk(m.mu);
    if (!m.cv.wait_until(lk, deadline, [&] {
          return m.stopping || (m.running.empty() && (m.paused_flag || m.next_runnable() == nullptr));
        }))
      return false;
  }
  std::unique_lock<std::mutex> lk(m.ev_mu);
  return m.ev_cv.wait_until(lk, deadline, [&] { return m.events.empty() && !m.ev_delivering; });
}

int64_t Engine::device_budget_bytes() const { return impl_->device_budget(); }

MemoryPlan Engine::plan(const tasks::TaskSpec& spec) const {
  check(!spec.model.empty(), ErrorCode::MissingModel,
        "the job names no model: choose a model (an MfM pipeline folder) before estimating its memory");
  const ModelKey key = impl_->key_for(spec);
  std::shared_ptr<ModelBackend> backend;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    auto it = impl_->cache.find(key);
    if (it != impl_->cache.end()) backend = it->second.backend;
  }
  if (!backend) backend = impl_->opt.loader(key);  // configs only; not added to the cache
  check(backend != nullptr, ErrorCode::MissingModel, "no model for " + key.to_string());
  return backend->plan(spec, impl_->budget_request());
}

}  // namespace mf::engine
