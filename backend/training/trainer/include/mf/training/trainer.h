// The trainer core shared by every stage (VAE today; the DiT and text stages later).
//
// A Stage owns the module being trained and computes the loss of one step from the run's random streams; the
// Trainer owns everything else: AdamW with the config's lr schedule (linear warmup, constant or cosine),
// gradient clipping, the TrainState, atomic checkpoints every `checkpoint_every` steps, every
// `checkpoint_minutes` and when stopped, exact resume from the latest checkpoint, loss.csv, summary.json and
// the progress line. The stage puts its module on the config's device (TrainConfig::device); the trainer's
// optimizer state, moving average and gradients live where the parameters are. Precision fp32, or bf16
// autocast (the device's) for the forward pass (float32 master weights); sample
// renders every `sample_every` steps (Stage::render_samples) under <out>/samples/step_N. With ema_decay > 0 the
// trainer keeps an exponential moving average of the trained parameters (checkpointed with them); the export,
// the final evaluation and the sample renders then use the average, training goes on from the raw weights.
//
// Output folder:
//   <out>/train_config.json   the resolved config (defaults filled in), written when a run starts
//   <out>/checkpoints/        see checkpoint.h
//   <out>/loss.csv            step,loss,<stage metrics>,lr,grad_norm,steps_per_s,elapsed_s: one row per
//                             `log_every` steps, each the mean over the steps since the previous row
//   <out>/summary.json        stage, steps, first/last logged loss, steps/s, evaluation, outputs
//   <out>/<stage output>      the trained component (e.g. vae/ for the VAE stage), written when `steps` is reached
//
// Determinism: with the same config, a run resumed from a checkpoint of step N gives the same weights as the
// uninterrupted run, bit for bit, provided LibTorch's kernels are deterministic (one intra-op thread on CPU).
//
// Threading: one thread runs the trainer; request_stop() may be called from any thread or a signal handler.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/training/checkpoint.h"
#include "mf/training/config.h"
#include "mf/training/progress.h"
#include "mf/training/train_state.h"

namespace mf::training {

struct StepResult {
  torch::Tensor loss;                     // scalar the trainer back-propagates
  std::map<std::string, double> metrics;  // logged columns (names from Stage::metric_names())
  int64_t samples = 0;                    // clips consumed
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  // The trained module; its named parameters are the checkpoint's tensor names.
  virtual torch::nn::Module& module() = 0;
  virtual std::vector<std::string> metric_names() const { return {}; }
  // Forward pass of one optimizer step. Every random choice comes from state.draw*(); the trainer does the
  // backward pass and the optimizer step.
  virtual StepResult train_step(TrainState& state) = 0;
  // Held-out metrics (no autograd), for summary.json.
  virtual nlohmann::json evaluate() { return nlohmann::json::object(); }
  // Writes the trained component under out_dir; returns the path written.
  virtual std::string export_model(const std::string& out_dir) = 0;
  // Sample renders of the current weights under `dir` (created), through the same code as inference where the
  // component has one; returns what was written and measured (null: this stage renders nothing). Must not draw
  // from the run's random streams (resume stays exact).
  virtual nlohmann::json render_samples(const std::string& dir, int64_t step) {
    (void)dir;
    (void)step;
    return nullptr;
  }
};

struct TrainerOptions {
  std::string out_dir;
  Progress::Mode progress = Progress::Mode::Auto;
  std::ostream* log = nullptr;   // progress and messages (default std::cerr)
  bool export_at_end = true;     // export + evaluate + summary when `steps` is reached
};

class Trainer {
 public:
  Trainer(Stage& stage, TrainConfig config, TrainerOptions options);

  // Loads the latest complete checkpoint under <out>/checkpoints; false when there is none. Throws
  // mf::Error(BadInput) when the saved train_config.json conflicts with this config (resume_conflicts).
  bool resume();
  // Trains until config.steps, or `max_steps` more steps (-1: no limit), or request_stop(). Writes a checkpoint
  // when it stops before the end; at the end exports, evaluates and writes summary.json. Returns the step reached.
  // Refuses (mf::Error BadInput) to start a fresh run in a folder that already holds checkpoints.
  int64_t run(int64_t max_steps = -1);
  void request_stop() { stop_.store(true); }

  CheckpointInfo save_checkpoint();
  const TrainState& state() const { return state_; }
  const TrainConfig& config() const { return cfg_; }
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  CheckpointStore& checkpoints() { return store_; }
  // Losses of every step of this session, in order (for tests and the summary).
  const std::vector<double>& session_losses() const { return losses_; }
  const nlohmann::json& summary() const { return summary_; }
  // The moving average of the weights by parameter name (empty when ema_decay is 0).
  std::vector<std::pair<std::string, torch::Tensor>> ema_tensors() const;

 private:
  struct Window {
    int64_t steps = 0;
    double loss = 0, grad_norm = 0;
    std::map<std::string, double> metrics;
  };
  void write_config_once();
  void open_loss_log();
  void log_row(double elapsed, double steps_per_s);
  void write_summary(bool finished, double session_seconds, int64_t session_steps);
  void update_ema();
  // Exchanges the module's trained parameters with their moving average (twice: back as before).
  void swap_ema();

  Stage& stage_;
  TrainConfig cfg_;
  TrainerOptions opt_;
  std::ostream& log_;
  TrainState state_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<torch::Tensor> params_;
  std::vector<std::string> param_names_;  // params_' names (checkpoint names)
  std::vector<torch::Tensor> ema_;        // moving average of params_ (empty: off)
  CheckpointStore store_;
  std::atomic<bool> stop_{false};
  std::vector<double> losses_;
  Window window_;
  std::string csv_path_;
  nlohmann::json summary_;
  nlohmann::json first_logged_, last_logged_;
  nlohmann::json evaluation_ = nlohmann::json::object();
  std::string exported_;
  int64_t resumed_from_ = -1;  // step of the checkpoint loaded by resume() (or reached by a previous run())
};

}  // namespace mf::training
