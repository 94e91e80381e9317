// The trainer core and the VAE stage on tiny configs (32x32 pixels, 9 frames, widths 8/16): config validation,
// dataset determinism and splits, autograd through the real VAE modules, loss going down, exact resume,
// atomic checkpoints, and the exported vae/ folder.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "../../common/temp_dir.h"
#include "training_test_util.h"
#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/toyworld/render.h"
#include "mf/training/training.h"
#include "mf/vae/cogvideox_vae.h"

namespace fs = std::filesystem;
using namespace mf::training;
using namespace mf::training::test;
using nlohmann::json;

namespace {

struct TempDir : mf::test::TempDir {
  explicit TempDir(const std::string& name) : mf::test::TempDir("mf_training", name) {}
};

json tiny_json() {
  return {{"stage", "vae"},
          {"steps", 8},
          {"batch", 2},
          {"lr", 2e-3},
          {"warmup_steps", 2},
          {"width", 32},
          {"height", 32},
          {"frames", 9},
          {"seed", 7},
          {"val_size", 2},
          {"checkpoint_every", 4},
          {"checkpoint_minutes", 0},
          {"log_every", 2},
          {"vae", {{"block_out_channels", {8, 16, 16, 16}}, {"norm_num_groups", 4}, {"kl_weight", 1e-4}}}};
}

TrainConfig tiny_config(json patch = json::object()) {
  json j = tiny_json();
  j.merge_patch(patch);
  return TrainConfig::from_json(j, "test config");
}

std::string config_error(const json& j) {
  try {
    TrainConfig::from_json(j, "cfg.json");
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << j.dump();
  return "";
}

std::vector<std::string> csv_step_loss(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // step,loss,rec,kl,... : keep the deterministic columns
    std::stringstream ss(line);
    std::string a, b, c, d;
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    std::getline(ss, c, ',');
    std::getline(ss, d, ',');
    rows.push_back(a + "," + b + "," + c + "," + d);
  }
  return rows;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
TEST(TrainConfig, DefaultsRoundTripAndSchedule) {
  auto c = tiny_config();
  EXPECT_EQ(c.stage, "vae");
  EXPECT_EQ(c.steps, 8);
  EXPECT_EQ(c.vae.model.block_out_channels, (std::vector<int>{8, 16, 16, 16}));
  EXPECT_EQ(c.vae.model.latent_channels, 16);
  auto again = TrainConfig::from_json(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
  EXPECT_TRUE(resume_conflicts(c, again).empty());
  // warmup 2: lr/2, lr, then constant
  EXPECT_DOUBLE_EQ(c.lr_at(0), 1e-3);
  EXPECT_DOUBLE_EQ(c.lr_at(1), 2e-3);
  EXPECT_DOUBLE_EQ(c.lr_at(5), 2e-3);
  auto cos = tiny_config({{"lr_schedule", "cosine"}, {"min_lr", 1e-4}});
  EXPECT_DOUBLE_EQ(cos.lr_at(2), 2e-3);
  EXPECT_NEAR(cos.lr_at(7), 1e-4, 1e-12);
  EXPECT_LT(cos.lr_at(5), cos.lr_at(3));
  // the toy model's VAE
  const auto toy = VaeStageOptions::toy_model();
  EXPECT_EQ(toy.block_out_channels, (std::vector<int>{16, 32, 32, 64}));
  EXPECT_EQ(toy.spatial_compression_ratio(), 8);
  EXPECT_EQ(toy.temporal_compress_level(), 2);
}

TEST(TrainConfig, ListsEveryProblem) {
  json j = tiny_json();
  j["frames"] = 8;
  j["lr"] = -1;
  j["batch"] = "two";
  j["colour"] = "red";
  j["width"] = 30;
  j["vae"]["latent_channels"] = 8;
  j["vae"]["wobble"] = 1;
  j["vae"]["recon_loss"] = "l3";
  j.erase("steps");
  const std::string msg = config_error(j);
  EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("9 problems"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'frames' must be 4k+1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'lr' must be in"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'batch' must be an integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'colour'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("multiples of 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'vae.latent_channels' must be 16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'vae.wobble'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'vae.recon_loss' must be one of"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'steps' is required"), std::string::npos) << msg;
  EXPECT_NE(config_error({{"stage", "vae"}, {"steps", 1}, {"frames", 5}}).find("8k+1"), std::string::npos);

  EXPECT_NE(config_error({{"stage", "dit"}, {"steps", 1}}).find("'stage' must be one of"), std::string::npos);
  EXPECT_NE(config_error({{"stage", "vae"}, {"steps", 1}, {"vae", {{"norm_num_groups", 5}}}}).find("does not divide"),
            std::string::npos);
  EXPECT_NE(config_error({{"stage", "vae"}, {"steps", 1}, {"betas", {0.9}}}).find("'betas'"), std::string::npos);
  try {
    TrainConfig::from_json_text("{\"stage\": ", "broken.json");
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
  // a resumed run must keep the run-defining keys
  auto a = tiny_config(), b = tiny_config({{"lr", 1e-3}, {"steps", 100}});
  auto diff = resume_conflicts(a, b);
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_NE(diff[0].find("'lr'"), std::string::npos);
}

TEST(TrainConfig, DeviceIsValidatedAndMayChangeOnResume) {
  EXPECT_EQ(tiny_config().device, "cpu");
  EXPECT_EQ(tiny_config({{"device", "cuda:1"}}).device, "cuda:1");
  EXPECT_EQ(tiny_config({{"device", "cuda"}}).to_json().at("device"), "cuda");
  for (const json& bad : {json("gpu"), json("cuda:"), json("CPU"), json(0)}) {
    json j = tiny_json();
    j["device"] = bad;
    EXPECT_NE(config_error(j).find("'device' must be \"cpu\", \"cuda\" or \"cuda:N\""), std::string::npos)
        << bad.dump();
  }
  // a run may continue on another machine
  EXPECT_TRUE(resume_conflicts(tiny_config(), tiny_config({{"device", "cuda"}})).empty());
  EXPECT_EQ(tiny_config().torch_device(), torch::Device(torch::kCPU));
  const auto cuda = tiny_config({{"device", "cuda"}});
  if (torch::cuda::is_available()) {
    EXPECT_TRUE(cuda.torch_device().is_cuda());
    const auto beyond = tiny_config({{"device", "cuda:" + std::to_string(torch::cuda::device_count())}});
    EXPECT_THROW(beyond.torch_device(), mf::Error);
  } else {
    // Debian's CPU-only LibTorch: a clear refusal that says what to do, before any model is built
    try {
      cuda.torch_device();
      ADD_FAILURE() << "no error for device cuda without CUDA";
    } catch (const mf::Error& e) {
      EXPECT_EQ(e.code(), mf::ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
    }
    EXPECT_THROW(VaeStage{cuda}, mf::Error);
  }
}

// ---------------------------------------------------------------------------------------------------------------
TEST(ToyVideoDataset, DeterministicWithShapesAndRange) {
  DatasetOptions o;
  o.width = 32;
  o.height = 24;
  o.frames = 5;
  o.seed = 3;
  ToyVideoDataset a(o), b(o);
  const auto x = a.get(Split::Train, {0, 5, 11});
  const auto y = b.get(Split::Train, {0, 5, 11});
  EXPECT_EQ(x.video.sizes(), (std::vector<int64_t>{3, 3, 5, 24, 32}));
  EXPECT_EQ(x.depth.sizes(), (std::vector<int64_t>{3, 1, 5, 24, 32}));
  EXPECT_EQ(x.video.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(x.video, y.video));
  EXPECT_TRUE(torch::equal(x.depth, y.depth));
  EXPECT_EQ(x.captions, y.captions);
  EXPECT_EQ(x.captions.size(), 3u);
  EXPECT_FALSE(x.captions[0].empty());
  EXPECT_GE(x.video.min().item<float>(), -1.0f);
  EXPECT_LE(x.video.max().item<float>(), 1.0f);
  EXPECT_GT(x.depth.min().item<float>(), 0.0f);
  // a clip is its scene rendered: pixel values match the toy world's frames
  const auto clip = mf::toyworld::render(a.scene(Split::Train, 5));
  const cv::Vec3b px = clip.frames[2].at<cv::Vec3b>(7, 9);
  for (int c = 0; c < 3; ++c)
    EXPECT_FLOAT_EQ(x.video[1][c][2][7][9].item<float>(), static_cast<float>(px[c]) / 127.5f - 1.0f);
  EXPECT_EQ(x.captions[1], clip.caption);
  // another dataset seed gives other clips
  o.seed = 4;
  ToyVideoDataset c(o);
  EXPECT_FALSE(torch::equal(c.get(Split::Train, {0}).video, x.video.narrow(0, 0, 1)));
  // training draws: the same counter gives the same batch, fresh clips without a fixed train_size
  EXPECT_EQ(a.train_indices(3, 2), b.train_indices(3, 2));
  EXPECT_EQ(a.train_indices(3, 2), (std::vector<int64_t>{6, 7}));
  o.train_size = 4;
  ToyVideoDataset fixed(o);
  std::set<int64_t> seen;
  for (uint64_t k = 0; k < 50; ++k)
    for (auto i : fixed.train_indices(k, 2)) {
      EXPECT_GE(i, 0);
      EXPECT_LT(i, 4);
      seen.insert(i);
    }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(fixed.train_indices(9, 3), fixed.train_indices(9, 3));
  EXPECT_THROW(fixed.scene_seed(Split::Train, 4), mf::Error);
}

TEST(ToyVideoDataset, SplitsAreDisjointSeedRanges) {
  DatasetOptions o;
  o.seed = 5;
  o.validation_size = 100;
  ToyVideoDataset d(o);
  std::set<uint64_t> val;
  for (int64_t i = 0; i < d.size(Split::Validation); ++i) val.insert(d.scene_seed(Split::Validation, i));
  EXPECT_EQ(val.size(), 100u);
  for (int64_t i = 0; i < 2000; ++i) EXPECT_EQ(val.count(d.scene_seed(Split::Train, i)), 0u) << i;
  EXPECT_EQ(val.count(d.scene_seed(Split::Train, d.size(Split::Train) - 1)), 0u);
  // every seed of the dataset lies in [seed * 2^32, (seed + 1) * 2^32): other dataset seeds never overlap
  const uint64_t lo = uint64_t(5) << 32, hi = uint64_t(6) << 32;
  EXPECT_EQ(*val.begin(), lo);
  EXPECT_EQ(d.scene_seed(Split::Train, 0), lo + 100);
  EXPECT_LT(d.scene_seed(Split::Train, d.size(Split::Train) - 1), hi);
  // the batch's scene seeds say where it came from
  const auto b = d.range(Split::Validation, 98, 2);
  EXPECT_EQ(b.scene_seeds, (std::vector<uint64_t>{lo + 98, lo + 99}));
  EXPECT_THROW(d.scene_seed(Split::Validation, 100), mf::Error);
}

// ---------------------------------------------------------------------------------------------------------------
TEST(VaeTraining, ForwardTrainMatchesInferenceAndHasGradients) {
  const auto cfg = tiny_config();
  VaeStage stage(cfg);
  auto& vae = stage.vae();
  const auto video = stage.dataset().range(Split::Validation, 0, 2).video;
  for (int64_t t : {1, 9}) {
    auto v = torch::rand({1, 3, t, 16, 24}) * 2 - 1;
    torch::Tensor a, b;
    {
      torch::NoGradGuard ng;
      a = vae.forward_train(v).reconstruction;
    }
    b = vae.decode(vae.encode(v).mean);
    EXPECT_EQ(a.sizes(), b.sizes());
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << t;
  }
  auto gen = at::detail::createCPUGenerator(1);
  auto out = vae.forward_train(video, gen);
  EXPECT_TRUE(out.reconstruction.requires_grad());
  EXPECT_EQ(out.reconstruction.sizes(), video.sizes());
  EXPECT_EQ(out.latents.sizes(), (std::vector<int64_t>{2, 16, 3, 4, 4}));
  EXPECT_FALSE(torch::equal(out.latents, out.posterior.mean));  // a sample, not the mean
  (out.reconstruction - video).abs().mean().backward();
  int with_grad = 0, total = 0;
  for (const auto& p : vae.model()->named_parameters()) {
    ++total;
    if (p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) ++with_grad;
    else ADD_FAILURE() << "no gradient reaches " << p.key();
  }
  EXPECT_EQ(with_grad, total);
}

TEST(VaeTraining, GradientsAgreeBetweenTheWholeClipAndTimeSlicedConvolutions) {
  // The training path pads each causal conv with one replicate pad; with a tiny conv budget the convolutions run
  // frame by frame over narrow/cat slices instead. Both must give the same gradients.
  const auto cfg = tiny_config();
  VaeStage stage(cfg);
  auto& vae = stage.vae();
  const auto video = stage.dataset().range(Split::Train, 0, 1).video;
  auto grads = [&]() {
    vae.model()->zero_grad();
    auto out = vae.forward_train(video);
    (out.reconstruction - video).square().mean().backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : vae.model()->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  const auto whole = grads();
  vae.run_options().conv_chunk_bytes = 1;
  const auto sliced = grads();
  ASSERT_EQ(whole.size(), sliced.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    const double scale = whole[i].abs().max().item<double>() + 1e-12;
    EXPECT_LT((whole[i] - sliced[i]).abs().max().item<double>() / scale, 1e-4) << i;
  }
}

TEST(VaeTraining, LossDecreasesOnAFixedTinyDataset) {
  TempDir dir("decrease");
  auto cfg = tiny_config({{"steps", 30}, {"train_size", 2}, {"checkpoint_every", 0}, {"warmup_steps", 3},
                          {"lr", 3e-3}, {"log_every", 5}});
  VaeStage stage(cfg);
  auto opt = quiet(dir.str());
  opt.export_at_end = false;
  Trainer trainer(stage, cfg, opt);
  EXPECT_EQ(trainer.run(), 30);
  const auto& l = trainer.session_losses();
  ASSERT_EQ(l.size(), 30u);
  const double first = (l[0] + l[1] + l[2]) / 3, last = (l[27] + l[28] + l[29]) / 3;
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
  // the loss log: 6 rows of 5 steps, summary with the loss curve
  EXPECT_EQ(csv_step_loss(dir.str("loss.csv")).size(), 6u);
  std::ifstream in(dir.str("summary.json"));
  const auto s = json::parse(in);
  EXPECT_EQ(s.at("step"), 30);
  EXPECT_TRUE(s.at("finished").get<bool>());
  EXPECT_LT(s.at("last_logged").at("loss").get<double>(), s.at("first_logged").at("loss").get<double>());
  EXPECT_GT(s.at("session").at("steps_per_s").get<double>(), 0.0);
  // the end of the run is checkpointed
  ASSERT_TRUE(trainer.checkpoints().latest());
  EXPECT_EQ(trainer.checkpoints().latest()->step, 30);
}

TEST(VaeTraining, ResumeContinuesExactly) {
  OneThread one;
  TempDir dir("resume");
  const auto cfg = tiny_config();  // 8 steps, checkpoints every 4, posterior samples, fresh clips each step
  // straight
  VaeStage straight(cfg);
  {
    Trainer t(straight, cfg, quiet(dir.str("a")));
    EXPECT_EQ(t.run(), 8);
  }
  // 4 steps, stop (the trainer and the stage are gone), resume in new objects, 4 more
  {
    VaeStage s(cfg);
    Trainer t(s, cfg, quiet(dir.str("b")));
    EXPECT_FALSE(t.resume());
    EXPECT_EQ(t.run(4), 4);
    EXPECT_FALSE(same_tensors(s.module(), straight.module()));
  }
  VaeStage resumed(cfg);
  Trainer t(resumed, cfg, quiet(dir.str("b")));
  ASSERT_TRUE(t.resume());
  EXPECT_EQ(t.state().step, 4);
  EXPECT_EQ(t.state().rng_counter, 8u);  // a batch draw and a noise draw per step
  EXPECT_EQ(t.run(), 8);
  EXPECT_TRUE(same_tensors(resumed.module(), straight.module())) << "resumed weights differ from the straight run";
  // the optimizer state too
  Trainer ta(straight, cfg, quiet(dir.str("a")));
  ASSERT_TRUE(ta.resume());
  const auto oa = adamw_state_tensors(straight.module(), ta.optimizer());
  const auto ob = adamw_state_tensors(resumed.module(), t.optimizer());
  ASSERT_EQ(oa.size(), ob.size());
  for (size_t i = 0; i < oa.size(); ++i) EXPECT_TRUE(torch::equal(oa[i].second, ob[i].second)) << oa[i].first;
  // the loss logs agree (the rows after the checkpoint were redone, not duplicated)
  EXPECT_EQ(csv_step_loss(dir.str("a/loss.csv")), csv_step_loss(dir.str("b/loss.csv")));
  EXPECT_EQ(csv_step_loss(dir.str("b/loss.csv")).size(), 4u);
  // a fresh run refuses to overwrite checkpoints; a different lr refuses to resume
  VaeStage other(cfg);
  Trainer fresh(other, cfg, quiet(dir.str("b")));
  EXPECT_THROW(fresh.run(), mf::Error);
  const auto changed = tiny_config({{"lr", 1e-3}});
  Trainer conflict(other, changed, quiet(dir.str("b")));
  EXPECT_THROW(conflict.resume(), mf::Error);
}

TEST(VaeTraining, RandomCropsAreValidatedAndTrainOnWindowsOfTheClip) {
  // validation: multiples of the spatial compression within the clip, 8k+1 frames
  json bad = tiny_json();
  bad["vae"]["crop_width"] = 12;
  bad["vae"]["crop_height"] = 40;
  bad["vae"]["crop_frames"] = 5;
  const std::string msg = config_error(bad);
  EXPECT_NE(msg.find("'vae.crop_width' and 'vae.crop_height' must be multiples of 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'vae.crop_frames' must be 8k+1"), std::string::npos) << msg;
  const auto cfg = tiny_config({{"vae", {{"crop_width", 16}, {"crop_height", 8}, {"crop_frames", 9}}}});
  EXPECT_EQ(TrainConfig::from_json(cfg.to_json(), "round trip").to_json(), cfg.to_json());

  // the window: the requested size, the clip's own pixels, offsets that vary with the draw
  const auto video = torch::arange(2 * 3 * 9 * 32 * 32, torch::kFloat).view({2, 3, 9, 32, 32});
  std::set<std::pair<int64_t, int64_t>> origins;
  for (uint64_t r : {0ull, 0x0001000500030ull, 0xffffffffffffull, 0x123456789abcull}) {
    const auto c = random_crop(video, 1, 8, 16, r);
    ASSERT_EQ(c.sizes(), (std::vector<int64_t>{2, 3, 1, 8, 16}));
    const auto v0 = c[0][0][0][0][0].item<float>();
    const int64_t t0 = static_cast<int64_t>(v0) / (32 * 32), y0 = static_cast<int64_t>(v0) % (32 * 32) / 32,
                  x0 = static_cast<int64_t>(v0) % 32;
    EXPECT_TRUE(torch::equal(c, video.slice(2, t0, t0 + 1).slice(3, y0, y0 + 8).slice(4, x0, x0 + 16)));
    origins.insert({y0, x0});
  }
  EXPECT_GE(origins.size(), 3u);
  EXPECT_TRUE(torch::equal(random_crop(video, 0, 0, 0, 42), video));
  EXPECT_THROW(random_crop(video, 0, 40, 0, 1), mf::Error);

  // training on crops: one more draw per step (the offsets), and the loss is finite
  auto crop_cfg = tiny_config({{"steps", 2}, {"checkpoint_every", 0},
                               {"vae", {{"crop_width", 16}, {"crop_height", 16}, {"sample_posterior", false}}}});
  TempDir dir("crops");
  VaeStage stage(crop_cfg);
  auto opt = quiet(dir.str());
  opt.export_at_end = false;
  Trainer trainer(stage, crop_cfg, opt);
  EXPECT_EQ(trainer.run(), 2);
  EXPECT_EQ(trainer.state().rng_counter, 4u);  // batch + crop per step, no posterior noise
  for (double l : trainer.session_losses()) EXPECT_TRUE(std::isfinite(l));
}

TEST(VaeTraining, StaleTmpCheckpointIsIgnored) {
  TempDir dir("atomic");
  const auto cfg = tiny_config({{"steps", 6}, {"checkpoint_every", 2}, {"keep_checkpoints", 2}});
  VaeStage stage(cfg);
  std::vector<std::pair<std::string, torch::Tensor>> at4;
  {
    Trainer t(stage, cfg, quiet(dir.str()));
    t.run(4);
    for (auto& [n, v] : module_tensors(stage.module())) at4.emplace_back(n, v.clone());
    auto list = t.checkpoints().list();
    ASSERT_EQ(list.size(), 2u);  // steps 2 and 4 (keep 2)
    EXPECT_EQ(list[0].step, 2);
    EXPECT_EQ(list[1].step, 4);
  }
  // a crash while writing step 6: its .tmp folder holds a broken model and a state.json
  const fs::path root = dir.str("checkpoints");
  fs::create_directories(root / "step_00000006.tmp");
  std::ofstream(root / "step_00000006.tmp" / "model.safetensors") << "garbage";
  std::ofstream(root / "step_00000006.tmp" / "state.json") << "{\"train_state\": {\"step\": 6}}";
  // and a folder without its state.json (never complete) is no checkpoint either
  fs::create_directories(root / "step_00000008");
  std::ofstream(root / "step_00000008" / "model.safetensors") << "garbage";

  VaeStage fresh(cfg);
  Trainer t(fresh, cfg, quiet(dir.str()));
  ASSERT_TRUE(t.resume());
  EXPECT_EQ(t.state().step, 4);
  const auto now = module_tensors(fresh.module());
  ASSERT_EQ(now.size(), at4.size());
  for (size_t i = 0; i < now.size(); ++i) EXPECT_TRUE(torch::equal(now[i].second, at4[i].second)) << now[i].first;
  // the next save clears the stale temporary
  t.run(1);
  EXPECT_FALSE(fs::exists(root / "step_00000006.tmp"));
  EXPECT_TRUE(fs::exists(root / "step_00000005"));
  // an atomic file write leaves no .tmp behind
  write_file_atomic(dir.str("x.txt"), "hello");
  EXPECT_TRUE(fs::exists(dir.str("x.txt")));
  EXPECT_FALSE(fs::exists(dir.str("x.txt.tmp")));
}

TEST(VaeTraining, ExportedFolderLoadsAndReproducesTheReconstruction) {
  TempDir dir("export");
  const auto cfg = tiny_config({{"steps", 3}});
  VaeStage stage(cfg);
  Trainer t(stage, cfg, quiet(dir.str()));
  t.run();
  const std::string vae_dir = dir.str("vae");
  ASSERT_TRUE(fs::exists(vae_dir + "/config.json"));
  ASSERT_TRUE(fs::exists(vae_dir + "/diffusion_pytorch_model.safetensors"));
  EXPECT_FALSE(fs::exists(vae_dir + ".tmp"));
  std::ifstream in(vae_dir + "/config.json");
  const auto j = json::parse(in);
  EXPECT_EQ(j.at("_class_name"), "AutoencoderKLCogVideoX");
  EXPECT_EQ(j.at("block_out_channels"), json({8, 16, 16, 16}));
  auto src = mf::io::WeightSource::open(vae_dir);
  EXPECT_TRUE(src.contains("encoder.conv_in.conv.weight"));
  EXPECT_TRUE(src.contains("decoder.up_blocks.0.upsamplers.0.conv.weight"));

  auto loaded = mf::vae::CogVideoXVae::load(vae_dir);
  EXPECT_TRUE(same_tensors(*loaded.model(), stage.module()));
  const auto video = stage.dataset().range(Split::Validation, 0, 2).video;
  const auto mine = stage.reconstruct(video);
  torch::Tensor theirs;
  {
    torch::NoGradGuard ng;
    theirs = loaded.decode(loaded.encode(video).mean);
  }
  EXPECT_TRUE(torch::equal(mine, theirs));
  torch::Tensor train_path;
  {
    torch::NoGradGuard ng;
    train_path = stage.vae().forward_train(video).reconstruction;
  }
  EXPECT_LT((train_path - theirs).abs().max().item<double>(), 1e-5);
  // the summary carries the evaluation on the held-out clips
  const auto& s = t.summary();
  EXPECT_EQ(s.at("output"), vae_dir);
  EXPECT_EQ(s.at("evaluation").at("clips"), 2);
  EXPECT_GT(s.at("evaluation").at("latent_std").get<double>(), 0.0);
  // reconstruction previews
  const auto pngs = stage.write_reconstruction_pngs(dir.str("preview"), 0, {0, 8});
  ASSERT_EQ(pngs.size(), 2u);
  EXPECT_TRUE(fs::exists(pngs[0]));
}

TEST(VaeTraining, WeightAverageIsUpdatedCheckpointedResumedAndExported) {
  OneThread one;
  EXPECT_NE(config_error(json{{"stage", "vae"}, {"steps", 1}, {"ema_decay", 1.0}}).find("'ema_decay'"),
            std::string::npos);
  TempDir dir("ema");
  const auto cfg = tiny_config({{"steps", 6}, {"checkpoint_every", 3}, {"ema_decay", 0.9}});
  EXPECT_EQ(TrainConfig::from_json(cfg.to_json(), "round trip").ema_decay, 0.9);

  // one step by hand: average = d * w0 + (1 - d) * w1 with d = min(0.9, (1 + 1) / (10 + 1))
  {
    VaeStage s(cfg);
    std::vector<torch::Tensor> w0;
    for (const auto& p : s.module().parameters()) w0.push_back(p.detach().clone());
    auto o = quiet(dir.str("one"));
    o.export_at_end = false;
    Trainer t(s, cfg, o);
    EXPECT_EQ(t.run(1), 1);
    const auto ema = t.ema_tensors();
    const auto params = s.module().parameters();
    ASSERT_EQ(ema.size(), params.size());
    const double d = 2.0 / 11.0;
    int moved = 0;
    for (size_t i = 0; i < ema.size(); ++i) {
      const auto expect = w0[i] * d + params[i].detach() * (1.0 - d);
      EXPECT_LT((ema[i].second - expect).abs().max().item<double>(), 1e-6) << ema[i].first;
      moved += !torch::equal(params[i].detach(), w0[i]);
    }
    EXPECT_GT(moved, 0);
  }

  // straight through 6 steps, and 3 + 3 with a resume in new objects: the same average
  VaeStage straight(cfg);
  Trainer ts(straight, cfg, quiet(dir.str("a")));
  EXPECT_EQ(ts.run(), 6);
  {
    VaeStage s(cfg);
    Trainer t(s, cfg, quiet(dir.str("b")));
    EXPECT_EQ(t.run(3), 3);
    ASSERT_TRUE(fs::exists(dir.str("b/checkpoints/step_00000003/ema.safetensors")));
  }
  VaeStage resumed(cfg);
  Trainer tr(resumed, cfg, quiet(dir.str("b")));
  ASSERT_TRUE(tr.resume());
  EXPECT_EQ(tr.run(), 6);
  const auto ea = ts.ema_tensors(), eb = tr.ema_tensors();
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_TRUE(torch::equal(ea[i].second, eb[i].second)) << ea[i].first;
  EXPECT_TRUE(same_tensors(straight.module(), resumed.module()));  // training goes on from the raw weights

  // the exported VAE is the average, not the last raw weights; the module keeps the raw ones
  auto src = mf::io::WeightSource::open(dir.str("a/vae"));
  int differ_from_raw = 0;
  const auto raw = straight.module().named_parameters(true);
  for (const auto& [name, avg] : ea) {
    ASSERT_TRUE(src.contains(name)) << name;
    EXPECT_TRUE(torch::equal(src.read(name, torch::kFloat), avg)) << name;
    differ_from_raw += !torch::equal(raw[name].detach(), avg);
  }
  EXPECT_GT(differ_from_raw, 0);
}

TEST(VaeTraining, DecoderFineTuneFromAFolderKeepsTheEncoderBitForBit) {
  OneThread one;
  TempDir dir("decoder");
  {
    const auto cfg = tiny_config({{"steps", 2}});
    VaeStage s(cfg);
    Trainer t(s, cfg, quiet(dir.str("base")));
    t.run();
  }
  const std::string base = dir.str("base/vae");
  // bad combinations are config problems, named
  EXPECT_NE(config_error(json{{"stage", "vae"}, {"steps", 1}, {"vae", {{"freeze_encoder", true}}}})
                .find("'vae.freeze_encoder' needs 'vae.init_from'"),
            std::string::npos);
  EXPECT_NE(config_error(json{{"stage", "vae"},
                              {"steps", 1},
                              {"vae", {{"init_from", base}, {"block_out_channels", {8, 16, 16, 32}}}}})
                .find("differ from " + base + "/config.json"),
            std::string::npos);
  EXPECT_NE(config_error(json{{"stage", "vae"}, {"steps", 1}, {"vae", {{"init_from", dir.str("nowhere")}}}})
                .find("'vae.init_from'"),
            std::string::npos);

  json j = tiny_json();
  j["vae"] = {{"init_from", base}, {"freeze_encoder", true}};
  j["steps"] = 3;
  const auto cfg = TrainConfig::from_json(j, "decoder config");
  EXPECT_EQ(cfg.vae.model.block_out_channels, std::vector<int>({8, 16, 16, 16}));  // from the folder
  const auto back = TrainConfig::from_json(cfg.to_json(), "round trip");
  EXPECT_EQ(back.vae.init_from, base);
  EXPECT_TRUE(back.vae.freeze_encoder);

  auto original = mf::vae::CogVideoXVae::load(base);
  VaeStage stage(cfg);
  EXPECT_TRUE(same_tensors(*original.model(), stage.module()));  // starts from the folder's weights
  Trainer t(stage, cfg, quiet(dir.str("tuned")));
  EXPECT_EQ(t.run(), 3);
  auto tuned = mf::vae::CogVideoXVae::load(dir.str("tuned/vae"));
  const auto before = original.model()->named_parameters(true);
  int encoder = 0, decoder_moved = 0;
  for (const auto& p : tuned.model()->named_parameters(true)) {
    const bool enc = p.key().rfind("encoder.", 0) == 0;
    if (enc) {
      ++encoder;
      EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
    } else if (p.key().rfind("decoder.", 0) == 0) {
      decoder_moved += !torch::equal(p.value(), before[p.key()]);
    }
  }
  EXPECT_GT(encoder, 0);
  EXPECT_GT(decoder_moved, 0);
  const auto video = stage.dataset().range(Split::Validation, 0, 1).video;
  {
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(original.encode(video).mean, tuned.encode(video).mean));  // the same latent space
  }

  // without freeze_encoder the encoder trains too
  j["vae"] = {{"init_from", base}};
  const auto all = TrainConfig::from_json(j, "whole config");
  VaeStage whole(all);
  Trainer tw(whole, all, quiet(dir.str("whole")));
  tw.run();
  auto w = mf::vae::CogVideoXVae::load(dir.str("whole/vae"));
  torch::NoGradGuard ng;
  EXPECT_FALSE(torch::equal(original.encode(video).mean, w.encode(video).mean));
}

TEST(Progress, LinesAndDurations) {
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(7500), "2h05m");
  std::ostringstream os;
  Progress p(os, "train vae", 10, 5, Progress::Mode::Auto);
  EXPECT_EQ(p.mode(), Progress::Mode::Lines);  // not a terminal
  for (int s = 1; s <= 10; ++s) p.update(s, 0.5, 2.0);
  p.finish();
  const std::string text = os.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_NE(text.find("train vae 5/10  loss 0.50000  2.00 steps/s  ETA 3s"), std::string::npos) << text;
  std::ostringstream bar;
  Progress b(bar, "train vae", 10, 5, Progress::Mode::Bar);
  b.update(10, 0.25, 4.0);
  b.finish();
  EXPECT_NE(bar.str().find("\r"), std::string::npos);
  EXPECT_NE(bar.str().find("[########################] 10/10"), std::string::npos) << bar.str();
}

TEST(VaeTraining, Bf16AutocastAndSampleRenders) {
  TempDir dir("bf16");
  auto base = tiny_config({{"steps", 2}, {"checkpoint_every", 0}, {"warmup_steps", 1}});
  auto bf16 = tiny_config({{"steps", 2}, {"checkpoint_every", 0}, {"warmup_steps", 1}, {"precision", "bf16"},
                           {"sample_every", 2}});
  auto run = [&](const TrainConfig& cfg, const std::string& sub) {
    torch::manual_seed(5);
    VaeStage stage(cfg);
    auto opt = quiet(dir.str(sub));
    opt.export_at_end = false;
    Trainer t(stage, cfg, opt);
    t.run();
    for (const auto& p : stage.module().parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);  // master weights
    return t.session_losses();
  };
  const auto l32 = run(base, "fp32"), l16 = run(bf16, "bf16");
  ASSERT_EQ(l16.size(), 2u);
  for (double l : l16) EXPECT_TRUE(std::isfinite(l));
  EXPECT_NE(l32[0], l16[0]) << "bf16 autocast had no effect on the forward pass";
  EXPECT_NEAR(l32[0], l16[0], 0.05 * std::abs(l32[0]));
  // sample_every 2: reconstructions of a validation clip at step 2, and a record of them
  const fs::path samples = fs::path(dir.str("bf16")) / "samples" / "step_00000002";
  EXPECT_TRUE(fs::exists(samples / "samples.json"));
  EXPECT_TRUE(fs::exists(samples / "recon_0_frame_0.png"));
  EXPECT_FALSE(fs::exists(fs::path(dir.str("fp32")) / "samples"));
  EXPECT_NE(config_error({{"stage", "vae"}, {"steps", 1}, {"precision", "fp16"}}).find("precision"), std::string::npos);
  EXPECT_NE(config_error({{"stage", "vae"}, {"steps", 1}, {"gradient_checkpointing", true}}).find("only used by stage"),
            std::string::npos);
}

TEST(VaeTraining, LatentNoisePerturbsTheDecoderInputDeterministically) {
  OneThread one;
  TempDir dir("latent_noise");
  EXPECT_NE(config_error([] {
              json j = tiny_json();
              j["vae"]["latent_noise"] = -0.5;
              return j;
            }()).find("'vae.latent_noise'"),
            std::string::npos);
  auto run = [&](double s, const std::string& sub) {
    const auto cfg = tiny_config({{"steps", 3}, {"checkpoint_every", 0}, {"vae", {{"latent_noise", s}}}});
    EXPECT_EQ(cfg.vae.latent_noise, s);
    EXPECT_EQ(TrainConfig::from_json(cfg.to_json(), "again").vae.latent_noise, s);
    VaeStage stage(cfg);
    auto opt = quiet(dir.str(sub));
    opt.export_at_end = false;
    Trainer t(stage, cfg, opt);
    EXPECT_EQ(t.run(), 3);
    return t.session_losses();
  };
  const auto clean = run(0.0, "clean"), noisy = run(1.0, "noisy"), again = run(1.0, "again");
  EXPECT_EQ(noisy, again);  // the noise comes from the run's draws
  // the same weights and clips at step 1: only the decoder's input differs
  EXPECT_NE(noisy[0], clean[0]);
  EXPECT_NEAR(noisy[0], clean[0], 0.5 * clean[0]);
  // a different run-defining key: no resume across it
  EXPECT_FALSE(resume_conflicts(tiny_config(), tiny_config({{"vae", {{"latent_noise", 0.5}}}})).empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Training on a CUDA GPU (skipped where LibTorch has no CUDA, e.g. Debian's CPU build): the same clips, noise and
// initial weights as on the CPU, so a few steps give nearly the same weights (cuDNN convolutions may use TF32,
// hence the loose bound); the checkpoint resumes on the CPU and the exported folder loads there.
TEST(VaeTraining, OnCudaTrainsLikeTheCpuAndResumesOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
  TempDir dir("cuda");
  const auto cpu_cfg = tiny_config({{"steps", 4}, {"checkpoint_every", 2}});
  const auto gpu_cfg = tiny_config({{"steps", 4}, {"checkpoint_every", 2}, {"device", "cuda"}});
  VaeStage on_cpu(cpu_cfg), on_gpu(gpu_cfg);
  EXPECT_TRUE(on_gpu.vae().device().is_cuda());
  EXPECT_LT(max_relative_difference(on_cpu.module(), on_gpu.module()), 1e-6) << "different initial weights";
  Trainer tc(on_cpu, cpu_cfg, quiet(dir.str("cpu"))), tg(on_gpu, gpu_cfg, quiet(dir.str("gpu")));
  EXPECT_EQ(tc.run(), 4);
  EXPECT_EQ(tg.run(), 4);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(tg.session_losses()[i], tc.session_losses()[i], 2e-2 * std::abs(tc.session_losses()[i])) << i;
  EXPECT_LT(max_relative_difference(on_cpu.module(), on_gpu.module()), 2e-2);
  for (const auto& p : on_gpu.module().parameters()) EXPECT_TRUE(p.is_cuda());
  EXPECT_EQ(tg.summary().at("session").at("device"), "cuda");
  // the exported folder and the GPU run's checkpoint are usable on the CPU
  auto loaded = mf::vae::CogVideoXVae::load(dir.str("gpu/vae"));
  EXPECT_LT(max_relative_difference(*loaded.model(), on_gpu.module()), 1e-7);
  const auto more = tiny_config({{"steps", 6}, {"checkpoint_every", 2}});
  VaeStage continued(more);
  Trainer t(continued, more, quiet(dir.str("gpu")));
  ASSERT_TRUE(t.resume());
  EXPECT_EQ(t.run(), 6);
}
