// Every task end to end on a test pipeline folder (make_test_pipeline: random tiny weights, the official layout):
// load, prepare (media inputs, conditions, depth, T5, schedule, noise), denoise with CFG, decode and write. Checks
// the condition tensors against the reference table (mfm-reference.md C.3: frame counts, known frames, masks,
// letterbox, depth only on the known frames of generation tasks) and the written files (official frame count and
// size, recipe embedded and in the sidecar). Also pause/resume and the stage split used by the engine.
#include <gtest/gtest.h>

#include <fstream>

#include "mf/core/error.h"
#include "mf/media/metadata.h"
#include "mf/media/reader.h"
#include "pipeline_test_util.h"

using namespace mf::pipeline;
using namespace mf::pipeline::testing;
using mf::tasks::TaskId;

namespace {

struct Shape {
  const char* name;
  int w, h;
};
const Shape kShapes[] = {{"landscape", 80, 48}, {"portrait", 40, 72}, {"odd", 45, 61}};

fs::path work_dir() {
  static const fs::path d = [] {
    auto p = fs::temp_directory_path() / ("mf_pipeline_e2e_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// Input files for `task` at `shape`, written once.
mf::tasks::TaskSpec make_spec(TaskId task, const Shape& sh, mf::tasks::CropMode crop) {
  using namespace mf::tasks;
  TaskSpec s = official_defaults(task);
  s.prompt = "a small red square moves";
  s.width = 48;
  s.height = 32;
  if (task_facts(task).official_num_frames == 0) s.num_frames = task == TaskId::T2V ? 9 : 5;
  s.crop = crop;
  s.steps = 2;
  s.upscale = 2;
  s.seed = 7;
  const std::string tag = std::string(sh.name) + "_" + to_string(task);
  const auto& f = task_facts(task);
  if (f.input == InputKind::Image) {
    for (int i = 0; i < f.num_inputs; ++i) {
      const auto path = work_dir() / (tag + "_img" + std::to_string(i) + ".png");
      mf::media::write_png(path, make_frames(sh.w, sh.h, 1, 5 * i)[0]);
      s.images.push_back(path.string());
    }
    if (f.mask == MaskUse::Required) {
      const auto path = work_dir() / (tag + "_mask.png");
      mf::media::write_png(path, make_masks(sh.w, sh.h, 1)[0]);
      s.mask = path.string();
    }
  } else if (f.input == InputKind::Video) {
    for (int i = 0; i < f.num_inputs; ++i) {
      s.clips.push_back(write_clip(work_dir() / (tag + "_clip" + std::to_string(i) + ".mkv"),
                                   make_frames(sh.w, sh.h, 10 + 2 * i, 3 * i)));
    }
    if (f.mask == MaskUse::Required)
      s.mask = write_clip(work_dir() / (tag + "_mask.mkv"), make_masks(sh.w, sh.h, 10));
  }
  return s;
}

// Mask value at the centre of frame t of the conditional half.
float centre_mask(const Prepared& p, int t) { return p.cond_masks[1][0][t][p.height / 2][p.width / 2].item<float>(); }
float depth_abs_sum(const Prepared& p, int half, int t) { return p.cond_pixels[half][3][t].abs().sum().item<float>(); }

void check_conditions(const Prepared& p) {
  using namespace mf::tasks;
  const TaskId task = p.spec.task;
  const auto& f = task_facts(task);
  const int T = p.num_frames;
  // Frame counts.
  if (f.image_output) EXPECT_EQ(T, 1);
  else if (f.generation) EXPECT_EQ(T, p.spec.num_frames);  // the official 97, or the length the user set
  else if (task == TaskId::T2V) EXPECT_EQ(T, 9);
  else EXPECT_EQ(T, 5);
  ASSERT_EQ(p.cond_pixels.sizes().vec(), (std::vector<int64_t>{2, 4, T, p.height, p.width}));
  ASSERT_EQ(p.cond_masks.sizes().vec(), (std::vector<int64_t>{2, 1, T, p.height, p.width}));
  EXPECT_EQ(p.height % 16, 0);
  EXPECT_EQ(p.width % 16, 0);
  // Known frames as the reference table says.
  std::vector<int> known;
  switch (task) {
    case TaskId::T2V: case TaskId::T2I: break;
    case TaskId::I2V: known = {0}; break;
    case TaskId::ITrans: known = {0, T - 1}; break;
    case TaskId::VExd: for (int i = 0; i < 8; ++i) known.push_back(i); break;
    case TaskId::VTrans:
      for (int i = 0; i < 8; ++i) known.push_back(i);
      for (int i = T - 8; i < T; ++i) known.push_back(i);
      break;
    default: for (int i = 0; i < T; ++i) known.push_back(i);
  }
  EXPECT_EQ(p.plan.known, known);
  const bool hole = f.mask == MaskUse::Required;  // our masks are black in the middle
  std::vector<bool> is_known(T, false);
  for (int t : known) is_known[t] = true;
  for (int t = 0; t < T; ++t) {
    const float m = centre_mask(p, t);
    EXPECT_EQ(m, is_known[t] && !hole ? 1.0f : 0.0f) << "frame " << t;
    // Depth only on the known frames of generation tasks, never in the unconditional half.
    EXPECT_EQ(depth_abs_sum(p, 0, t), 0.0f);
    if (f.generation && is_known[t]) EXPECT_GT(depth_abs_sum(p, 1, t), 0.0f) << "frame " << t;
    else EXPECT_EQ(depth_abs_sum(p, 1, t), 0.0f) << "frame " << t;
  }
  // keep_ratio letterbox: a border with mask 0 wherever the fitted picture does not cover the canvas.
  if (p.geometry.letterboxed() && !known.empty()) {
    const int t = known[0];
    if (p.geometry.offset_y > 0) EXPECT_EQ(p.cond_masks[1][0][t][0][p.width / 2].item<float>(), 0.0f);
    if (p.geometry.offset_x > 0) EXPECT_EQ(p.cond_masks[1][0][t][p.height / 2][0].item<float>(), 0.0f);
  }
  // RGB x mask: nothing where the mask is 0.
  EXPECT_EQ((p.cond_pixels[1].slice(0, 0, 3) * (p.cond_masks[1] == 0)).abs().max().item<float>(), 0.0f);
}

void run_and_check_outputs(Pipeline& pipe, const Prepared& p, const std::string& out_base) {
  using namespace mf::tasks;
  auto r = pipe.denoise(p, p.initial_latents, 0, {});
  ASSERT_TRUE(r.finished());
  int streamed = 0;
  DecodeControl dc;
  dc.on_frames = [&](int first, const torch::Tensor& frames) {
    EXPECT_EQ(first, streamed);
    EXPECT_EQ(frames.dim(), 4);
    streamed += static_cast<int>(frames.size(0));
  };
  const Outputs out = pipe.decode_and_write(p, r.latents, out_base, dc);
  ASSERT_EQ(out.files.size(), 2u);
  ASSERT_TRUE(fs::exists(out.files[0]));
  ASSERT_TRUE(fs::exists(out.files[1]));
  const auto& f = task_facts(p.spec.task);
  const int ew = p.output_width > 0 ? p.output_width : p.width;
  const int eh = p.output_height > 0 ? p.output_height : p.height;
  if (p.spec.task == TaskId::ISR) {
    EXPECT_EQ(ew, p.geometry.input.width * p.spec.upscale);
    EXPECT_EQ(eh, p.geometry.input.height * p.spec.upscale);
  }
  if (p.spec.task == TaskId::IColor) EXPECT_EQ(ew, p.geometry.input.width);
  const auto info = mf::media::probe(out.files[0]);
  EXPECT_EQ(info.width, ew);
  EXPECT_EQ(info.height, eh);
  if (f.image_output) {
    EXPECT_EQ(fs::path(out.files[0]).extension(), ".png");
    EXPECT_EQ(streamed, 1);
  } else {
    const auto of = output_frames(p.plan, Drop3Policy::EvenLatentOnly);
    EXPECT_EQ(info.frame_count, of.final_count);
    EXPECT_EQ(streamed, of.final_count);
    EXPECT_EQ(of.final_count, decoded_frames(latent_frames(p.num_frames)) + p.plan.pre_frames + p.plan.post_frames -
                                  of.dropped);
    EXPECT_NEAR(info.fps.to_double(), 24.0, 1e-9);
  }
  // The recipe, embedded and as the sidecar.
  const auto embedded = mf::media::read_recipe(out.files[0]);
  ASSERT_TRUE(embedded.has_value());
  const auto rj = nlohmann::json::parse(*embedded);
  EXPECT_EQ(rj["task"], to_string(p.spec.task));
  EXPECT_EQ(rj["seed"], 7);
  EXPECT_EQ(rj["steps"], 2);
  EXPECT_EQ(rj["shift"], 5.0);
  EXPECT_TRUE(rj["model"]["test_fixture"].get<bool>());
  EXPECT_FALSE(rj["model"]["files"]["transformer"].empty());
  std::ifstream sf(out.files[1]);
  const auto side = nlohmann::json::parse(sf);
  EXPECT_EQ(side["final_prompt"], p.prompt);
  EXPECT_TRUE(side["timings_s"].contains("decode"));
}

class EndToEnd : public ::testing::TestWithParam<std::string> {};

TEST_P(EndToEnd, TaskOnEveryShape) {
  const TaskId task = *mf::tasks::parse_task_id(GetParam());
  Pipeline& pipe = *shared_test_pipeline();
  // Generation tasks: the official 97 frames on the first shape, a short length (a Manyfold option) on the second.
  const bool heavy = mf::tasks::task_facts(task).generation;
  int i = 0;
  for (const Shape& sh : kShapes) {
    if (heavy && i == 2) break;
    if (mf::tasks::task_facts(task).input == mf::tasks::InputKind::None && i == 1) break;  // no input shape
    SCOPED_TRACE(sh.name);
    const auto crop = i % 2 == 0 ? mf::tasks::CropMode::KeepRatio : mf::tasks::CropMode::KeepRes;
    auto spec = make_spec(task, sh, crop);
    if (heavy && i == 1) spec.num_frames = mf::tasks::min_generation_frames(task) + 4;
    if (task == TaskId::T2I || task == TaskId::IColor || task == TaskId::ISR) {
      spec.width = 48;  // the official 1024/1280 boxes are far too big for a unit test
      spec.height = 32;
    }
    const Prepared p = pipe.prepare(spec);
    check_conditions(p);
    if (mf::tasks::task_facts(task).input != mf::tasks::InputKind::None) {
      const bool portrait = sh.w < sh.h;
      EXPECT_EQ(p.geometry.swapped, portrait);
      if (crop == mf::tasks::CropMode::KeepRatio) {
        EXPECT_EQ(p.width, portrait ? 32 : 48);
        EXPECT_EQ(p.height, portrait ? 48 : 32);
      }
    }
    run_and_check_outputs(pipe, p, (work_dir() / (std::string(sh.name) + "_" + GetParam() + "_out")).string());
    ++i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTasks, EndToEnd, ::testing::ValuesIn(all_task_keys()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(PipelineStages, PauseAndResumeGiveTheUninterruptedResult) {
  Pipeline& pipe = *shared_test_pipeline();
  auto spec = make_spec(TaskId::T2V, kShapes[0], mf::tasks::CropMode::KeepRatio);
  spec.steps = 4;
  const Prepared p = pipe.prepare(spec);
  const auto full = pipe.denoise(p, p.initial_latents, 0, {});
  DenoiseControl pause;
  int seen = 0;
  pause.on_step = [&](const StepEvent& e) {
    EXPECT_EQ(e.step, seen);
    EXPECT_EQ(e.total, 4);
    EXPECT_EQ(e.predicted.sizes(), e.latents.sizes());
    // x0 = x_i - sigma_i v and x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v agree on v.
    ++seen;
    return e.step < 1;  // pause after step 1
  };
  const auto half = pipe.denoise(p, p.initial_latents, 0, pause);
  EXPECT_EQ(half.completed_steps, 2);
  EXPECT_FALSE(half.finished());
  const auto rest = pipe.denoise(p, half.latents, half.completed_steps, {});
  EXPECT_TRUE(rest.finished());
  EXPECT_TRUE(torch::equal(rest.latents, full.latents));
  // The preview of latents is a small RGB picture per latent frame.
  const auto pv = pipe.preview(full.latents);
  EXPECT_EQ(pv.sizes().vec(), (std::vector<int64_t>{3, 4, 6, 3}));
  EXPECT_EQ(pv.scalar_type(), torch::kUInt8);
}

TEST(PipelineStages, KeepKnownPixelsKeepsTheInputOutsideTheMaskAndTheModelInside) {
  namespace F = torch::nn::functional;
  Pipeline& pipe = *shared_test_pipeline();
  auto spec = make_spec(TaskId::VInp, kShapes[0], mf::tasks::CropMode::KeepRes);
  const Prepared plain = pipe.prepare(spec);
  spec.keep_known_pixels = true;
  const Prepared kept = pipe.prepare(spec);
  const auto r = pipe.denoise(plain, plain.initial_latents, 0, {});
  auto frames_of = [&](const Prepared& p, const std::string& name) {
    std::vector<torch::Tensor> got;
    DecodeControl dc;
    dc.on_frames = [&](int, const torch::Tensor& f) { got.push_back(f.clone()); };
    const auto out = pipe.decode_and_write(p, r.latents, (work_dir() / name).string(), dc);
    return std::make_pair(torch::cat(got, 0).to(torch::kInt), out.recipe);  // [T, H, W, 3]
  };
  const auto [a, recipe_a] = frames_of(plain, "keep_off");
  const auto [b, recipe_b] = frames_of(kept, "keep_on");
  EXPECT_FALSE(recipe_a["keep_known_pixels"].get<bool>());
  EXPECT_TRUE(recipe_b["keep_known_pixels"].get<bool>());
  ASSERT_EQ(a.sizes(), b.sizes());
  ASSERT_EQ(a.size(0), kept.num_frames);
  const auto cond = kept.cond_pixels[1].slice(0, 0, 3);                          // [3, T, H, W]
  const auto input = ((cond + 1) * 127.5).round().to(torch::kInt).permute({1, 2, 3, 0});  // [T, H, W, 3]
  const auto keep = (kept.cond_masks[1][0] >= 0.5).to(torch::kFloat);            // [T, H, W]
  // 4 pixels or more inside the kept region: the input exactly; in the hole: the model's frame untouched.
  const auto deep = (1 - F::max_pool2d(1 - keep.unsqueeze(1), F::MaxPool2dFuncOptions(9).stride(1).padding(4)))
                        .squeeze(1).unsqueeze(-1).expand_as(b) > 0.5;
  const auto hole = (keep < 0.5).unsqueeze(-1).expand_as(b);
  ASSERT_GT(deep.sum().item<int64_t>(), 0);
  ASSERT_GT(hole.sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(b.masked_select(deep), input.masked_select(deep)));
  EXPECT_FALSE(torch::equal(a.masked_select(deep), input.masked_select(deep)));  // a random model changes them
  EXPECT_TRUE(torch::equal(b.masked_select(hole), a.masked_select(hole)));
  // Tasks whose condition is not the picture to keep refuse it.
  auto sr = make_spec(TaskId::VSR, kShapes[0], mf::tasks::CropMode::KeepRes);
  sr.keep_known_pixels = true;
  EXPECT_THROW(pipe.prepare(sr), mf::Error);
}

TEST(PipelineStages, SeedIsRecordedAndReproducible) {
  Pipeline& pipe = *shared_test_pipeline();
  auto spec = make_spec(TaskId::T2V, kShapes[0], mf::tasks::CropMode::KeepRatio);
  spec.seed.reset();
  const Prepared a = pipe.prepare(spec);
  ASSERT_TRUE(a.spec.seed.has_value());
  spec.seed = a.seed;
  const Prepared b = pipe.prepare(spec);
  EXPECT_TRUE(torch::equal(a.initial_latents, b.initial_latents));
  spec.seed = a.seed + 1;
  EXPECT_FALSE(torch::equal(pipe.prepare(spec).initial_latents, a.initial_latents));
  // Text goes through the embedding cache: the same prompt gives the same embeddings.
  EXPECT_TRUE(torch::equal(a.prompt_embeds, b.prompt_embeds));
  EXPECT_EQ(a.prompt_embeds.size(1), 77);
  EXPECT_EQ(a.prompt_embeds[1].sum().item<float>(), b.prompt_embeds[1].sum().item<float>());
}

TEST(PipelineStages, Bf16PolicyKeepsLatentsInBf16) {
  LoadOptions lo;
  lo.dtype = torch::kBFloat16;
  auto pipe = Pipeline::load(test_pipeline_dir(), lo);
  auto spec = make_spec(TaskId::T2V, kShapes[0], mf::tasks::CropMode::KeepRatio);
  const Prepared p = pipe->prepare(spec);
  DenoiseControl c;
  c.on_step = [](const StepEvent& e) {
    EXPECT_EQ(e.latents.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(e.model_output.scalar_type(), torch::kFloat);
    return true;
  };
  const auto r = pipe->denoise(p, p.initial_latents, 0, c);
  // Latents after every step are representable in bf16.
  EXPECT_TRUE(torch::equal(r.latents, r.latents.to(torch::kBFloat16).to(torch::kFloat)));
  EXPECT_TRUE(torch::isfinite(r.latents).all().item<bool>());
}

}  // namespace
