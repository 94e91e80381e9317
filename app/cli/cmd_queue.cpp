// `manyfold queue`: list, cancel, resume and clean up the persisted job queue (the engine's folder).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "mf/core/error.h"

#ifdef MF_ENGINE_AVAILABLE
#include "mf/engine/engine.h"
#include "mf/io/runtime.h"

namespace fs = std::filesystem;
using namespace mf::engine;

namespace {

std::string short_text(std::string s, size_t n) {
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

void print_jobs(const std::vector<JobInfo>& jobs, bool paused, bool json) {
  if (json) {
    nlohmann::json j{{"paused", paused}, {"jobs", nlohmann::json::array()}};
    for (auto& job : jobs) j["jobs"].push_back(to_json(job));
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << (paused ? "queue is PAUSED\n" : "");
  if (jobs.empty()) std::cout << "no jobs\n";
  for (auto& job : jobs) {
    char line[128];
    std::snprintf(line, sizeof line, "%-8s %-10s %-7s %3d/%-3d seed %-16llu ", job.id.c_str(), to_string(job.state),
                  mf::tasks::to_string(job.spec.task), job.completed_steps, job.total_steps,
                  static_cast<unsigned long long>(job.spec.seed.value_or(0)));
    std::cout << line << short_text(job.spec.prompt, 40) << "\n";
    if (job.error_code)
      std::cout << "         " << mf::to_string(*job.error_code) << ": " << short_text(job.error_message, 200) << "\n";
    else if (!job.outputs.empty())
      std::cout << "         -> " << job.outputs.front() << "\n";
  }
}

int refuse_if_running(JobStore& store) {
  if (store.locked_by_other()) {
    std::cerr << "manyfold queue: an engine (the studio or another `manyfold queue resume`) is using " << store.dir()
              << "; make the change there, or stop it first\n";
    return mf::exit_code_for(mf::ErrorCode::Unsupported);
  }
  return 0;
}

int run_queue(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"json", "paused"});
  auto unknown = args.unknown({"dir", "json", "device", "dtype", "paused", "budget-gb"});
  if (!unknown.empty()) return mf::cli::usage_error("queue", "unknown option " + unknown[0]);
  const auto& pos = args.positionals();
  if (pos.empty()) return mf::cli::usage_error("queue", "give an action: list, add, cancel ID, resume, clear-finished");
  const std::string action = pos[0];
  const std::string dir = args.get_or("dir", default_queue_dir());
  try {
    if (action == "list") {
      JobStore store(dir);
      auto q = store.load_queue();
      print_jobs(store.load_jobs(q.order), q.paused, args.has("json"));
      return mf::cli::kExitOk;
    }
    if (action == "cancel" || action == "clear-finished" || action == "add") {
      JobStore store(dir);
      if (int rc = refuse_if_running(store)) return rc;
      if (!store.try_lock()) return refuse_if_running(store);
      auto q = store.load_queue();
      auto jobs = store.load_jobs(q.order);
      if (action == "add") {
        if (pos.size() != 2) return mf::cli::usage_error("queue", "add takes one job file (TaskSpec JSON)");
        std::ifstream f(pos[1]);
        if (!f) throw mf::Error(mf::ErrorCode::BadInput, "cannot read the job file " + pos[1]);
        std::stringstream ss;
        ss << f.rdbuf();
        auto spec = mf::tasks::task_spec_from_json_string(ss.str(), pos[1]);
        mf::tasks::check_valid(spec);
        if (!spec.seed) spec.seed = uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) & ((uint64_t(1) << 53) - 1);
        JobInfo job;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%06llu", static_cast<unsigned long long>(q.next_id++));
        job.id = buf;
        job.spec = spec;
        job.total_steps = spec.steps;
        job.created_at = now_iso8601();
        store.save_job(job);
        q.order.push_back(job.id);
        store.save_queue(q);
        std::cout << job.id << "\n";
        return mf::cli::kExitOk;
      }
      if (action == "cancel") {
        if (pos.size() != 2) return mf::cli::usage_error("queue", "cancel takes one job id (see `manyfold queue list`)");
        for (auto& job : jobs) {
          if (job.id != pos[1]) continue;
          if (is_terminal(job.state)) {
            std::cerr << "manyfold queue: job " << job.id << " is already " << to_string(job.state) << "\n";
            return mf::exit_code_for(mf::ErrorCode::BadInput);
          }
          job.state = JobState::Cancelled;
          job.error_code = mf::ErrorCode::Cancelled;
          job.error_message = "cancelled from the command line";
          job.finished_at = now_iso8601();
          store.save_job(job);
          std::error_code ec;
          fs::remove(store.checkpoint_path(job.id), ec);
          std::cout << "cancelled " << job.id << "\n";
          return mf::cli::kExitOk;
        }
        std::cerr << "manyfold queue: no job " << pos[1] << " in " << dir << "\n";
        return mf::exit_code_for(mf::ErrorCode::BadInput);
      }
      // clear-finished
      std::vector<JobId> keep;
      size_t removed = 0;
      for (auto& job : jobs) {
        if (is_terminal(job.state)) {
          store.remove_job(job.id);
          ++removed;
        } else {
          keep.push_back(job.id);
        }
      }
      q.order = keep;
      store.save_queue(q);
      std::cout << "removed " << removed << " finished, failed or cancelled job(s)\n";
      return mf::cli::kExitOk;
    }
    if (action == "resume") {
      mf::io::init_torch_runtime();
      EngineOptions eo;
      eo.dir = dir;
      eo.device = args.get_or("device", "cpu");
      eo.dtype = args.get_or("dtype", eo.device == "cpu" ? "fp32" : "bf16");
      if (args.has("budget-gb"))
        eo.device_budget_bytes = static_cast<int64_t>(args.get_double("budget-gb", 24) * double(int64_t(1) << 30));
      Engine engine(eo);
      engine.set_event_sink([](const Event& e) {
        switch (e.kind) {
          case EventKind::StateChanged:
            std::cerr << "job " << e.job << ": " << to_string(e.state) << "\n";
            break;
          case EventKind::Progress:
            std::fprintf(stderr, "job %s: step %d/%d  %.2f s/step  ETA %.0f s\n", e.job.c_str(), e.step, e.total,
                         e.seconds_per_step, e.eta_seconds);
            break;
          case EventKind::Finished:
            for (auto& f : e.outputs) std::cerr << "job " << e.job << ": wrote " << f << "\n";
            break;
          case EventKind::Failed:
            std::cerr << "job " << e.job << ": " << mf::to_string(e.code) << ": " << e.message << "\n";
            break;
          default:
            break;
        }
      });
      if (!args.has("paused")) engine.resume();
      engine.wait_idle(std::chrono::hours(24 * 365));
      auto snap = engine.snapshot();
      engine.shutdown();
      int failed = 0;
      for (auto& j : snap.jobs) failed += j.state == JobState::Failed;
      print_jobs(snap.jobs, snap.paused, args.has("json"));
      return failed ? mf::cli::kExitCheckFailed : mf::cli::kExitOk;
    }
    return mf::cli::usage_error("queue", "unknown action '" + action + "' (list, add, cancel, resume, clear-finished)");
  } catch (const mf::Error& e) {
    std::cerr << "manyfold queue: " << e.what() << "\n";
    return mf::exit_code_for(e.code());
  }
}

}  // namespace

MF_CLI_COMMAND("queue", "list, add, cancel, resume or clean up persisted jobs",
               "manyfold queue list|add JOB.json|cancel ID|resume|clear-finished [--dir DIR] [--json]\n"
               "                [--device cpu|cuda:0] [--dtype fp32|bf16] [--budget-gb N]\n"
               "  The queue folder defaults to $MF_QUEUE_DIR, else $XDG_DATA_HOME/manyfold/queue.\n"
               "  list            jobs in queue order with state, progress, seed, output or error\n"
               "  add JOB.json    queue a TaskSpec JSON file (a random seed is recorded when absent)\n"
               "  cancel ID       cancel a queued or interrupted job\n"
               "  resume          run the queue until it is empty (jobs interrupted by a crash restart from their\n"
               "                  last step checkpoint); exit 1 when a job failed\n"
               "  clear-finished  remove finished, failed and cancelled jobs and their folders\n"
               "  A model \"test:NAME\" runs the built-in test fixture (a tiny random linear denoiser).",
               run_queue);
#endif  // MF_ENGINE_AVAILABLE
