// Checkpoints of a training run, written atomically.
//
// Layout under <out>/checkpoints/:
//   step_00000200/model.safetensors      module parameters and buffers under their checkpoint names (mf_io writer)
//   step_00000200/optimizer.safetensors  AdamW per-parameter state: <name>.exp_avg, <name>.exp_avg_sq,
//                                        <name>.step (I64 [1]), <name>.max_exp_avg_sq (amsgrad only)
//   step_00000200/ema.safetensors        the moving average of the weights, by parameter name (only for runs
//                                        with ema_decay > 0)
//   step_00000200/state.json             TrainState, the stage name and the run's config
// A checkpoint is assembled in a sibling folder "step_00000200.tmp" (every file fsynced) and renamed into
// place in one step, so a crash leaves either the complete folder or a *.tmp folder that is never read (and is
// removed by the next save). latest() is the highest-numbered complete folder.
//
// Threading: one trainer thread.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/training/train_state.h"

namespace mf::training {

struct CheckpointInfo {
  int64_t step = 0;
  std::string dir;
};

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string root);  // <out>/checkpoints (created on the first save)
  const std::string& root() const { return root_; }

  // Complete checkpoints, oldest first (folders step_N with a state.json; *.tmp folders are skipped).
  std::vector<CheckpointInfo> list() const;
  std::optional<CheckpointInfo> latest() const;

  // Writes a checkpoint of `state.step` (replacing one of the same step), then deletes the oldest complete
  // checkpoints beyond `keep` and any stale *.tmp folder. Throws mf::Error(Io) naming the path on failure.
  // `ema` (may be empty) goes to ema.safetensors.
  CheckpointInfo save(torch::nn::Module& module, const torch::optim::AdamW& optimizer, const TrainState& state,
                      const nlohmann::json& extra, int keep,
                      const std::vector<std::pair<std::string, torch::Tensor>>& ema = {});

  // Loads a checkpoint into module (strict: every tensor, same shapes), optimizer and state; returns the
  // state.json document. Throws mf::Error(BadFile / MissingModel) naming the file.
  nlohmann::json load(const CheckpointInfo& ckpt, torch::nn::Module& module, torch::optim::AdamW& optimizer,
                      TrainState& state) const;
  // The checkpoint's ema.safetensors path, or "" when it has none.
  static std::string ema_file(const CheckpointInfo& ckpt);

 private:
  std::string root_;
};

// The module's parameters and buffers as (name, tensor), in named_parameters() then named_buffers() order.
std::vector<std::pair<std::string, torch::Tensor>> module_tensors(torch::nn::Module& module);

// AdamW state by parameter name (see the layout above); a parameter the optimizer has not stepped yet has none.
std::vector<std::pair<std::string, torch::Tensor>> adamw_state_tensors(torch::nn::Module& module,
                                                                       const torch::optim::AdamW& optimizer);
// Restores it: the optimizer's parameters must be `module`'s, in named_parameters() order. Throws
// mf::Error(BadFile) naming `origin` on a shape mismatch, an unknown parameter or a partial entry.
void load_adamw_state(const std::string& path, torch::nn::Module& module, torch::optim::AdamW& optimizer);

// Writes text to path.tmp, fsyncs it and renames it over path. Throws mf::Error(Io).
void write_file_atomic(const std::string& path, const std::string& text);

// Replaces the folder `dir` as a whole: `fill` writes the new content into <dir>.tmp (created empty), which then
// takes the place of `dir` (the old one is moved to <dir>.old.tmp first and removed after). A failure in `fill`
// leaves `dir` as it was. Throws mf::Error(Io).
void replace_folder_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

}  // namespace mf::training
