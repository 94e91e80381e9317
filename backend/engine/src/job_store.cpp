#include "mf/engine/job_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace mf::engine {

const char* to_string(JobState s) {
  switch (s) {
    case JobState::Queued: return "queued";
    case JobState::Preparing: return "preparing";
    case JobState::Running: return "running";
    case JobState::Paused: return "paused";
    case JobState::Decoding: return "decoding";
    case JobState::Finished: return "finished";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "?";
}

std::optional<JobState> parse_job_state(const std::string& s) {
  for (JobState st : {JobState::Queued, JobState::Preparing, JobState::Running, JobState::Paused,
                      JobState::Decoding, JobState::Finished, JobState::Failed, JobState::Cancelled})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

bool is_terminal(JobState s) {
  return s == JobState::Finished || s == JobState::Failed || s == JobState::Cancelled;
}

namespace {
std::optional<ErrorCode> parse_error_code(const std::string& s) {
  for (ErrorCode c : {ErrorCode::BadInput, ErrorCode::BadFile, ErrorCode::MissingModel, ErrorCode::Unsupported,
                      ErrorCode::OutOfMemory, ErrorCode::Cancelled, ErrorCode::Io, ErrorCode::Internal})
    if (s == mf::to_string(c)) return c;
  return std::nullopt;
}
}  // namespace

nlohmann::json to_json(const JobOptions& o) {
  return {{"step_checkpoints", o.step_checkpoints}, {"checkpoint_every", o.checkpoint_every},
          {"full_decode_every", o.full_decode_every}, {"output", o.output}};
}

JobOptions job_options_from_json(const nlohmann::json& j) {
  JobOptions o;
  o.step_checkpoints = j.value("step_checkpoints", false);
  o.checkpoint_every = j.value("checkpoint_every", 1);
  o.full_decode_every = j.value("full_decode_every", 0);
  o.output = j.value("output", std::string());
  return o;
}

nlohmann::json to_json(const JobInfo& job) {
  nlohmann::json j;
  j["schema_version"] = 1;
  j["id"] = job.id;
  j["state"] = to_string(job.state);
  j["spec"] = tasks::to_json(job.spec);
  j["options"] = to_json(job.options);
  j["completed_steps"] = job.completed_steps;
  j["total_steps"] = job.total_steps;
  j["attempts"] = job.attempts;
  j["resumed_from_step"] = job.resumed_from_step;
  j["has_final_latents"] = job.has_final_latents;
  j["outputs"] = job.outputs;
  j["recipe"] = job.recipe;
  j["stage_seconds"] = job.stage_seconds;
  if (job.error_code) {
    j["error"] = {{"code", mf::to_string(*job.error_code)}, {"message", job.error_message}};
  }
  j["plan"] = job.plan;
  j["created_at"] = job.created_at;
  j["finished_at"] = job.finished_at;
  return j;
}

JobInfo job_info_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    JobInfo job;
    job.id = j.at("id").get<std::string>();
    auto st = parse_job_state(j.at("state").get<std::string>());
    if (!st) throw Error(ErrorCode::BadFile, source + ": unknown job state '" + j.at("state").dump() + "'");
    job.state = *st;
    job.spec = tasks::task_spec_from_json(j.at("spec"), source + " spec");
    if (j.contains("options")) job.options = job_options_from_json(j["options"]);
    job.completed_steps = j.value("completed_steps", 0);
    job.total_steps = j.value("total_steps", 0);
    job.attempts = j.value("attempts", 0);
    job.resumed_from_step = j.value("resumed_from_step", -1);
    job.has_final_latents = j.value("has_final_latents", false);
    if (j.contains("outputs")) job.outputs = j["outputs"].get<std::vector<std::string>>();
    if (j.contains("recipe")) job.recipe = j["recipe"];
    if (j.contains("stage_seconds")) job.stage_seconds = j["stage_seconds"].get<std::map<std::string, double>>();
    if (j.contains("error") && j["error"].is_object()) {
      job.error_code = parse_error_code(j["error"].value("code", std::string("Internal")));
      if (!job.error_code) job.error_code = ErrorCode::Internal;
      job.error_message = j["error"].value("message", std::string());
    }
    if (j.contains("plan")) job.plan = j["plan"];
    job.created_at = j.value("created_at", std::string());
    job.finished_at = j.value("finished_at", std::string());
    return job;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, source + ": malformed job file (" + e.what() + ")");
  }
}

std::string now_iso8601() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::Io, "cannot write " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(ErrorCode::Io, "cannot write " + tmp + ": " + std::strerror(e));
    }
    off += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::Io, "cannot flush " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::Io, "cannot rename " + tmp + " to " + path + ": " + std::strerror(e));
  }
  // Make the rename itself durable.
  std::string parent = fs::path(path).parent_path().string();
  int dfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

JobStore::JobStore(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(ErrorCode::Io, "cannot create the queue folder " + dir_ + ": " + ec.message());
}

JobStore::~JobStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

bool JobStore::try_lock() {
  if (lock_fd_ >= 0) return true;
  const std::string p = (fs::path(dir_) / ".lock").string();
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::Io, "cannot open " + p + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  lock_fd_ = fd;
  return true;
}

bool JobStore::locked_by_other() const {
  if (lock_fd_ >= 0) return false;
  const std::string p = (fs::path(dir_) / ".lock").string();
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool other = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);  // closing releases our probe lock
  return other;
}

namespace {
std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::Io, "cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

QueueFile JobStore::load_queue() const {
  QueueFile q;
  const std::string p = (fs::path(dir_) / "queue.json").string();
  if (!fs::exists(p)) return q;
  try {
    auto j = nlohmann::json::parse(read_text(p));
    q.order = j.at("order").get<std::vector<JobId>>();
    q.next_id = j.value("next_id", uint64_t(1));
    q.paused = j.value("paused", false);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, p + ": damaged queue file (" + e.what() +
                                        "); the jobs are still in the <id>/job.json files next to it");
  }
  return q;
}

void JobStore::save_queue(const QueueFile& q) const {
  nlohmann::json j{{"schema_version", 1}, {"order", q.order}, {"next_id", q.next_id}, {"paused", q.paused}};
  write_file_atomic((fs::path(dir_) / "queue.json").string(), j.dump(2) + "\n");
}

std::vector<JobInfo> JobStore::load_jobs(const std::vector<JobId>& order) const {
  std::vector<JobInfo> jobs;
  for (const auto& id : order) {
    const std::string p = (fs::path(job_dir(id)) / "job.json").string();
    try {
      jobs.push_back(job_info_from_json(nlohmann::json::parse(read_text(p)), p));
    } catch (const std::exception& e) {
      JobInfo broken;
      broken.id = id;
      broken.state = JobState::Failed;
      broken.error_code = ErrorCode::BadFile;
      broken.error_message = "cannot read the job file " + p + " (" + e.what() +
                             "); the job's inputs are untouched: resubmit it, or remove its folder to clear it";
      jobs.push_back(std::move(broken));
    }
  }
  return jobs;
}

void JobStore::save_job(const JobInfo& job) const {
  std::error_code ec;
  fs::create_directories(job_dir(job.id), ec);
  if (ec) throw Error(ErrorCode::Io, "cannot create " + job_dir(job.id) + ": " + ec.message());
  write_file_atomic((fs::path(job_dir(job.id)) / "job.json").string(), to_json(job).dump(2) + "\n");
}

void JobStore::remove_job(const JobId& id) const {
  std::error_code ec;
  fs::remove_all(job_dir(id), ec);
}

std::string JobStore::job_dir(const JobId& id) const { return (fs::path(dir_) / id).string(); }
std::string JobStore::checkpoint_path(const JobId& id) const {
  return (fs::path(job_dir(id)) / "latents.safetensors").string();
}
std::string JobStore::final_latents_path(const JobId& id) const {
  return (fs::path(job_dir(id)) / "final_latents.safetensors").string();
}

std::string default_queue_dir() {
  if (const char* q = std::getenv("MF_QUEUE_DIR"); q && *q) return q;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return (fs::path(x) / "manyfold" / "queue").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home ? home : ".") / ".local" / "share" / "manyfold" / "queue").string();
}

}  // namespace mf::engine
