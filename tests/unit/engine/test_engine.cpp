// Engine behaviour with the deterministic test model: order, cancel, pause/resume exactness, out-of-memory,
// previews, slow consumers, decode failures, retry and reorder.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "engine_test_util.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;
using namespace mf::engine;
using namespace mf::engine::testing;
using mf::ErrorCode;

namespace {

EngineOptions options_for(const std::string& dir, TestBackendOptions o = {}) {
  EngineOptions eo;
  eo.dir = dir;
  eo.loader = test_loader(o);
  return eo;
}

torch::Tensor read_frames(const std::string& path) {
  return mf::io::WeightSource::open(path).read("frames");
}
torch::Tensor read_latents(const std::string& path) {
  return mf::io::WeightSource::open(path).read("latents");
}

// Runs one job uninterrupted and returns its output frames and final latents.
std::pair<torch::Tensor, torch::Tensor> reference_run(const mf::tasks::TaskSpec& spec) {
  const std::string dir = temp_dir("ref");
  Engine engine(options_for(dir));
  JobId id = engine.submit(spec);
  EXPECT_TRUE(engine.wait_idle());
  auto j = engine.job(id);
  EXPECT_EQ(j->state, JobState::Finished) << j->error_message;
  auto out = std::make_pair(read_frames(j->outputs.at(0)), read_latents((fs::path(dir) / id / "final_latents.safetensors").string()));
  return out;
}

}  // namespace

TEST(Engine, JobsRunInSubmissionOrder) {
  Recorder rec;
  Engine engine(options_for(temp_dir("order")));
  engine.set_event_sink(rec.sink());
  std::vector<JobId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(engine.submit(tiny_spec(10 + i, 3)));
  ASSERT_TRUE(engine.wait_idle());
  auto finished = rec.of(EventKind::Finished);
  ASSERT_EQ(finished.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(finished[i].job, ids[i]);
    ASSERT_EQ(finished[i].outputs.size(), 2u);
    EXPECT_TRUE(fs::exists(finished[i].outputs[0]));
    EXPECT_EQ(finished[i].recipe.at("job_id"), ids[i]);
    EXPECT_GT(finished[i].peak_host_bytes, 0);
    EXPECT_TRUE(finished[i].stage_seconds.count("denoise"));
    EXPECT_TRUE(finished[i].stage_seconds.count("decode"));
  }
  // Each job starts only after the previous one finished.
  std::vector<JobId> started;
  for (auto& e : rec.of(EventKind::StateChanged))
    if (e.state == JobState::Preparing) started.push_back(e.job);
  EXPECT_EQ(started, ids);
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.models.size(), 1u);  // the model stays loaded between jobs
  EXPECT_EQ(snap.models[0].key, "test:tiny [fp32, cpu]");
}

TEST(Engine, DifferentSeedsGiveDifferentOutputsSameSeedSameOutput) {
  auto a = reference_run(tiny_spec(5));
  auto b = reference_run(tiny_spec(5));
  auto c = reference_run(tiny_spec(6));
  EXPECT_TRUE(torch::equal(a.first, b.first));
  EXPECT_TRUE(torch::equal(a.second, b.second));
  EXPECT_FALSE(torch::equal(a.second, c.second));
  EXPECT_EQ(a.first.sizes(), (std::vector<int64_t>{5, 32, 32, 3}));
}

TEST(Engine, CancelDuringStepStopsWithinOneStepAndQueueStaysUsable) {
  TestBackendOptions o;
  o.step_delay_ms = 20;
  Recorder rec;
  std::atomic<int> steps_at_cancel{-1};
  JobId first;
  std::mutex first_mu;
  Engine engine(options_for(temp_dir("cancel"), o));
  engine.set_event_sink(rec.sink([&](const Event& e) {
    std::lock_guard<std::mutex> lk(first_mu);
    if (e.kind == EventKind::Progress && e.job == first && e.step == 3 && steps_at_cancel < 0) {
      steps_at_cancel = e.step;  // the job record may lag its own progress event by one step
      engine.cancel(first);
    }
  }));
  {
    std::lock_guard<std::mutex> lk(first_mu);
    first = engine.submit(tiny_spec(1, 40));
  }
  JobId second = engine.submit(tiny_spec(2, 3));
  ASSERT_TRUE(engine.wait_idle());
  auto j = engine.job(first);
  EXPECT_EQ(j->state, JobState::Cancelled);
  ASSERT_GE(steps_at_cancel.load(), 3);
  EXPECT_LE(j->completed_steps, steps_at_cancel.load() + 1) << "more than one step ran after cancel()";
  EXPECT_LT(j->completed_steps, 40);
  auto failed = rec.of(EventKind::Failed, first);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, ErrorCode::Cancelled);
  EXPECT_EQ(engine.job(second)->state, JobState::Finished);
  // A queued job is cancelled at once and never starts.
  engine.pause();
  JobId third = engine.submit(tiny_spec(3, 3));
  EXPECT_TRUE(engine.cancel(third));
  EXPECT_EQ(engine.job(third)->state, JobState::Cancelled);
  EXPECT_FALSE(engine.cancel(third));
  EXPECT_FALSE(engine.cancel("nope"));
}

TEST(Engine, PauseResumeGivesExactlyTheUninterruptedOutput) {
  const auto spec = tiny_spec(77, 10);
  auto ref = reference_run(spec);

  TestBackendOptions o;
  o.step_delay_ms = 10;
  auto eo = options_for(temp_dir("pause"), o);
  eo.release_models_on_pause = true;
  Recorder rec;
  Engine engine(eo);
  engine.set_event_sink(rec.sink([&](const Event& e) {
    if (e.kind == EventKind::Progress && e.step == 3) engine.pause();
  }));
  JobId id = engine.submit(spec);
  ASSERT_TRUE(engine.wait_idle());
  auto j = engine.job(id);
  ASSERT_EQ(j->state, JobState::Paused);
  EXPECT_GE(j->completed_steps, 3);
  EXPECT_LT(j->completed_steps, 10);
  const int paused_at = j->completed_steps;
  auto snap = engine.snapshot();
  EXPECT_TRUE(snap.paused);
  EXPECT_TRUE(snap.models.empty()) << "pause must release the model (device memory)";
  engine.resume();
  ASSERT_TRUE(engine.wait_idle());
  j = engine.job(id);
  ASSERT_EQ(j->state, JobState::Finished) << j->error_message;
  EXPECT_EQ(j->resumed_from_step, paused_at);
  EXPECT_TRUE(torch::equal(read_frames(j->outputs[0]), ref.first));
  EXPECT_TRUE(torch::equal(read_latents((fs::path(eo.dir) / id / "final_latents.safetensors").string()), ref.second));
  // Progress covered every step exactly once across the two runs.
  std::vector<int> steps;
  for (auto& e : rec.of(EventKind::Progress, id)) steps.push_back(e.step);
  std::vector<int> expect(10);
  for (int i = 0; i < 10; ++i) expect[i] = i + 1;
  EXPECT_EQ(steps, expect);
}

TEST(Engine, SimulatedOutOfMemoryFailsOneJobAndTheNextSucceeds) {
  TestBackendOptions o;
  o.fault = [](const mf::tasks::TaskSpec& s, const std::string& stage, int step) {
    if (*s.seed == 666 && stage == "step" && step == 2) throw_simulated_oom("test");
  };
  Recorder rec;
  Engine engine(options_for(temp_dir("oom"), o));
  engine.set_event_sink(rec.sink());
  JobId bad = engine.submit(tiny_spec(666, 5));
  JobId good = engine.submit(tiny_spec(667, 5));
  ASSERT_TRUE(engine.wait_idle());
  auto b = engine.job(bad);
  EXPECT_EQ(b->state, JobState::Failed);
  ASSERT_TRUE(b->error_code.has_value());
  EXPECT_EQ(*b->error_code, ErrorCode::OutOfMemory);
  EXPECT_NE(b->error_message.find("out of device memory"), std::string::npos) << b->error_message;
  EXPECT_NE(b->error_message.find("lower the frame count"), std::string::npos) << b->error_message;
  EXPECT_EQ(engine.job(good)->state, JobState::Finished);
  auto failed = rec.of(EventKind::Failed, bad);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].code, ErrorCode::OutOfMemory);
}

TEST(Engine, ExceptionsAreClassified) {
  auto code_of = [](auto thrower) {
    try {
      thrower();
    } catch (...) {
      return classify_exception(std::current_exception()).first;
    }
    return ErrorCode::Io;
  };
  EXPECT_EQ(code_of([] { throw_simulated_oom("x"); }), ErrorCode::OutOfMemory);
  EXPECT_EQ(code_of([] { TORCH_CHECK(false, "CUDA out of memory. Tried to allocate 20.00 MiB"); }),
            ErrorCode::OutOfMemory);
  EXPECT_EQ(code_of([] { TORCH_CHECK(false, "shape mismatch"); }), ErrorCode::Internal);
  EXPECT_EQ(code_of([] { throw mf::Error(ErrorCode::MissingModel, "m"); }), ErrorCode::MissingModel);
  EXPECT_EQ(code_of([] { throw std::runtime_error("boom"); }), ErrorCode::Internal);
}

TEST(Engine, JobThatCannotFitIsRefusedWithThePlan) {
  auto eo = options_for(temp_dir("refuse"));
  eo.device = "cuda:0";  // the test model ignores the device; the plan treats device and host as separate
  eo.device_budget_bytes = 64 << 10;
  eo.host_budget_bytes = int64_t(8) << 30;
  Recorder rec;
  Engine engine(eo);
  engine.set_event_sink(rec.sink());
  JobId id = engine.submit(tiny_spec(1, 3));
  ASSERT_TRUE(engine.wait_idle());
  auto j = engine.job(id);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(*j->error_code, ErrorCode::OutOfMemory);
  EXPECT_NE(j->error_message.find("does not fit"), std::string::npos) << j->error_message;
  EXPECT_EQ(j->completed_steps, 0);
  auto plans = rec.of(EventKind::Plan, id);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_FALSE(plans[0].plan.at("fits").get<bool>());
  EXPECT_EQ(plans[0].plan.at("options").size(), 4u);
}

TEST(Engine, PreviewForEveryStepWithFramesOfTheExpectedSize) {
  auto eo = options_for(temp_dir("preview"));
  eo.coalesce_previews = false;
  Recorder rec;
  Engine engine(eo);
  engine.set_event_sink(rec.sink());
  JobOptions jo;
  jo.full_decode_every = 2;
  JobId id = engine.submit(tiny_spec(3, 5), jo);
  ASSERT_TRUE(engine.wait_idle());
  std::vector<int> latent_steps, full_steps;
  for (auto& e : rec.of(EventKind::Preview, id)) {
    ASSERT_TRUE(e.frames.defined());
    EXPECT_EQ(e.frames.scalar_type(), torch::kUInt8);
    if (e.full_decode) {
      full_steps.push_back(e.step);
      EXPECT_EQ(e.frames.sizes(), (std::vector<int64_t>{5, 32, 32, 3}));
    } else {
      latent_steps.push_back(e.step);
      EXPECT_EQ(e.frames.sizes(), (std::vector<int64_t>{2, 4, 4, 3}));  // T' x h x w x RGB
    }
  }
  EXPECT_EQ(latent_steps, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(full_steps, (std::vector<int>{2, 4}));
  // Progress carries timing and a decreasing ETA ending at 0.
  auto prog = rec.of(EventKind::Progress, id);
  ASSERT_EQ(prog.size(), 5u);
  EXPECT_EQ(prog.back().eta_seconds, 0.0);
  for (auto& p : prog) {
    EXPECT_EQ(p.total, 5);
    EXPECT_GT(p.seconds_per_step, 0.0);
  }
  // The last preview shows the predicted clean latents of the last step (= the final latents at sigma 0... of
  // the step before): it must differ from the first one.
  auto pv = rec.of(EventKind::Preview, id);
  EXPECT_FALSE(torch::equal(pv.front().frames, pv.back().frames));
}

TEST(Engine, SlowEventConsumerDoesNotSlowTheSampler) {
  TestBackendOptions o;
  o.step_delay_ms = 5;
  Recorder rec;
  Engine engine(options_for(temp_dir("slow"), o));
  engine.set_event_sink(rec.sink([](const Event& e) {
    if (e.kind == EventKind::Preview) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }));
  const int steps = 20;
  auto t0 = std::chrono::steady_clock::now();
  JobId id = engine.submit(tiny_spec(4, steps));
  // Poll the job state (not the events): the job must finish long before 20 previews x 300 ms could be consumed.
  while (engine.job(id)->state != JobState::Finished &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(engine.job(id)->state, JobState::Finished);
  EXPECT_LT(seconds, steps * 0.3 / 2) << "the sampler waited for the event consumer";
  ASSERT_TRUE(engine.wait_idle());
  auto previews = rec.of(EventKind::Preview, id);
  EXPECT_LT(previews.size(), size_t(steps)) << "previews were not coalesced";
  ASSERT_FALSE(previews.empty());
  EXPECT_EQ(previews.back().step, steps) << "the latest preview must win";
  EXPECT_EQ(rec.of(EventKind::Progress, id).size(), size_t(steps));  // progress is never dropped
}

TEST(Engine, DecodeFailureKeepsTheDenoisingAndRetryOnlyDecodes) {
  auto fail_decode = std::make_shared<std::atomic<bool>>(true);
  auto steps = std::make_shared<std::atomic<int>>(0);
  TestBackendOptions o;
  o.fault = [fail_decode, steps](const mf::tasks::TaskSpec&, const std::string& stage, int) {
    if (stage == "step") ++*steps;
    if (stage == "decode" && fail_decode->exchange(false))
      throw mf::Error(ErrorCode::Io, "simulated: the output disk is full");
  };
  const auto spec = tiny_spec(21, 6);
  auto ref = reference_run(spec);
  Engine engine(options_for(temp_dir("decode"), o));
  JobId id = engine.submit(spec);
  ASSERT_TRUE(engine.wait_idle());
  auto j = engine.job(id);
  ASSERT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(*j->error_code, ErrorCode::Io);
  EXPECT_TRUE(j->has_final_latents);
  EXPECT_EQ(steps->load(), 6);
  ASSERT_TRUE(engine.retry(id));
  ASSERT_TRUE(engine.wait_idle());
  j = engine.job(id);
  ASSERT_EQ(j->state, JobState::Finished) << j->error_message;
  EXPECT_EQ(steps->load(), 6) << "the retry of a failed decode must not denoise again";
  EXPECT_EQ(j->resumed_from_step, 6);
  EXPECT_EQ(j->attempts, 2);
  EXPECT_TRUE(torch::equal(read_frames(j->outputs[0]), ref.first));
}

TEST(Engine, ReorderAndRetryWithNewSeed) {
  auto eo = options_for(temp_dir("reorder"));
  Recorder rec;
  Engine engine(eo);
  engine.set_event_sink(rec.sink());
  engine.pause();
  JobId a = engine.submit(tiny_spec(1, 2));
  JobId b = engine.submit(tiny_spec(2, 2));
  JobId c = engine.submit(tiny_spec(3, 2));
  EXPECT_TRUE(engine.reorder(c, 0));
  EXPECT_TRUE(engine.reorder(a, 99));
  EXPECT_FALSE(engine.reorder("x", 0));
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.jobs.size(), 3u);
  EXPECT_EQ(snap.jobs[0].id, c);
  EXPECT_EQ(snap.jobs[1].id, b);
  EXPECT_EQ(snap.jobs[2].id, a);
  engine.resume();
  ASSERT_TRUE(engine.wait_idle());
  auto fin = rec.of(EventKind::Finished);
  ASSERT_EQ(fin.size(), 3u);
  EXPECT_EQ(fin[0].job, c);
  EXPECT_EQ(fin[1].job, b);
  EXPECT_EQ(fin[2].job, a);

  JobId a2 = engine.retry_with_new_seed(a, 12345);
  ASSERT_TRUE(engine.wait_idle());
  auto j2 = engine.job(a2);
  ASSERT_EQ(j2->state, JobState::Finished);
  EXPECT_EQ(*j2->spec.seed, 12345u);
  EXPECT_NE(j2->outputs[0], engine.job(a)->outputs[0]);
  EXPECT_FALSE(torch::equal(read_frames(j2->outputs[0]), read_frames(engine.job(a)->outputs[0])));
  EXPECT_FALSE(engine.retry(a)) << "a finished job is not retried in place";
  EXPECT_EQ(engine.clear_finished(), 4u);
  EXPECT_TRUE(engine.snapshot().jobs.empty());
  EXPECT_FALSE(fs::exists(fs::path(eo.dir) / a));
}

TEST(Engine, SubmitValidatesAndFillsTheSeed) {
  Engine engine(options_for(temp_dir("validate")));
  engine.pause();
  auto bad = tiny_spec(1);
  bad.num_frames = 6;
  bad.height = 30;
  try {
    engine.submit(bad);
    FAIL() << "expected BadInput";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("num_frames"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("height"), std::string::npos);
  }
  auto s = tiny_spec(1);
  s.seed.reset();
  JobId id = engine.submit(s);
  EXPECT_TRUE(engine.job(id)->spec.seed.has_value());
}

TEST(Engine, MissingModelFailsTheJobWithAnActionableMessage) {
  EngineOptions eo;
  eo.dir = temp_dir("missing");  // the default loader: no pipeline folder at this path
  Engine engine(eo);
  auto s = tiny_spec(1);
  s.model = "";
  JobId id = engine.submit(s);
  ASSERT_TRUE(engine.wait_idle());
  auto j = engine.job(id);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(*j->error_code, ErrorCode::MissingModel);
  EXPECT_NE(j->error_message.find("--model"), std::string::npos) << j->error_message;
}

TEST(Engine, PlanBeforeSubmittingMatchesTheJobsPlanAndQueuesNothing) {
  Recorder rec;
  Engine engine(options_for(temp_dir("plan")));
  engine.set_event_sink(rec.sink());
  auto spec = tiny_spec(3, 2);
  const MemoryPlan before = engine.plan(spec);
  EXPECT_TRUE(before.fits) << before.message;
  EXPECT_GT(before.tokens, 0);
  EXPECT_TRUE(engine.snapshot().jobs.empty());
  EXPECT_TRUE(engine.snapshot().models.empty());  // planning reads configs; it does not keep a model
  // The plan the job records when it runs is the same.
  engine.submit(spec);
  ASSERT_TRUE(engine.wait_idle());
  auto plans = rec.of(EventKind::Plan);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].plan, before.to_json());
  // A larger job needs more.
  spec.num_frames = 17;
  EXPECT_GT(engine.plan(spec).activation_bytes.at("dit_block"), before.activation_bytes.at("dit_block"));
  spec.model = "";
  EXPECT_THROW(engine.plan(spec), mf::Error);
}
