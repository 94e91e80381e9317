// Jobs as data and their folder on disk. One folder holds a queue (a project's jobs/ folder, or
// $XDG_DATA_HOME/manyfold/queue for the command-line tool):
//   queue.json             {"schema_version", "order": [ids], "next_id", "paused"}
//   <id>/job.json          one JobInfo (spec, options, state, progress, outputs, error, plan)
//   <id>/latents.safetensors        step checkpoint ("latents" [1, C, T', h, w]; metadata step, seed)
//   <id>/final_latents.safetensors  written after the last step, before decoding
// Every JSON file is written atomically (temp file, fsync, rename, fsync of the folder) so a crash or kill -9
// leaves either the old or the new version. One engine process owns a folder at a time (lock()).
//
// Thread-safety: JobStore methods may be called from any thread but are not synchronised with each other for
// the same job; the engine calls them from its own locked sections.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/tasks/task_spec.h"

namespace mf::engine {

using JobId = std::string;

enum class JobState { Queued, Preparing, Running, Paused, Decoding, Finished, Failed, Cancelled };
const char* to_string(JobState s);
std::optional<JobState> parse_job_state(const std::string& s);
bool is_terminal(JobState s);  // Finished, Failed, Cancelled

struct JobOptions {
  bool step_checkpoints = false;  // save the latents every `checkpoint_every` steps (resume after a crash)
  int checkpoint_every = 1;
  int full_decode_every = 0;      // a full VAE decode preview every N steps (0 = never)
  std::string output;             // output path ("" = spec.output, else <queue>/<id>/output<ext>)
};

struct JobInfo {
  JobId id;
  JobState state = JobState::Queued;
  tasks::TaskSpec spec;           // seed always filled in at submit time (so a restart reproduces the job)
  JobOptions options;
  int completed_steps = 0, total_steps = 0;
  int attempts = 0;               // times the job was started (a restart after a crash counts)
  int resumed_from_step = -1;     // step the last run started from (0 = from the noise; -1 = never started)
  bool has_final_latents = false;
  std::vector<std::string> outputs;
  nlohmann::json recipe;
  std::map<std::string, double> stage_seconds;
  std::optional<ErrorCode> error_code;
  std::string error_message;
  nlohmann::json plan;            // the memory plan it ran (or was refused) with
  std::string created_at, finished_at;  // ISO 8601 UTC
};
nlohmann::json to_json(const JobInfo& j);
JobInfo job_info_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json to_json(const JobOptions& o);
JobOptions job_options_from_json(const nlohmann::json& j);

struct QueueFile {
  std::vector<JobId> order;
  uint64_t next_id = 1;
  bool paused = false;
};

// Writes `content` to `path` atomically (temp + fsync + rename + fsync of the folder). Throws mf::Error(Io).
void write_file_atomic(const std::string& path, const std::string& content);
std::string now_iso8601();

class JobStore {
 public:
  explicit JobStore(std::string dir);  // creates the folder; throws mf::Error(Io)
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  const std::string& dir() const { return dir_; }
  // Takes the folder's exclusive lock (flock on <dir>/.lock; released by the OS when the process dies).
  // Returns false when another process holds it.
  bool try_lock();
  bool locked_by_other() const;  // probes without keeping the lock

  QueueFile load_queue() const;  // missing -> empty; damaged -> mf::Error(BadFile) naming the file
  void save_queue(const QueueFile& q) const;
  // Jobs of `order`; a job whose job.json is missing or damaged comes back Failed/BadFile naming the file.
  std::vector<JobInfo> load_jobs(const std::vector<JobId>& order) const;
  void save_job(const JobInfo& job) const;
  void remove_job(const JobId& id) const;  // deletes <id>/

  std::string job_dir(const JobId& id) const;
  std::string checkpoint_path(const JobId& id) const;
  std::string final_latents_path(const JobId& id) const;

 private:
  std::string dir_;
  int lock_fd_ = -1;
};

// The command-line tool's queue folder: $MF_QUEUE_DIR, else $XDG_DATA_HOME/manyfold/queue, else
// ~/.local/share/manyfold/queue.
std::string default_queue_dir();

}  // namespace mf::engine
