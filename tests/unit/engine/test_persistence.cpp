// The queue on disk: restart keeps queued jobs in order, a running job restarts from its step checkpoint after
// kill -9 of the process, damaged files fail one job with a message, atomic writes.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "engine_test_util.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;
using namespace mf::engine;
using namespace mf::engine::testing;

namespace {
EngineOptions options_for(const std::string& dir, TestBackendOptions o = {}) {
  EngineOptions eo;
  eo.dir = dir;
  eo.loader = test_loader(o);
  return eo;
}
nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}
}  // namespace

TEST(EnginePersistence, RestartKeepsQueuedJobsInOrder) {
  const std::string dir = temp_dir("restart");
  std::vector<JobId> ids;
  {
    Engine engine(options_for(dir));
    engine.pause();
    for (int i = 0; i < 3; ++i) ids.push_back(engine.submit(tiny_spec(40 + i, 2)));
    engine.reorder(ids[2], 0);
  }
  {
    Engine engine(options_for(dir));
    auto snap = engine.snapshot();
    EXPECT_TRUE(snap.paused);
    ASSERT_EQ(snap.jobs.size(), 3u);
    EXPECT_EQ(snap.jobs[0].id, ids[2]);
    EXPECT_EQ(snap.jobs[1].id, ids[0]);
    for (auto& j : snap.jobs) EXPECT_EQ(j.state, JobState::Queued);
    EXPECT_EQ(*snap.jobs[1].spec.seed, 40u);
    engine.resume();
    ASSERT_TRUE(engine.wait_idle());
    for (auto& id : ids) EXPECT_EQ(engine.job(id)->state, JobState::Finished);
    // New ids continue after the persisted ones.
    engine.pause();
    EXPECT_EQ(engine.submit(tiny_spec(1, 1)), "000004");
  }
}

TEST(EnginePersistence, ShutdownMidJobResumesFromItsLatents) {
  const std::string dir = temp_dir("shutdown");
  const auto spec = tiny_spec(55, 12);
  TestBackendOptions o;
  o.step_delay_ms = 10;
  JobId id;
  std::atomic<bool> stop{false};
  {
    Engine engine(options_for(dir, o));
    engine.set_event_sink([&](const Event& e) {
      if (e.kind == EventKind::Progress && e.step == 4) stop = true;
    });
    id = engine.submit(spec);
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }  // destructor: stops after the step in progress, the job goes back to the queue with its latents
  auto j = read_json(fs::path(dir) / id / "job.json");
  EXPECT_EQ(j.at("state"), "queued");
  ASSERT_TRUE(fs::exists(fs::path(dir) / id / "latents.safetensors"));
  {
    Engine engine(options_for(dir, o));
    ASSERT_TRUE(engine.wait_idle());
    auto job = engine.job(id);
    ASSERT_EQ(job->state, JobState::Finished) << job->error_message;
    EXPECT_GE(job->resumed_from_step, 4);
  }
  // Same output as an uninterrupted run.
  const std::string ref_dir = temp_dir("shutdown_ref");
  Engine ref(options_for(ref_dir));
  JobId rid = ref.submit(spec);
  ASSERT_TRUE(ref.wait_idle());
  auto a = mf::io::WeightSource::open((fs::path(dir) / id / "final_latents.safetensors").string()).read("latents");
  auto b = mf::io::WeightSource::open((fs::path(ref_dir) / rid / "final_latents.safetensors").string()).read("latents");
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(EnginePersistence, KillDashNineMidJobThenRestartCompletesTheQueue) {
  const std::string dir = temp_dir("kill9");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(MF_ENGINE_CRASH_HELPER, MF_ENGINE_CRASH_HELPER, dir.c_str(), "40", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until the first job has a step checkpoint of at least 3 steps, then kill the process without warning.
  const fs::path job1 = fs::path(dir) / "000001";
  bool ready = false;
  for (int i = 0; i < 3000 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
      if (fs::exists(job1 / "latents.safetensors") && fs::exists(fs::path(dir) / "000002" / "job.json")) {
        auto md = mf::io::WeightSource::open((job1 / "latents.safetensors").string()).metadata();
        ready = std::stoi(md.at("step")) >= 3;
      }
    } catch (...) {
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(ready) << "the helper never checkpointed (exit status " << status << ")";
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(read_json(job1 / "job.json").at("state"), "running");

  TestBackendOptions o;
  Engine engine(options_for(dir, o));
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.jobs.size(), 2u) << "the queue lost jobs";
  EXPECT_EQ(snap.jobs[0].id, "000001");
  EXPECT_EQ(snap.jobs[1].id, "000002");
  ASSERT_TRUE(engine.wait_idle());
  auto j1 = engine.job("000001");
  auto j2 = engine.job("000002");
  ASSERT_EQ(j1->state, JobState::Finished) << j1->error_message;
  ASSERT_EQ(j2->state, JobState::Finished) << j2->error_message;
  EXPECT_GE(j1->resumed_from_step, 3) << "the job restarted from the noise instead of its checkpoint";
  EXPECT_EQ(j1->attempts, 2);
  EXPECT_EQ(j2->resumed_from_step, 0);

  // The resumed job's output equals an uninterrupted run of the same job.
  Engine ref(options_for(temp_dir("kill9_ref")));
  JobId rid = ref.submit(tiny_spec(1000, 12));
  ASSERT_TRUE(ref.wait_idle());
  auto a = mf::io::WeightSource::open(j1->outputs[0]).read("frames");
  auto b = mf::io::WeightSource::open(ref.job(rid)->outputs[0]).read("frames");
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(EnginePersistence, SecondEngineOnTheSameFolderIsRefused) {
  const std::string dir = temp_dir("lock");
  Engine engine(options_for(dir));
  try {
    Engine other(options_for(dir));
    FAIL() << "two engines on one queue folder";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos);
  }
  JobStore store(dir);
  EXPECT_TRUE(store.locked_by_other());
}

TEST(EnginePersistence, DamagedJobFileFailsOnlyThatJob) {
  const std::string dir = temp_dir("damaged");
  JobId a, b;
  {
    Engine engine(options_for(dir));
    engine.pause();
    a = engine.submit(tiny_spec(1, 2));
    b = engine.submit(tiny_spec(2, 2));
  }
  { std::ofstream(fs::path(dir) / a / "job.json") << "{\"id\": \"" << a << "\", \"state\": "; }
  Engine engine(options_for(dir));
  engine.resume();
  ASSERT_TRUE(engine.wait_idle());
  auto ja = engine.job(a);
  EXPECT_EQ(ja->state, JobState::Failed);
  EXPECT_EQ(*ja->error_code, mf::ErrorCode::BadFile);
  EXPECT_NE(ja->error_message.find("job.json"), std::string::npos) << ja->error_message;
  EXPECT_EQ(engine.job(b)->state, JobState::Finished);
}

TEST(EnginePersistence, JobInfoJsonRoundTrips) {
  JobInfo j;
  j.id = "000042";
  j.state = JobState::Failed;
  j.spec = tiny_spec(9);
  j.options.step_checkpoints = true;
  j.options.full_decode_every = 3;
  j.completed_steps = 4;
  j.total_steps = 6;
  j.attempts = 2;
  j.resumed_from_step = 2;
  j.has_final_latents = true;
  j.outputs = {"a.mp4", "a.json"};
  j.error_code = mf::ErrorCode::OutOfMemory;
  j.error_message = "too big";
  j.stage_seconds = {{"denoise", 1.5}};
  auto k = job_info_from_json(to_json(j), "t");
  EXPECT_EQ(to_json(k), to_json(j));
  EXPECT_EQ(*k.error_code, mf::ErrorCode::OutOfMemory);
  EXPECT_EQ(k.spec, j.spec);
  EXPECT_THROW(job_info_from_json(nlohmann::json{{"id", "1"}, {"state", "bogus"}, {"spec", to_json(j)["spec"]}}, "t"),
               mf::Error);
}

TEST(EnginePersistence, AtomicWriteReplacesWholeFiles) {
  const std::string dir = temp_dir("atomic");
  const std::string p = (fs::path(dir) / "x.json").string();
  write_file_atomic(p, "first");
  write_file_atomic(p, "second version");
  std::ifstream f(p);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s, "second version");
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  EXPECT_EQ(n, 1u) << "a temp file was left behind";
  EXPECT_THROW(write_file_atomic((fs::path(dir) / "no" / "such" / "x").string(), "y"), mf::Error);
}
