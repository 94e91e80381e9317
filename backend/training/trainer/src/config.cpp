// TrainConfig: JSON parsing that collects every problem before failing.
#include "mf/training/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/runtime.h"
#include "mf/training/depth_stage.h"
#include "mf/training/mfm_stage.h"
#include "option_reader.h"

namespace mf::training {

namespace {

using nlohmann::json;

constexpr double kPi = 3.14159265358979323846;

void read_vae(const json& j, VaeStageOptions& o, std::vector<std::string>& problems) {
  if (!OptionReader::section_is_object(j, "vae", problems)) return;
  OptionReader r(j, "vae", problems);
  r.number("kl_weight", o.kl_weight, 0.0, 1.0);
  std::string recon = o.recon_loss == ReconLoss::L1 ? "l1" : "mse";
  r.choice("recon_loss", recon, {"l1", "mse"});
  o.recon_loss = recon == "mse" ? ReconLoss::MSE : ReconLoss::L1;
  r.boolean("sample_posterior", o.sample_posterior);
  r.number("latent_noise", o.latent_noise, 0.0, 100.0);
  r.integer("crop_width", o.crop_width, 0, 8192);
  r.integer("crop_height", o.crop_height, 0, 8192);
  r.integer("crop_frames", o.crop_frames, 0, 100000);
  r.string("init_from", o.init_from);
  r.boolean("freeze_encoder", o.freeze_encoder);
  if (o.freeze_encoder && o.init_from.empty())
    problems.push_back("'vae.freeze_encoder' needs 'vae.init_from': freezing a randomly initialised encoder "
                       "trains a decoder for a latent space nothing else uses");
  // With init_from the folder's config.json is the architecture; keys given as well must agree with it.
  mf::vae::VaeConfig folder;
  bool have_folder = false;
  if (!o.init_from.empty()) {
    try {
      folder = mf::vae::VaeConfig::from_folder(o.init_from);
      o.model = folder;
      have_folder = true;
    } catch (const std::exception& e) {
      problems.push_back(std::string("'vae.init_from': ") + e.what());
    }
  }

  auto& m = o.model;
  if (r.has("block_out_channels")) {
    const json& v = r.at("block_out_channels");
    bool ok = v.is_array() && !v.empty();
    std::vector<int> ch;
    if (ok)
      for (const auto& c : v) {
        if (!c.is_number_integer() || c.get<int64_t>() < 1 || c.get<int64_t>() > 4096) ok = false;
        else ch.push_back(c.get<int>());
      }
    if (!ok) r.problem("block_out_channels", "must be a list of integers in [1, 4096], found " + v.dump());
    else if (ch.size() != 4)
      r.problem("block_out_channels", "must have 4 entries (MfM's VAE has 8x spatial compression), found " + v.dump());
    else m.block_out_channels = ch;
  }
  r.integer("layers_per_block", m.layers_per_block, 1, 16);
  r.integer("norm_num_groups", m.norm_num_groups, 1, 4096);
  r.number("norm_eps", m.norm_eps, 0.0, 1.0, /*lo_open=*/true);
  r.integer("latent_channels", m.latent_channels, 1, 4096);
  r.integer("temporal_compression_ratio", m.temporal_compression_ratio, 1, 64);
  r.integer("sample_height", m.sample_height, 8, 1 << 16);
  r.integer("sample_width", m.sample_width, 8, 1 << 16);
  r.number("scaling_factor", m.scaling_factor, 0.0, 1e6, /*lo_open=*/true);
  r.unknown_keys();
  if (have_folder && m.to_json_text() != folder.to_json_text())
    problems.push_back("'vae': the architecture keys given with 'vae.init_from' differ from " + o.init_from +
                       "/config.json (" + folder.to_json_text() + "); leave them out, the folder's config is used");

  if (m.latent_channels != 16)
    problems.push_back("'vae.latent_channels' must be 16 (MfM's transformer takes 16 latent channels), found " +
                       std::to_string(m.latent_channels));
  if (m.temporal_compression_ratio != 4)
    problems.push_back("'vae.temporal_compression_ratio' must be 4 (MfM's 4k+1 frame rule), found " +
                       std::to_string(m.temporal_compression_ratio));
  for (int ch : m.block_out_channels)
    if (m.norm_num_groups > 0 && ch % m.norm_num_groups != 0)
      problems.push_back("'vae.norm_num_groups' " + std::to_string(m.norm_num_groups) +
                         " does not divide block channel count " + std::to_string(ch));
}

}  // namespace

mf::vae::VaeConfig VaeStageOptions::toy_model() {
  mf::vae::VaeConfig c;
  c.in_channels = 3;
  c.out_channels = 3;
  c.block_out_channels = {16, 32, 32, 64};
  c.latent_channels = 16;
  c.layers_per_block = 1;
  c.norm_num_groups = 8;
  c.norm_eps = 1e-6;
  c.temporal_compression_ratio = 4;
  // Tiles (half the sample size) larger than any toy clip, so the studio never tiles the toy VAE.
  c.sample_height = 480;
  c.sample_width = 720;
  c.scaling_factor = 1.15258426;
  return c;
}

TrainConfig TrainConfig::from_json(const json& j, const std::string& origin) {
  std::vector<std::string> problems;
  TrainConfig c;
  if (!j.is_object()) {
    throw mf::Error(mf::ErrorCode::BadInput, origin + ": the training config must be a JSON object");
  }
  OptionReader r(j, "", problems);
  r.choice("stage", c.stage, {"vae", "depth", "mfm"}, /*required=*/true);
  r.integer("steps", c.steps, 1, int64_t(1) << 40, /*required=*/true);
  r.integer("batch", c.batch, 1, 1024);
  r.number("lr", c.lr, 0.0, 1.0, /*lo_open=*/true);
  if (r.has("betas")) {
    const json& v = r.at("betas");
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number() || v[0].get<double>() < 0 ||
        v[0].get<double>() >= 1 || v[1].get<double>() < 0 || v[1].get<double>() >= 1)
      r.problem("betas", "must be two numbers in [0, 1), found " + v.dump());
    else {
      c.beta1 = v[0].get<double>();
      c.beta2 = v[1].get<double>();
    }
  }
  r.number("eps", c.eps, 0.0, 1.0, /*lo_open=*/true);
  r.number("weight_decay", c.weight_decay, 0.0, 10.0);
  r.integer("warmup_steps", c.warmup_steps, 0, int64_t(1) << 40);
  r.choice("lr_schedule", c.lr_schedule, {"constant", "cosine"});
  r.number("min_lr", c.min_lr, 0.0, 1.0);
  r.number("grad_clip", c.grad_clip, 0.0, 1e12);
  r.number("ema_decay", c.ema_decay, 0.0, 1.0, /*lo_open=*/false, /*hi_open=*/true);
  r.integer("width", c.width, 8, 8192);
  r.integer("height", c.height, 8, 8192);
  r.integer("frames", c.frames, 1, 100000);
  r.integer("seed", c.seed, 0, (int64_t(1) << 32) - 1);
  r.integer("train_size", c.train_size, 0, (int64_t(1) << 31));
  r.integer("val_size", c.val_size, 0, int64_t(1) << 20);
  r.integer("max_shapes", c.max_shapes, 1, 8);
  r.integer("checkpoint_every", c.checkpoint_every, 0, int64_t(1) << 40);
  r.number("checkpoint_minutes", c.checkpoint_minutes, 0.0, 1e6);
  r.integer("keep_checkpoints", c.keep_checkpoints, 1, 1000);
  r.integer("log_every", c.log_every, 1, int64_t(1) << 40);
  r.integer("threads", c.threads, 0, 1024);
  r.choice("precision", c.precision, {"fp32", "bf16"});
  if (r.has("device")) {
    const json& v = r.at("device");
    if (!v.is_string() || !mf::io::is_device_name(v.get<std::string>()))
      r.problem("device", "must be \"cpu\", \"cuda\" or \"cuda:N\", found " + v.dump());
    else
      c.device = v.get<std::string>();
  }
  r.boolean("gradient_checkpointing", c.gradient_checkpointing);
  r.integer("sample_every", c.sample_every, 0, int64_t(1) << 40);
  if (r.has("vae")) read_vae(r.at("vae"), c.vae, problems);
  if (r.has("depth")) {
    if (c.stage != "depth") problems.push_back("'depth' options are only used by stage \"depth\"");
    else c.depth = DepthStageOptions::from_json(r.at("depth"), problems).to_json();
  } else if (c.stage == "depth") {
    c.depth = DepthStageOptions{}.to_json();
  }
  if (c.stage == "mfm") {
    c.mfm = MfmStageOptions::from_json(r.has("mfm") ? r.at("mfm") : json::object(), c.frames, problems).to_json();
  } else if (r.has("mfm")) {
    problems.push_back("'mfm' options are only used by stage \"mfm\"");
  }
  r.unknown_keys();

  if (c.frames % 4 != 1)
    problems.push_back("'frames' must be 4k+1 (1, 5, 9, 13, ...: the VAE compresses time 4x after the first frame), "
                       "found " + std::to_string(c.frames));
  else if (c.stage == "vae" && c.frames % 8 != 1)
    problems.push_back("'frames' must be 8k+1 (1, 9, 17, ...) for the VAE stage: 4k+1 frames encode to k+1 latent "
                       "frames, and only an odd latent count decodes back to 4k+1 frames (an even count t gives 4t), "
                       "found " + std::to_string(c.frames));
  const int scr = c.vae.model.spatial_compression_ratio();
  if (c.width % scr != 0 || c.height % scr != 0)
    problems.push_back("'width' and 'height' must be multiples of " + std::to_string(scr) +
                       " (the VAE's spatial compression), found " + std::to_string(c.width) + "x" +
                       std::to_string(c.height));
  if (c.stage == "vae") {
    const auto& o = c.vae;
    if ((o.crop_width > 0 && (o.crop_width % scr != 0 || o.crop_width > c.width)) ||
        (o.crop_height > 0 && (o.crop_height % scr != 0 || o.crop_height > c.height)))
      problems.push_back("'vae.crop_width' and 'vae.crop_height' must be multiples of " + std::to_string(scr) +
                         " no larger than 'width' and 'height' (0: no crop), found " + std::to_string(o.crop_width) +
                         "x" + std::to_string(o.crop_height));
    if (o.crop_frames > 0 && (o.crop_frames % 8 != 1 || o.crop_frames > c.frames))
      problems.push_back("'vae.crop_frames' must be 8k+1 (1, 9, 17, ...) and no more than 'frames' (0: no crop), "
                         "found " + std::to_string(o.crop_frames));
  }
  if (c.min_lr > c.lr) problems.push_back("'min_lr' must not exceed 'lr'");
  if (c.gradient_checkpointing && c.stage != "mfm")
    problems.push_back("'gradient_checkpointing' checkpoints the MfM transformer's blocks: it is only used by stage "
                       "\"mfm\"");

  if (!problems.empty()) {
    std::string msg = origin + ": " + std::to_string(problems.size()) + " problem" + (problems.size() > 1 ? "s" : "") +
                      " in the training config:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw mf::Error(mf::ErrorCode::BadInput, msg);
  }
  return c;
}

TrainConfig TrainConfig::from_json_text(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw mf::Error(mf::ErrorCode::BadInput, origin + ": the training config is not valid JSON: " + e.what());
  }
  return from_json(j, origin);
}

TrainConfig TrainConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw mf::Error(mf::ErrorCode::Io, "cannot read the training config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

json TrainConfig::to_json() const {
  json v;
  v["kl_weight"] = vae.kl_weight;
  v["recon_loss"] = vae.recon_loss == ReconLoss::L1 ? "l1" : "mse";
  v["sample_posterior"] = vae.sample_posterior;
  v["latent_noise"] = vae.latent_noise;
  v["crop_width"] = vae.crop_width;
  v["crop_height"] = vae.crop_height;
  v["crop_frames"] = vae.crop_frames;
  v["init_from"] = vae.init_from;
  v["freeze_encoder"] = vae.freeze_encoder;
  v["block_out_channels"] = vae.model.block_out_channels;
  v["layers_per_block"] = vae.model.layers_per_block;
  v["norm_num_groups"] = vae.model.norm_num_groups;
  v["norm_eps"] = vae.model.norm_eps;
  v["latent_channels"] = vae.model.latent_channels;
  v["temporal_compression_ratio"] = vae.model.temporal_compression_ratio;
  v["sample_height"] = vae.model.sample_height;
  v["sample_width"] = vae.model.sample_width;
  v["scaling_factor"] = vae.model.scaling_factor;
  json out{{"stage", stage},
              {"steps", steps},
              {"batch", batch},
              {"lr", lr},
              {"betas", {beta1, beta2}},
              {"eps", eps},
              {"weight_decay", weight_decay},
              {"warmup_steps", warmup_steps},
              {"lr_schedule", lr_schedule},
              {"min_lr", min_lr},
              {"grad_clip", grad_clip},
              {"ema_decay", ema_decay},
              {"width", width},
              {"height", height},
              {"frames", frames},
              {"seed", seed},
              {"train_size", train_size},
              {"val_size", val_size},
              {"max_shapes", max_shapes},
              {"checkpoint_every", checkpoint_every},
              {"checkpoint_minutes", checkpoint_minutes},
              {"keep_checkpoints", keep_checkpoints},
              {"log_every", log_every},
              {"threads", threads},
              {"device", device},
              {"precision", precision},
              {"gradient_checkpointing", gradient_checkpointing},
              {"sample_every", sample_every},
              {"vae", v}};
  if (!depth.empty()) out["depth"] = depth;
  if (!mfm.empty()) out["mfm"] = mfm;
  return out;
}

torch::Device TrainConfig::torch_device() const { return mf::io::resolve_device(device); }

double TrainConfig::lr_at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps)
    return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (lr_schedule == "cosine") {
    const int64_t span = std::max<int64_t>(steps - warmup_steps - 1, 1);
    const double p = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(span));
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(kPi * p));
  }
  return lr;
}

std::vector<std::string> resume_conflicts(const TrainConfig& saved, const TrainConfig& now) {
  // Keys that do not change what is computed (gradient checkpointing recomputes the same values).
  static const std::set<std::string> free_keys = {"steps",     "checkpoint_every", "checkpoint_minutes",
                                                  "log_every", "keep_checkpoints", "threads", "device",
                                                  "gradient_checkpointing", "sample_every"};
  std::vector<std::string> out;
  const json a = saved.to_json(), b = now.to_json();
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (free_keys.count(it.key())) continue;
    if (!b.contains(it.key()) || b.at(it.key()) != it.value())
      out.push_back("'" + it.key() + "': the checkpoints were trained with " + it.value().dump() + ", the config says " +
                    (b.contains(it.key()) ? b.at(it.key()).dump() : std::string("nothing")));
  }
  return out;
}

}  // namespace mf::training
