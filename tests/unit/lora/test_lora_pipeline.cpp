// LoRAs per job on one loaded pipeline (the engine's model cache keeps the pipeline between jobs): a job with a
// LoRA differs from the base, the next job without it gives the base result bit for bit, the recipe records the
// LoRA, and a LoRA for another model fails that job with a clear error and leaves the base intact.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "mf/core/error.h"
#include "mf/engine/engine.h"
#include "mf/engine/pipeline_backend.h"
#include "mf/io/tensor_io.h"
#include "mf/media/reader.h"
#include "mf/lora/lora.h"
#include "mf/mfm/config.h"
#include "mf/pipeline/pipeline.h"
#include "mf/pipeline/test_pipeline.h"
#include "mf/tasks/task_spec.h"

namespace fs = std::filesystem;

namespace {

const fs::path& dir() {
  static const fs::path d = [] {
    auto p = fs::temp_directory_path() / ("mf_lora_pipe_" + std::to_string(::getpid()));
    fs::remove_all(p);
    mf::pipeline::TestPipelineOptions o;
    o.tokenizer_dir = (fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "text" / "spm_nfkc_unigram").string();
    o.with_depth = false;
    mf::pipeline::make_test_pipeline((p / "model").string(), o);
    return p;
  }();
  return d;
}

mf::tasks::TaskSpec spec() {
  auto s = mf::tasks::official_defaults(mf::tasks::TaskId::T2V);
  s.prompt = "a red circle moves left";
  s.num_frames = 5;
  s.height = 32;
  s.width = 48;
  s.steps = 2;
  s.seed = 3;
  return s;
}

torch::Tensor run(mf::pipeline::Pipeline& p, const mf::tasks::TaskSpec& s) {
  auto prepared = p.prepare(s);
  return p.denoise(prepared, prepared.initial_latents, 0, {}).latents;
}

}  // namespace

TEST(LoraPipeline, SwitchesPerJobWithoutReloadingTheBase) {
  mf::pipeline::LoadOptions lo;
  lo.dtype = torch::kFloat32;
  auto pipe = mf::pipeline::Pipeline::load((dir() / "model").string(), lo);
  const auto base = run(*pipe, spec());

  // A LoRA on the first block's self-attention query and feed-forward, shaped from the model's own config.
  auto cfg = mf::mfm::Config::from_file((dir() / "model" / "transformer" / "config.json").string());
  const int64_t d = cfg.inner_dim();
  torch::manual_seed(9);
  const auto lora = (dir() / "style.safetensors").string();
  mf::lora::write_lora(lora, {{"transformer_blocks.0.attn1.q_proj", torch::randn({4, d}), torch::randn({d, 4}), 4},
                              {"transformer_blocks.0.ff.fc2", torch::randn({4, 4 * d}), torch::randn({d, 4}), 4}});
  auto with = spec();
  with.loras = {{lora, 1.0}};
  const auto styled = run(*pipe, with);
  EXPECT_FALSE(torch::equal(styled, base));
  EXPECT_TRUE(torch::equal(run(*pipe, spec()), base)) << "the base must come back exactly after a LoRA job";
  EXPECT_TRUE(torch::equal(run(*pipe, with), styled)) << "the same LoRA job must reproduce";

  auto prepared = pipe->prepare(with);
  auto r = pipe->denoise(prepared, prepared.initial_latents, 0, {});
  const auto out = pipe->decode_and_write(prepared, r.latents, (dir() / "styled.mp4").string(), {});
  ASSERT_TRUE(out.recipe.contains("loras"));
  EXPECT_EQ(out.recipe["loras"][0]["path"], lora);
  EXPECT_TRUE(out.recipe["loras"][0].contains("file"));

  // A LoRA for another model size fails the job with a message naming the layer; the base is untouched.
  const auto wrong = (dir() / "wrong.safetensors").string();
  mf::lora::write_lora(wrong, {{"transformer_blocks.0.attn1.q_proj", torch::randn({2, d + 8}), torch::randn({d + 8, 2}), 0}});
  auto bad = spec();
  bad.loras = {{wrong, 1.0}};
  try {
    run(*pipe, bad);
    ADD_FAILURE() << "no error for a mismatched LoRA";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("transformer_blocks.0.attn1.q_proj"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(run(*pipe, spec()), base));
}

TEST(LoraPipeline, JobJsonRoundTripAndValidation) {
  auto s = spec();
  s.loras = {{"/a/b.safetensors", 0.8}};
  const auto back = mf::tasks::task_spec_from_json_string(mf::tasks::to_json_string(s, 0), "test");
  EXPECT_EQ(back, s);
  auto bad = spec();
  bad.loras = {{"", 1.0}};
  EXPECT_TRUE(mf::tasks::has_errors(mf::tasks::validate(bad)));
  EXPECT_THROW(mf::tasks::task_spec_from_json_string(R"({"task":"t2v","loras":[{"scale":1}]})", "test"), mf::Error);
}

TEST(LoraPipeline, EngineLoadsTheBaseOnceForJobsWithAndWithoutLoras) {
  std::atomic<int> loads{0};
  mf::engine::EngineOptions eo;
  eo.dtype = "fp32";
  eo.loader = [&](const mf::engine::ModelKey& key) -> std::shared_ptr<mf::engine::ModelBackend> {
    ++loads;
    mf::pipeline::LoadOptions lo;
    lo.dtype = torch::kFloat32;
    return std::make_shared<mf::engine::PipelineBackend>(key.model, lo);
  };
  mf::engine::Engine engine(eo);
  auto cfg = mf::mfm::Config::from_file((dir() / "model" / "transformer" / "config.json").string());
  const int64_t d = cfg.inner_dim();
  torch::manual_seed(10);
  const auto lora = (dir() / "engine_style.safetensors").string();
  mf::lora::write_lora(lora, {{"transformer_blocks.1.attn1.v_proj", torch::randn({4, d}), torch::randn({d, 4}), 4}});
  auto base = spec();
  base.model = (dir() / "model").string();
  auto styled = base;
  styled.loras = {{lora, 0.8}};
  mf::engine::JobOptions o1, o2, o3;
  o1.output = (dir() / "e_base.mp4").string();
  o2.output = (dir() / "e_styled.mp4").string();
  o3.output = (dir() / "e_base_again.mp4").string();
  const auto a = engine.submit(base, o1), b = engine.submit(styled, o2), c = engine.submit(base, o3);
  ASSERT_TRUE(engine.wait_idle(std::chrono::milliseconds(120000)));
  for (const auto& id : {a, b, c}) ASSERT_EQ(engine.job(id)->state, mf::engine::JobState::Finished) << engine.job(id)->error_message;
  EXPECT_EQ(loads.load(), 1) << "a LoRA job must not reload the base model";
  // Final latents of the jobs: the styled one differs, the two base ones agree exactly.
  auto latents = [&](const mf::engine::JobId& id) {
    const auto outs = engine.job(id)->outputs;
    EXPECT_FALSE(outs.empty());
    return mf::media::read_frames(outs.front());
  };
  const auto fa = latents(a), fb = latents(b), fc = latents(c);
  ASSERT_EQ(fa.size(), fc.size());
  EXPECT_EQ(fa.front().data, fc.front().data);
  EXPECT_NE(fa.front().data, fb.front().data);
}
