// The training loop shared by every stage.
#include "mf/training/trainer.h"

#include <cstdio>

#include "mf/io/autocast.h"
#include "mf/io/tensor_io.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include "mf/core/error.h"

namespace mf::training {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

}  // namespace

Trainer::Trainer(Stage& stage, TrainConfig config, TrainerOptions options)
    : stage_(stage),
      cfg_(std::move(config)),
      opt_(std::move(options)),
      log_(opt_.log ? *opt_.log : std::cerr),
      store_((fs::path(opt_.out_dir) / "checkpoints").string()) {
  mf::check(!opt_.out_dir.empty(), mf::ErrorCode::BadInput, "the trainer needs an output folder");
  state_.seed = cfg_.seed;
  // A tensor registered under two names (T5's shared.weight / encoder.embed_tokens.weight) is optimised once.
  std::set<const void*> seen;
  for (const auto& p : stage_.module().named_parameters(true))
    if (p.value().requires_grad() && seen.insert(p.value().unsafeGetTensorImpl()).second) {
      params_.push_back(p.value());
      param_names_.push_back(p.key());
    }
  if (cfg_.ema_decay > 0) {
    torch::NoGradGuard ng;
    for (const auto& p : params_) ema_.push_back(p.detach().clone());
  }
  torch::optim::AdamWOptions o(cfg_.lr);
  o.betas(std::make_tuple(cfg_.beta1, cfg_.beta2));
  o.eps(cfg_.eps);
  o.weight_decay(cfg_.weight_decay);
  optimizer_ = std::make_unique<torch::optim::AdamW>(params_, o);
  csv_path_ = (fs::path(opt_.out_dir) / "loss.csv").string();
}

bool Trainer::resume() {
  const fs::path saved_cfg = fs::path(opt_.out_dir) / "train_config.json";
  if (fs::exists(saved_cfg)) {
    const auto saved = TrainConfig::from_json_text(read_text(saved_cfg), saved_cfg.string());
    const auto conflicts = resume_conflicts(saved, cfg_);
    if (!conflicts.empty()) {
      std::string msg = "cannot resume in " + opt_.out_dir + ": the config differs from the run's " +
                        saved_cfg.string() + ":";
      for (const auto& c : conflicts) msg += "\n  - " + c;
      msg += "\nuse another --out folder, or restore those values";
      throw mf::Error(mf::ErrorCode::BadInput, msg);
    }
  }
  auto latest = store_.latest();
  if (!latest) return false;
  const auto doc = store_.load(*latest, stage_.module(), *optimizer_, state_);
  if (doc.contains("stage") && doc.at("stage") != stage_.name())
    throw mf::Error(mf::ErrorCode::BadInput, latest->dir + " is a checkpoint of stage " + doc.at("stage").dump() +
                                                 ", not \"" + stage_.name() + "\"");
  mf::check(state_.seed == cfg_.seed, mf::ErrorCode::BadInput,
            latest->dir + " was trained with seed " + std::to_string(state_.seed) + ", the config says " +
                std::to_string(cfg_.seed));
  if (!ema_.empty()) {
    const std::string ema_path = CheckpointStore::ema_file(*latest);
    torch::NoGradGuard ng;
    if (ema_path.empty()) {
      // A checkpoint of a run without the average (ema_decay was added): it starts from the loaded weights.
      for (size_t i = 0; i < params_.size(); ++i) ema_[i].copy_(params_[i].detach());
      log_ << "note: " << latest->dir << " has no ema.safetensors; the weight average starts from its weights\n";
    } else {
      const auto src = mf::io::WeightSource::open(ema_path);
      for (size_t i = 0; i < params_.size(); ++i) {
        mf::check(src.contains(param_names_[i]), mf::ErrorCode::BadFile,
                  ema_path + " has no tensor '" + param_names_[i] + "'");
        const auto t = src.read(param_names_[i], torch::kFloat);
        mf::check(t.sizes() == ema_[i].sizes(), mf::ErrorCode::BadFile,
                  ema_path + ": '" + param_names_[i] + "' has another shape than the model's parameter");
        ema_[i].copy_(t.to(ema_[i].dtype()));
      }
    }
  }
  resumed_from_ = latest->step;
  return true;
}

std::vector<std::pair<std::string, torch::Tensor>> Trainer::ema_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < ema_.size(); ++i) out.emplace_back(param_names_[i], ema_[i]);
  return out;
}

void Trainer::update_ema() {
  if (ema_.empty()) return;
  const double n = static_cast<double>(state_.step);
  const double d = std::min(cfg_.ema_decay, (1.0 + n) / (10.0 + n));
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) ema_[i].mul_(d).add_(params_[i].detach(), 1.0 - d);
}

void Trainer::swap_ema() {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < ema_.size(); ++i) {
    auto raw = params_[i].detach().clone();
    params_[i].detach().copy_(ema_[i]);
    ema_[i].copy_(raw);
  }
}

void Trainer::write_config_once() {
  std::error_code ec;
  fs::create_directories(opt_.out_dir, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot create " + opt_.out_dir + ": " + ec.message());
  write_file_atomic((fs::path(opt_.out_dir) / "train_config.json").string(), cfg_.to_json().dump(2) + "\n");
}

void Trainer::open_loss_log() {
  // A resumed run drops the rows logged after its checkpoint (the steps it is about to redo).
  std::vector<std::string> keep;
  if (resumed_from_ >= 0 && fs::exists(csv_path_)) {
    std::ifstream in(csv_path_);
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
      if (header) {
        header = false;
        continue;
      }
      const auto comma = line.find(',');
      if (comma == std::string::npos) continue;
      try {
        if (std::stoll(line.substr(0, comma)) <= state_.step) keep.push_back(line);
      } catch (const std::logic_error&) {
      }
    }
  }
  std::string text = "step,loss";
  for (const auto& m : stage_.metric_names()) text += "," + m;
  text += ",lr,grad_norm,steps_per_s,elapsed_s\n";
  for (const auto& l : keep) text += l + "\n";
  write_file_atomic(csv_path_, text);
}

void Trainer::log_row(double elapsed, double steps_per_s) {
  if (window_.steps == 0) return;
  const double n = static_cast<double>(window_.steps);
  std::ostringstream row;
  row << state_.step << "," << fmt(window_.loss / n);
  nlohmann::json rec = {{"step", state_.step}, {"loss", window_.loss / n}};
  for (const auto& m : stage_.metric_names()) {
    const double v = window_.metrics[m] / n;
    row << "," << fmt(v);
    rec[m] = v;
  }
  row << "," << fmt(cfg_.lr_at(state_.step - 1)) << "," << fmt(window_.grad_norm / n) << "," << fmt(steps_per_s)
      << "," << fmt(elapsed) << "\n";
  std::ofstream out(csv_path_, std::ios::app);
  out << row.str();
  if (first_logged_.is_null()) first_logged_ = rec;
  last_logged_ = rec;
  window_ = Window{};
}

CheckpointInfo Trainer::save_checkpoint() {
  nlohmann::json extra = {{"stage", stage_.name()}, {"config", cfg_.to_json()}};
  return store_.save(stage_.module(), *optimizer_, state_, extra, cfg_.keep_checkpoints, ema_tensors());
}

int64_t Trainer::run(int64_t max_steps) {
  if (resumed_from_ < 0) {
    if (auto existing = store_.latest())
      throw mf::Error(mf::ErrorCode::BadInput,
                      opt_.out_dir + " already holds checkpoints (latest " + existing->dir +
                          "); resume them (manyfold train --resume) or choose another output folder");
  }
  write_config_once();
  open_loss_log();
  stop_.store(false);
  Progress progress(log_, "train " + stage_.name(), cfg_.steps, cfg_.log_every, opt_.progress);
  if (resumed_from_ >= 0)
    progress.message("resumed " + stage_.name() + " from step " + std::to_string(resumed_from_) + " (" +
                     store_.root() + ")");

  stage_.module().train();
  const auto session_start = Clock::now();
  auto last_checkpoint = session_start;
  int64_t session_steps = 0;
  int64_t last_checkpoint_step = resumed_from_;
  double steps_per_s = 0.0;
  const double clip = cfg_.grad_clip > 0 ? cfg_.grad_clip : std::numeric_limits<double>::infinity();
  const auto device_type = cfg_.torch_device().type();  // the stage's device: its autocast is the one used

  while (state_.step < cfg_.steps) {
    if (max_steps >= 0 && session_steps >= max_steps) break;
    if (stop_.load()) break;
    const auto t0 = Clock::now();
    const double lr = cfg_.lr_at(state_.step);
    for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);

    optimizer_->zero_grad();
    StepResult r;
    {
      mf::io::AutocastGuard autocast(device_type, cfg_.precision == "bf16");  // forward only; backward outside
      r = stage_.train_step(state_);
    }
    if (r.loss.scalar_type() != torch::kFloat) r.loss = r.loss.to(torch::kFloat);
    const double loss = r.loss.item<double>();
    if (!std::isfinite(loss))
      throw mf::Error(mf::ErrorCode::BadInput,
                      "the " + stage_.name() + " loss is " + fmt(loss) + " at step " + std::to_string(state_.step + 1) +
                          " (lr " + fmt(lr) + "); resume from the last checkpoint with a lower lr or grad_clip");
    r.loss.backward();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params_, clip);
    optimizer_->step();

    ++state_.step;
    update_ema();
    ++session_steps;
    state_.samples_seen += r.samples;
    const double dt = seconds_since(t0);
    state_.train_seconds += dt;
    losses_.push_back(loss);
    window_.steps += 1;
    window_.loss += loss;
    window_.grad_norm += grad_norm;
    for (const auto& [k, v] : r.metrics) window_.metrics[k] += v;

    const double elapsed = seconds_since(session_start);
    steps_per_s = elapsed > 0 ? static_cast<double>(session_steps) / elapsed : 0.0;
    if (state_.step % cfg_.log_every == 0 || state_.step == cfg_.steps) log_row(state_.train_seconds, steps_per_s);
    progress.update(state_.step, loss, steps_per_s);

    const bool by_steps = cfg_.checkpoint_every > 0 && state_.step % cfg_.checkpoint_every == 0;
    const bool by_time = cfg_.checkpoint_minutes > 0 && seconds_since(last_checkpoint) >= cfg_.checkpoint_minutes * 60;
    if (cfg_.sample_every > 0 && state_.step % cfg_.sample_every == 0) {
      char name[32];
      std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(state_.step));
      const std::string dir = (fs::path(opt_.out_dir) / "samples" / name).string();
      swap_ema();  // renders of the averaged weights, when there is an average
      try {
        torch::NoGradGuard ng;
        const nlohmann::json rendered = stage_.render_samples(dir, state_.step);
        if (!rendered.is_null()) {
          write_file_atomic((fs::path(dir) / "samples.json").string(), rendered.dump(2) + "\n");
          progress.message("samples of step " + std::to_string(state_.step) + " in " + dir);
        }
      } catch (const std::exception& e) {
        // A failed render must not lose the training run: say so and go on.
        progress.message(std::string("sample render at step ") + std::to_string(state_.step) + " failed: " + e.what());
      }
      swap_ema();
      stage_.module().train();
    }
    if ((by_steps || by_time) && state_.step < cfg_.steps) {
      save_checkpoint();
      last_checkpoint = Clock::now();
      last_checkpoint_step = state_.step;
    }
  }
  log_row(state_.train_seconds, steps_per_s);  // a partial window when stopped early
  const bool finished = state_.step >= cfg_.steps;
  if (last_checkpoint_step != state_.step) {
    const auto c = save_checkpoint();
    if (!finished) progress.message("stopped at step " + std::to_string(state_.step) + "; checkpoint " + c.dir);
  }
  progress.finish();
  const double session_seconds = seconds_since(session_start);
  if (finished && opt_.export_at_end) {
    swap_ema();  // the exported and evaluated model is the average, when there is one
    try {
      exported_ = stage_.export_model(opt_.out_dir);
      evaluation_ = stage_.evaluate();
    } catch (...) {
      swap_ema();
      throw;
    }
    swap_ema();
    stage_.module().train();
  }
  write_summary(finished, session_seconds, session_steps);
  resumed_from_ = state_.step;  // a second run() continues from here
  return state_.step;
}

void Trainer::write_summary(bool finished, double session_seconds, int64_t session_steps) {
  nlohmann::json s;
  s["stage"] = stage_.name();
  s["finished"] = finished;
  s["step"] = state_.step;
  s["steps"] = cfg_.steps;
  s["samples_seen"] = state_.samples_seen;
  s["train_seconds"] = state_.train_seconds;
  s["session"] = {{"steps", session_steps},
                  {"seconds", session_seconds},
                  {"steps_per_s", session_seconds > 0 ? static_cast<double>(session_steps) / session_seconds : 0.0},
                  {"threads", torch::get_num_threads()},
                  {"device", cfg_.device}};
  if (!losses_.empty()) {
    s["session"]["first_loss"] = losses_.front();
    s["session"]["last_loss"] = losses_.back();
  }
  s["first_logged"] = first_logged_;
  s["last_logged"] = last_logged_;
  if (!evaluation_.empty()) s["evaluation"] = evaluation_;
  if (!exported_.empty()) s["output"] = exported_;
  nlohmann::json ck = nlohmann::json::array();
  for (const auto& c : store_.list()) ck.push_back(c.dir);
  s["checkpoints"] = ck;
  s["loss_csv"] = csv_path_;
  s["config"] = cfg_.to_json();
  summary_ = s;
  write_file_atomic((fs::path(opt_.out_dir) / "summary.json").string(), s.dump(2) + "\n");
}

}  // namespace mf::training
