// The depth and MfM stages on tiny configs (32x32 pixels, 5 frames, widths 16-32): task inputs, the VAE latent
// rescale, training steps, exact resume, and exported folders that the depth estimator and the pipeline load.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "../../common/temp_dir.h"
#include "training_test_util.h"
#include "mf/core/error.h"
#include "mf/depth/depth_estimator.h"
#include "mf/pipeline/pipeline.h"
#include "mf/tasks/task_spec.h"
#include "mf/training/training.h"
#include "mf/vae/cogvideox_vae.h"

namespace fs = std::filesystem;
using namespace mf::training;
using namespace mf::training::test;
using nlohmann::json;
using mf::tasks::TaskId;

namespace {

struct TempDir : mf::test::TempDir {
  explicit TempDir(const std::string& name) : mf::test::TempDir("mf_stages", name) {}
};

std::string tokenizer_dir() { return std::string(MF_SOURCE_DIR) + "/resources/models/manyfold-toy/tokenizer"; }

mf::vae::VaeConfig tiny_vae_config() {
  auto c = VaeStageOptions::toy_model();
  c.block_out_channels = {8, 16, 16, 16};
  c.norm_num_groups = 4;
  return c;
}

// A tiny VAE folder with default (random) weights: the frozen VAE of the MfM stage tests.
std::string write_tiny_vae(const TempDir& dir) {
  torch::manual_seed(3);
  mf::vae::CogVideoXVae vae(tiny_vae_config());
  const std::string out = dir.str("vae");
  write_vae_folder(vae, out);
  return out;
}

json mfm_json(const std::string& vae_dir) {
  return {{"stage", "mfm"},
          {"steps", 4},
          {"batch", 2},
          {"lr", 1e-3},
          {"warmup_steps", 1},
          {"width", 32},
          {"height", 32},
          {"frames", 5},
          {"seed", 5},
          {"val_size", 2},
          {"checkpoint_every", 2},
          {"checkpoint_minutes", 0},
          {"log_every", 1},
          {"mfm",
           {{"vae", vae_dir},
            {"tokenizer", tokenizer_dir()},
            {"heads", 1},
            {"head_dim", 32},
            {"layers", 1},
            {"text_d_model", 16},
            {"text_d_kv", 8},
            {"text_d_ff", 32},
            {"text_layers", 1},
            {"text_heads", 2},
            {"scale_clips", 2},
            {"tasks", {{"vinp", 1.0}, {"t2v", 1.0}, {"isr", 1.0}, {"vcolor", 1.0}}}}}};
}

std::vector<mf::tasks::Image8> gradient_frames(int W, int H, int T) {
  std::vector<mf::tasks::Image8> f;
  for (int t = 0; t < T; ++t) {
    mf::tasks::Image8 im(W, H, 3);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) im.row(y)[x * 3 + c] = static_cast<uint8_t>((x * 4 + y * 2 + t * 10 + c * 50) % 256);
    f.push_back(std::move(im));
  }
  return f;
}

int count_value(const mf::tasks::Image8& m, uint8_t v) {
  int n = 0;
  for (auto p : m.pixels) n += p == v;
  return n;
}

}  // namespace

TEST(MfmStage, TaskInputsLookLikeWhatAUserGives) {
  const auto frames = gradient_frames(32, 32, 5);
  // inpainting: one mask frame per frame, a hole (0) in a kept (255) frame, nothing else
  const auto inp = make_task_inputs(TaskId::VInp, frames, 11, 4);
  ASSERT_EQ(inp.clip1.size(), 5u);
  ASSERT_EQ(inp.mask.size(), 5u);
  for (const auto& m : inp.mask) {
    EXPECT_EQ(m.channels, 1);
    const int hole = count_value(m, 0), keep = count_value(m, 255);
    EXPECT_GT(hole, 32 * 32 / 40);  // at least ~20% x 20% of the frame, less anti-aliasing
    EXPECT_GT(keep, 0);
    EXPECT_EQ(hole + keep, 32 * 32);
  }
  // the same seed gives the same mask, another seed another one (over a few seeds)
  EXPECT_EQ(make_task_inputs(TaskId::VInp, frames, 11, 4).mask[2].pixels, inp.mask[2].pixels);
  bool differs = false;
  for (uint64_t s = 12; s < 16; ++s) differs |= make_task_inputs(TaskId::VInp, frames, s, 4).mask[2].pixels != inp.mask[2].pixels;
  EXPECT_TRUE(differs);
  // outpainting: the hole touches the border, the centre is kept
  const auto outp = make_task_inputs(TaskId::IOutp, {frames[0]}, 3, 4);
  ASSERT_EQ(outp.mask.size(), 1u);
  EXPECT_EQ(outp.mask[0].at(16, 16), 255);
  const auto& m = outp.mask[0];
  EXPECT_TRUE(m.at(0, 16) == 0 || m.at(16, 0) == 0);
  // super-resolution: the clip at 1/4 size
  const auto sr = make_task_inputs(TaskId::VSR, frames, 1, 4);
  ASSERT_EQ(sr.clip1.size(), 5u);
  EXPECT_EQ(sr.clip1[0].width, 8);
  EXPECT_EQ(sr.clip1[0].height, 8);
  EXPECT_TRUE(sr.mask.empty());
  // generation has no inputs; vedit has no toy training pairs
  EXPECT_TRUE(make_task_inputs(TaskId::T2V, frames, 1, 4).clip1.empty());
  EXPECT_THROW(make_task_inputs(TaskId::VEdit, frames, 1, 4), mf::Error);
  // the inputs build the official condition at the clip's size
  auto spec = mf::tasks::official_defaults(TaskId::VInp);
  spec.width = 32;
  spec.height = 32;
  spec.num_frames = 5;
  const auto cf = mf::tasks::build_condition_frames(spec, inp);
  EXPECT_EQ(cf.num_frames(), 5);
  EXPECT_EQ(cf.width(), 32);
}

TEST(MfmStage, LatentRescaleKeepsTheReconstruction) {
  torch::manual_seed(1);
  mf::vae::CogVideoXVae vae(tiny_vae_config());
  const auto video = torch::rand({1, 3, 5, 32, 32}) * 2 - 1;
  torch::NoGradGuard ng;
  const auto before = vae.encode(video);
  const auto rec_before = vae.decode(before.mean);
  std::vector<double> k;
  for (int c = 0; c < 16; ++c) k.push_back(0.5 + 0.1 * c);
  rescale_vae_latents(vae, k);
  const auto after = vae.encode(video);
  const auto kt = torch::tensor(std::vector<float>(k.begin(), k.end())).view({1, 16, 1, 1, 1});
  EXPECT_LT((after.mean - before.mean * kt).abs().max().item<double>(), 1e-4);
  EXPECT_LT((after.logvar - (before.logvar + 2 * kt.log())).abs().max().item<double>(), 1e-4);
  const auto rec_after = vae.decode(after.mean);
  const double rel = ((rec_after - rec_before).norm() / rec_before.norm()).item<double>();
  EXPECT_LT(rel, 1e-4);
}

TEST(MfmStage, ConfigProblemsAreListed) {
  auto j = mfm_json("/nonexistent/vae");
  j["mfm"]["tasks"] = {{"i2v", 1.0}, {"vexd", 1.0}, {"vedit", 1.0}, {"nope", 1.0}};  // 5-frame clips
  j["mfm"]["colour"] = 1;
  j["mfm"].erase("tokenizer");
  try {
    TrainConfig::from_json(j, "cfg.json");
    ADD_FAILURE() << "no error";
  } catch (const mf::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'mfm.tokenizer' is required"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vexd keeps 8 known frame(s), so it trains only on clips of at least 9 frames"),
              std::string::npos) << msg;
    EXPECT_EQ(msg.find("'mfm.tasks.i2v'"), std::string::npos) << msg;  // i2v trains on 5 frames
    EXPECT_NE(msg.find("edit pairs"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown task 'nope'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown key 'mfm.colour'"), std::string::npos) << msg;
  }
  // a missing VAE folder says which stage to train first
  const auto cfg = TrainConfig::from_json(mfm_json("/nonexistent/vae"), "cfg.json");
  try {
    make_stage(cfg);
    ADD_FAILURE() << "no error";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::MissingModel);
    EXPECT_NE(std::string(e.what()).find("train stage \"vae\" first"), std::string::npos) << e.what();
  }
  // the config round-trips (train_config.json of a run is read back on resume)
  const auto again = TrainConfig::from_json(cfg.to_json(), "again");
  EXPECT_EQ(again.to_json(), cfg.to_json());
  EXPECT_TRUE(resume_conflicts(cfg, again).empty());
}

TEST(MfmStage, AdapterOutputStartsAtZeroUnlessAScaleIsGiven) {
  OneThread one;
  TempDir dir("mfm-init");
  const std::string vae = write_tiny_vae(dir);
  auto conv_out_weight = [&](const json& j) {
    auto stage = make_stage(TrainConfig::from_json(j, "cfg.json"));
    auto& s = dynamic_cast<MfmStage&>(*stage);
    for (const auto& kv : s.transformer()->named_parameters())
      if (kv.key() == "cond_conv.conv_out.weight") return kv.value().detach().clone();
    ADD_FAILURE() << "no cond_conv.conv_out.weight";
    return torch::Tensor();
  };
  const auto zero = conv_out_weight(mfm_json(vae));
  ASSERT_TRUE(zero.defined());
  EXPECT_EQ(zero.abs().max().item<float>(), 0.0f);
  auto j = mfm_json(vae);
  j["mfm"]["adapter_out_scale"] = 2.0;
  const auto scaled = conv_out_weight(j);
  ASSERT_TRUE(scaled.defined());
  const double fan_in = static_cast<double>(scaled.numel() / scaled.size(0));
  const double sd = scaled.std().item<double>() * std::sqrt(fan_in);
  EXPECT_GT(sd, 1.6);
  EXPECT_LT(sd, 2.4);
  EXPECT_EQ(TrainConfig::from_json(j, "cfg.json").to_json().at("mfm").at("adapter_out_scale"), 2.0);
  j["mfm"]["adapter_out_scale"] = -1.0;
  EXPECT_THROW(TrainConfig::from_json(j, "cfg.json"), mf::Error);
}

TEST(MfmStage, AdapterGainScalesTheHiddenConvolutions) {
  OneThread one;
  TempDir dir("mfm-gain");
  const std::string vae = write_tiny_vae(dir);
  auto hidden_sd = [&](const json& j) {
    auto stage = make_stage(TrainConfig::from_json(j, "cfg.json"));
    auto& s = dynamic_cast<MfmStage&>(*stage);
    for (const auto& kv : s.transformer()->named_parameters())
      if (kv.key() == "cond_conv.blocks.6.weight") {  // 256 x 256 x 3 x 3: a precise std
        const auto w = kv.value().detach();
        return w.std().item<double>() * std::sqrt(static_cast<double>(w.numel() / w.size(0)));
      }
    ADD_FAILURE() << "no cond_conv.blocks.6.weight";
    return 0.0;
  };
  EXPECT_NEAR(hidden_sd(mfm_json(vae)), 1.0, 0.02);
  auto j = mfm_json(vae);
  j["mfm"]["adapter_gain"] = 1.676;
  EXPECT_NEAR(hidden_sd(j), 1.676, 0.03);
  j["mfm"]["adapter_gain"] = 0.0;
  EXPECT_THROW(TrainConfig::from_json(j, "cfg.json"), mf::Error);
}

TEST(MfmStage, AdapterProbeAddsItsLossReadsPatchesInTheHeadsOrderAndIsNotExported) {
  OneThread one;
  TempDir dir("mfm-probe");
  auto j = mfm_json(write_tiny_vae(dir));
  j["mfm"]["adapter_aux_weight"] = 0.5;
  const auto cfg = TrainConfig::from_json(j, "cfg.json");
  EXPECT_EQ(cfg.to_json().at("mfm").at("adapter_aux_weight"), 0.5);
  auto stage = make_stage(cfg);
  auto& s = dynamic_cast<MfmStage&>(*stage);
  const auto names = stage->metric_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "adapter_aux"), names.end());
  bool has_probe = false;
  for (const auto& kv : stage->module().named_parameters()) has_probe = has_probe || kv.key() == "adapter_probe.weight";
  EXPECT_TRUE(has_probe) << "the probe is not in the checkpointed module";

  // One step's loss is the v-loss plus the weighted probe loss.
  TrainState st;
  st.seed = 3;
  const auto r = stage->train_step(st);
  EXPECT_NEAR(r.loss.item<double>(), r.metrics.at("v_loss") + 0.5 * r.metrics.at("adapter_aux"),
              1e-5 * r.loss.item<double>());
  EXPECT_GT(r.metrics.at("adapter_aux"), 0.0);

  // The probe's error, checked against the transformer head's own unpatchify of the probe's tokens.
  {
    torch::NoGradGuard ng;
    const auto& tc = s.transformer()->config();
    const int64_t B = 2, C = 16, T = 2, hp = 3, wp = 2, p = tc.patch_size, D = tc.inner_dim();
    auto gen = at::detail::createCPUGenerator(7);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    const auto a = at::randn({B, D, T, hp, wp}, gen, f32);
    const auto x0 = at::randn({B, C, T, hp * p, wp * p}, gen, f32);
    std::shared_ptr<torch::nn::LinearImpl> lin;
    for (auto& m : stage->module().named_children())
      if (m.key() == "adapter_probe") lin = std::dynamic_pointer_cast<torch::nn::LinearImpl>(m.value());
    ASSERT_TRUE(lin);
    auto tokens = lin->forward(a.flatten(2).transpose(1, 2));  // [B, S, p*p*C]
    auto y = tokens.view({B, T, hp, wp, p, p, C}).permute({0, 6, 1, 2, 4, 3, 5}).reshape({B, C, T, hp * p, wp * p});
    const auto want = (y - x0).square().mean({1, 2, 3, 4});
    const auto got = s.adapter_probe_error(a, x0);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6)) << got << want;
  }

  Trainer t(*stage, cfg, quiet(dir.str("a")));
  EXPECT_EQ(t.run(), 4);
  const auto& ev = t.summary().at("evaluation");
  ASSERT_TRUE(ev.contains("adapter_probe_unexplained_by_task")) << ev.dump();
  EXPECT_EQ(ev.at("adapter_probe_unexplained_by_task").size(), ev.at("val_loss").size());
  for (const auto& [task, u] : ev.at("adapter_probe_unexplained_by_task").items()) {
    EXPECT_TRUE(std::isfinite(u.get<double>())) << task;
    EXPECT_GT(u.get<double>(), 0.0) << task;
  }
  // the export is the official layout: the probe is a training aid only
  const auto w = mf::io::WeightSource::open(dir.str("a/pipeline/transformer"));
  for (const auto& n : w.names()) EXPECT_EQ(n.find("probe"), std::string::npos) << n;
  j["mfm"]["adapter_aux_weight"] = -1.0;
  EXPECT_THROW(TrainConfig::from_json(j, "cfg.json"), mf::Error);
}

TEST(MfmStage, AdapterDataInitGivesUnitPreActivationsWhereFanInDrawsFade) {
  OneThread one;
  TempDir dir("mfm-adapter-init");
  const std::string vae = write_tiny_vae(dir);
  // The std of each adapter layer's output before SiLU on conditions of training clips (those the stage calibrates
  // on: clips 0-3, though other masks).
  auto layer_stds = [&](const json& j) {
    auto stage = make_stage(TrainConfig::from_json(j, "cfg.json"));
    auto& s = dynamic_cast<MfmStage&>(*stage);
    torch::NoGradGuard ng;
    const auto e = s.make_example(TaskId::VInp, Split::Train, {0, 1, 2, 3}, {11, 12, 13, 14}, std::vector<bool>(4, false),
                                  std::vector<bool>(4, false));
    const auto cond = torch::cat({e.cond, e.cond_mask}, 1);
    std::vector<double> sd;
    for (int l = 0; l < mf::mfm::ConditionAdapterImpl::kLayers; ++l)
      sd.push_back(s.transformer()->cond_conv->layer_output(cond, l).std().item<double>());
    // layer_output and forward agree
    const auto full = s.transformer()->cond_conv->forward(cond);
    const auto last = s.transformer()->cond_conv->layer_output(cond, mf::mfm::ConditionAdapterImpl::kLayers - 1);
    EXPECT_TRUE(torch::allclose(full.permute({0, 2, 1, 3, 4}).reshape(last.sizes()), last));
    return sd;
  };
  auto j = mfm_json(vae);
  j["train_size"] = 8;
  j["mfm"]["adapter_out_scale"] = 0.5;
  const auto fan_in = layer_stds(j);
  EXPECT_LT(fan_in[8], 0.05) << "fan-in draws were expected to fade through the ten SiLU layers";
  j["mfm"]["adapter_init"] = "data";
  const auto data = layer_stds(j);
  for (int l = 0; l + 1 < mf::mfm::ConditionAdapterImpl::kLayers; ++l) {
    EXPECT_GT(data[l], 0.5) << "layer " << l;
    EXPECT_LT(data[l], 2.0) << "layer " << l;
  }
  EXPECT_GT(data.back(), 0.25);
  EXPECT_LT(data.back(), 1.0);
  j["mfm"]["adapter_init"] = "lsuv";
  EXPECT_THROW(TrainConfig::from_json(j, "cfg.json"), mf::Error);
  j["mfm"]["adapter_init"] = "data";
  j["mfm"]["init_from"] = dir.str("x");
  EXPECT_THROW(TrainConfig::from_json(j, "cfg.json"), mf::Error);
}

TEST(MfmStage, InitFromStartsFromAnEarlierRunAndRefusesAnotherVae) {
  OneThread one;
  TempDir dir("mfm-initfrom");
  const auto first = mfm_json(write_tiny_vae(dir));
  auto a = make_stage(TrainConfig::from_json(first, "cfg.json"));
  {
    Trainer t(*a, TrainConfig::from_json(first, "cfg.json"), quiet(dir.str("a")));
    EXPECT_EQ(t.run(), 4);
  }
  const std::string pipe = dir.str("a/pipeline");
  auto j = first;
  j["mfm"]["init_from"] = pipe;
  j["seed"] = 9;  // another random initialisation, which init_from replaces
  auto b = make_stage(TrainConfig::from_json(j, "cfg.json"));
  EXPECT_TRUE(same_tensors(b->module(), a->module())) << "init_from did not load the earlier run's weights";
  {  // the other seed draws other clips, but the run keeps the latent scale the weights were trained with
    const auto& ka = dynamic_cast<MfmStage&>(*a).latent_scale();
    const auto& kb = dynamic_cast<MfmStage&>(*b).latent_scale();
    ASSERT_EQ(ka.size(), kb.size());
    for (size_t c = 0; c < ka.size(); ++c) EXPECT_NEAR(kb[c], ka[c], 1e-4 * ka[c]) << "channel " << c;
  }
  {
    Trainer t(*b, TrainConfig::from_json(j, "cfg.json"), quiet(dir.str("b")));
    EXPECT_EQ(t.run(2), 2);  // and trains on from there
  }
  // another VAE (other random weights): the latents differ, so the weights do not apply
  {
    TempDir other("mfm-initfrom-othervae");
    torch::manual_seed(11);
    mf::vae::CogVideoXVae vae(tiny_vae_config());
    write_vae_folder(vae, other.str("vae"));
    auto k = j;
    k["mfm"]["vae"] = other.str("vae");
    try {
      make_stage(TrainConfig::from_json(k, "cfg.json"));
      ADD_FAILURE() << "a run on another VAE was accepted";
    } catch (const mf::Error& e) {
      EXPECT_NE(std::string(e.what()).find("another VAE"), std::string::npos) << e.what();
    }
  }
  // another architecture: the strict load names the tensors
  {
    auto k = j;
    k["mfm"]["head_dim"] = 16;
    EXPECT_THROW(make_stage(TrainConfig::from_json(k, "cfg.json")), mf::Error);
  }
  // not a pipeline folder
  {
    auto k = j;
    k["mfm"]["init_from"] = dir.str("nothing-here");
    try {
      make_stage(TrainConfig::from_json(k, "cfg.json"));
      ADD_FAILURE() << "a missing init_from folder was accepted";
    } catch (const mf::Error& e) {
      EXPECT_EQ(e.code(), mf::ErrorCode::MissingModel) << e.what();
    }
  }
}

TEST(MfmStage, TrainsResumesExactlyAndExportsAPipelineThatRuns) {
  OneThread one;
  TempDir dir("mfm");
  const auto cfg = TrainConfig::from_json(mfm_json(write_tiny_vae(dir)), "cfg.json");
  auto straight = make_stage(cfg);
  {
    Trainer t(*straight, cfg, quiet(dir.str("a")));
    // T5's shared.weight is also encoder.embed_tokens.weight: the optimizer holds it once
    std::set<const void*> impls;
    size_t n = 0;
    for (const auto& g : t.optimizer().param_groups())
      for (const auto& p : g.params()) {
        impls.insert(p.unsafeGetTensorImpl());
        ++n;
      }
    EXPECT_EQ(impls.size(), n);
    // and every parameter of the text encoder is trained (T5 is an inference module without gradients by default)
    auto& st = dynamic_cast<MfmStage&>(*straight);
    std::vector<std::pair<std::string, torch::Tensor>> t5_before;
    for (const auto& p : st.module().named_parameters(true))
      if (p.key().rfind("text_encoder.", 0) == 0) {
        EXPECT_TRUE(impls.count(p.value().unsafeGetTensorImpl())) << p.key() << " is not optimised";
        t5_before.emplace_back(p.key(), p.value().detach().clone());
      }
    EXPECT_GE(t5_before.size(), 10u);
    EXPECT_EQ(t.run(), 4);
    const auto after = st.module().named_parameters(true);
    int moved = 0;
    for (const auto& [name, before] : t5_before) moved += !torch::equal(after[name].detach(), before);
    EXPECT_GT(moved, static_cast<int>(t5_before.size()) / 2) << "the text encoder did not train";
    for (double l : t.session_losses()) EXPECT_TRUE(std::isfinite(l));
    const auto& ev = t.summary().at("evaluation");
    EXPECT_TRUE(ev.at("val_loss").contains("vinp")) << ev.dump();
    EXPECT_EQ(ev.at("latent_scale").size(), 16u);
    ASSERT_EQ(ev.at("x0_unexplained_by_sigma").size(), 5u) << ev.dump();
    for (const auto& [k, u] : ev.at("x0_unexplained_by_sigma").items()) {
      EXPECT_TRUE(std::isfinite(u.get<double>())) << k;
      EXPECT_GE(u.get<double>(), 0.0) << k;
    }
    // the per-task table averages to the per-sigma one
    const auto& by_task = ev.at("x0_unexplained_by_task");
    EXPECT_EQ(by_task.size(), ev.at("val_loss").size()) << ev.dump();
    for (const auto& [k, u] : ev.at("x0_unexplained_by_sigma").items()) {
      double sum = 0;
      for (const auto& [task, row] : by_task.items()) sum += row.at(k).get<double>();
      EXPECT_NEAR(sum / static_cast<double>(by_task.size()), u.get<double>(), 1e-9 * (1 + u.get<double>())) << k;
    }
    // an untrained model at sigma 1 sees only noise: its clean-latent guess is no better than the mean's
    EXPECT_GT(ev.at("x0_unexplained_by_sigma").at("1.00").get<double>(), 0.5);
  }
  {
    auto s = make_stage(cfg);
    Trainer t(*s, cfg, quiet(dir.str("b")));
    EXPECT_EQ(t.run(2), 2);
  }
  auto resumed = make_stage(cfg);
  Trainer t(*resumed, cfg, quiet(dir.str("b")));
  ASSERT_TRUE(t.resume());
  EXPECT_EQ(t.run(), 4);
  EXPECT_TRUE(same_tensors(resumed->module(), straight->module())) << "resumed weights differ from the straight run";

  // The exported folder is a complete pipeline in the official layout.
  const fs::path p = dir.str("a/pipeline");
  for (const char* f : {"model_index.json", "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
                        "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/spiece.model",
                        "vae/config.json", "scheduler/scheduler_config.json"})
    EXPECT_TRUE(fs::exists(p / f)) << f;
  mf::pipeline::LoadOptions lo;
  lo.load_depth = false;
  auto pipe = mf::pipeline::Pipeline::load(p.string(), lo);
  EXPECT_FALSE(pipe->is_test_fixture());
  auto spec = mf::tasks::official_defaults(TaskId::VInp);
  spec.width = 32;
  spec.height = 32;
  spec.num_frames = 5;
  spec.steps = 2;
  spec.seed = 1;
  spec.prompt = "a red circle moves left";
  spec.clips = {"in.mkv"};  // names only: the decoded inputs come through the overrides
  spec.mask = "mask.mkv";
  mf::pipeline::PrepareOverrides ov;
  ov.inputs = make_task_inputs(TaskId::VInp, gradient_frames(32, 32, 5), 4, 4);
  const auto prep = pipe->prepare(spec, ov);
  const auto r = pipe->denoise(prep, prep.initial_latents, 0);
  EXPECT_TRUE(r.finished());
  const auto video = pipe->decode_video(prep, r.latents);
  // 5 frames are 2 latent frames, which the CogVideoX decoder returns as 4 x 2 = 8 (MfMPipeline's return value)
  EXPECT_EQ(video.sizes(), (std::vector<int64_t>{1, 3, 8, 32, 32}));
  EXPECT_TRUE(torch::isfinite(video).all().item<bool>());
  // the pipeline's transformer is the trained one
  auto& stage = dynamic_cast<MfmStage&>(*straight);
  const auto w = mf::io::WeightSource::open((p / "transformer").string());
  EXPECT_TRUE(torch::equal(w.read("proj_out_2.weight", torch::kFloat, torch::kCPU),
                           stage.transformer()->proj_out_2->weight));
}

TEST(MfmStage, FrozenTextEncoderKeepsItsWeightsWhileTheTransformerTrains) {
  OneThread one;
  TempDir dir("mfm_frozen_t5");
  auto j = mfm_json(write_tiny_vae(dir));
  j["steps"] = 2;
  j["mfm"]["train_text_encoder"] = false;
  const auto cfg = TrainConfig::from_json(j, "cfg.json");
  auto stage = make_stage(cfg);
  auto& st = dynamic_cast<MfmStage&>(*stage);
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : st.module().named_parameters(true)) before[p.key()] = p.value().detach().clone();
  Trainer t(*stage, cfg, quiet(dir.str("out")));
  EXPECT_EQ(t.run(), 2);
  int t5 = 0, t5_moved = 0, other_moved = 0;
  for (const auto& p : st.module().named_parameters(true)) {
    const bool moved = !torch::equal(p.value().detach(), before.at(p.key()));
    if (p.key().rfind("text_encoder.", 0) == 0) {
      ++t5;
      t5_moved += moved;
    } else {
      other_moved += moved;
    }
  }
  EXPECT_GE(t5, 10);
  EXPECT_EQ(t5_moved, 0) << "mfm.train_text_encoder false, but the text encoder changed";
  EXPECT_GT(other_moved, 10) << "the transformer did not train";
  EXPECT_FALSE(cfg.mfm.at("train_text_encoder").get<bool>());  // recorded with the run
}

TEST(MfmStage, GradientCheckpointingBf16AndSampleRenders) {
  OneThread one;
  TempDir dir("mfm_opts");
  const std::string vae = write_tiny_vae(dir);
  auto config = [&](json patch) {
    json j = mfm_json(vae);
    j["steps"] = 2;
    j["frames"] = 9;  // odd latent count: the pipeline returns 9 frames, as the evaluation compares
    j["checkpoint_every"] = 0;
    for (auto it = patch.begin(); it != patch.end(); ++it) j[it.key()] = it.value();
    return TrainConfig::from_json(j, "cfg.json");
  };
  auto losses = [&](const TrainConfig& cfg, const std::string& sub) {
    auto stage = make_stage(cfg);
    auto opt = quiet(dir.str(sub));
    opt.export_at_end = false;
    Trainer t(*stage, cfg, opt);
    EXPECT_EQ(t.run(), 2);
    return t.session_losses();
  };
  const auto plain = losses(config({}), "plain");
  const auto ckpt = losses(config({{"gradient_checkpointing", true}}), "ckpt");
  ASSERT_EQ(ckpt.size(), 2u);
  EXPECT_EQ(plain[0], ckpt[0]);  // same forward
  EXPECT_NEAR(plain[1], ckpt[1], 1e-5 * std::abs(plain[1]));  // after one step with the recomputed gradients

  const auto bf16 = losses(config({{"precision", "bf16"}, {"gradient_checkpointing", true}, {"sample_every", 2}}), "bf16");
  EXPECT_TRUE(std::isfinite(bf16[0]) && std::isfinite(bf16[1]));
  // The first loss is the same (the zero-initialised output layers predict 0 in any precision); after one step
  // the bf16 forward and its gradients show.
  EXPECT_NEAR(bf16[0], plain[0], 1e-3 * std::abs(plain[0]));
  EXPECT_GT(std::abs(bf16[1] - plain[1]), 1e-6 * std::abs(plain[1])) << "bf16 autocast had no effect";
  EXPECT_NEAR(bf16[1], plain[1], 0.1 * std::abs(plain[1]));
  // The sample renders of step 2 went through the inference pipeline of the exported weights.
  const fs::path s = fs::path(dir.str("bf16")) / "samples" / "step_00000002";
  for (const char* f : {"vinp.png", "t2v.png", "samples.json"}) EXPECT_TRUE(fs::exists(s / f)) << f;
  EXPECT_FALSE(fs::exists(s / "pipeline")) << "the exported folder is removed after rendering";
  std::ifstream in(s / "samples.json");
  const auto j = json::parse(in);
  EXPECT_EQ(j.at("step"), 2);
  EXPECT_FALSE(j.at("evaluation").at("rows").empty());
}

TEST(DepthStage, TrainsAndExportsAFolderTheEstimatorLoads) {
  TempDir dir("depth");
  const json j = {{"stage", "depth"}, {"steps", 3}, {"batch", 2}, {"lr", 1e-3}, {"width", 32}, {"height", 32},
                  {"frames", 5}, {"seed", 2}, {"val_size", 2}, {"checkpoint_every", 0}, {"checkpoint_minutes", 0},
                  {"log_every", 1},
                  {"depth", {{"hidden_size", 16}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
                             {"reassemble_hidden_size", 16}, {"neck_hidden_sizes", {8, 8, 16, 16}},
                             {"fusion_hidden_size", 8}, {"head_hidden_size", 4}, {"input_size", 28}}}};
  const auto cfg = TrainConfig::from_json(j, "cfg.json");
  auto stage = make_stage(cfg);
  Trainer t(*stage, cfg, quiet(dir.str()));
  EXPECT_EQ(t.run(), 3);
  for (double l : t.session_losses()) EXPECT_TRUE(std::isfinite(l));
  EXPECT_TRUE(t.summary().at("evaluation").contains("relative_error"));
  auto est = mf::depth::DepthEstimator::load(dir.str("depth"));
  auto& ds = dynamic_cast<DepthStage&>(*stage);
  const auto rgb = torch::randint(0, 256, {32, 32, 3}, torch::kUInt8);
  const auto a = est.predict_depth(rgb), b = ds.predict(rgb);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{32, 32}));
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-5);
  // unknown depth options are listed
  json bad = j;
  bad["depth"]["hidden"] = 3;
  EXPECT_THROW(TrainConfig::from_json(bad, "bad.json"), mf::Error);
}

// ---------------------------------------------------------------------------------------------------------------
// The MfM and depth stages on a CUDA GPU (skipped without one): the same examples, noise and initial weights as on
// the CPU, so two steps (adapter probe and bf16 autocast included) land near the CPU run; sample renders and the
// evaluation run on the GPU through the pipeline.
TEST(MfmStage, OnCudaTrainsLikeTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
  TempDir dir("mfm_cuda");
  json j = mfm_json(write_tiny_vae(dir));
  j["steps"] = 2;
  j["frames"] = 9;
  j["checkpoint_every"] = 0;
  j["mfm"]["adapter_aux_weight"] = 1.0;
  j["mfm"]["adapter_out_scale"] = 1.0;
  const auto cpu_cfg = TrainConfig::from_json(j, "cpu.json");
  j["device"] = "cuda";
  j["sample_every"] = 2;
  const auto gpu_cfg = TrainConfig::from_json(j, "gpu.json");
  auto on_cpu = make_stage(cpu_cfg), on_gpu = make_stage(gpu_cfg);
  EXPECT_LT(max_relative_difference(on_cpu->module(), on_gpu->module()), 1e-6) << "different initial weights";
  Trainer tc(*on_cpu, cpu_cfg, quiet(dir.str("cpu"))), tg(*on_gpu, gpu_cfg, quiet(dir.str("gpu")));
  EXPECT_EQ(tc.run(), 2);
  EXPECT_EQ(tg.run(), 2);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(tg.session_losses()[i], tc.session_losses()[i], 2e-2 * std::abs(tc.session_losses()[i])) << i;
  EXPECT_LT(max_relative_difference(on_cpu->module(), on_gpu->module()), 2e-2);
  const auto& ec = tc.summary().at("evaluation"), &eg = tg.summary().at("evaluation");
  EXPECT_NEAR(eg.at("val_loss_mean").get<double>(), ec.at("val_loss_mean").get<double>(),
              2e-2 * ec.at("val_loss_mean").get<double>());
  EXPECT_TRUE(fs::exists(fs::path(dir.str("gpu")) / "samples" / "step_00000002" / "vinp.png"));
  // bf16 autocast on the GPU trains too
  j["precision"] = "bf16";
  j["sample_every"] = 0;
  const auto bf16_cfg = TrainConfig::from_json(j, "bf16.json");
  auto bf16 = make_stage(bf16_cfg);
  Trainer tb(*bf16, bf16_cfg, quiet(dir.str("bf16")));
  EXPECT_EQ(tb.run(), 2);
  for (double l : tb.session_losses()) EXPECT_NEAR(l, tc.session_losses()[0], 0.2 * tc.session_losses()[0]);
}

TEST(DepthStage, OnCudaTrainsLikeTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
  TempDir dir("depth_cuda");
  json j = {{"stage", "depth"}, {"steps", 2}, {"batch", 2}, {"lr", 1e-3}, {"width", 32}, {"height", 32},
            {"frames", 5}, {"seed", 2}, {"val_size", 2}, {"checkpoint_every", 0}, {"checkpoint_minutes", 0},
            {"depth", {{"hidden_size", 16}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
                       {"reassemble_hidden_size", 16}, {"neck_hidden_sizes", {8, 8, 16, 16}},
                       {"fusion_hidden_size", 8}, {"head_hidden_size", 4}, {"input_size", 28}}}};
  const auto cpu_cfg = TrainConfig::from_json(j, "cpu.json");
  j["device"] = "cuda";
  const auto gpu_cfg = TrainConfig::from_json(j, "gpu.json");
  auto on_cpu = make_stage(cpu_cfg), on_gpu = make_stage(gpu_cfg);
  Trainer tc(*on_cpu, cpu_cfg, quiet(dir.str("cpu"))), tg(*on_gpu, gpu_cfg, quiet(dir.str("gpu")));
  EXPECT_EQ(tc.run(), 2);
  EXPECT_EQ(tg.run(), 2);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(tg.session_losses()[i], tc.session_losses()[i], 2e-2 * std::abs(tc.session_losses()[i])) << i;
  EXPECT_NEAR(tg.summary().at("evaluation").at("l1").get<double>(), tc.summary().at("evaluation").at("l1").get<double>(),
              2e-2 * tc.summary().at("evaluation").at("l1").get<double>());
}
