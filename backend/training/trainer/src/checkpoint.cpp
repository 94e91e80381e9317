// Atomic checkpoints: model + AdamW state as safetensors, train state as JSON, assembled in a .tmp folder and
// renamed into place.
#include "mf/training/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"

namespace mf::training {

namespace fs = std::filesystem;

namespace {

const char* kModelFile = "model.safetensors";
const char* kOptimizerFile = "optimizer.safetensors";
const char* kEmaFile = "ema.safetensors";
const char* kStateFile = "state.json";

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step_%08lld", static_cast<long long>(step));
  return buf;
}

// fsync a file or folder; errors are reported (a checkpoint that may not be on disk is not a checkpoint).
void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw mf::Error(mf::ErrorCode::Io, "cannot open " + p.string() + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw mf::Error(mf::ErrorCode::Io, "cannot sync " + p.string() + " to disk");
}

std::string key_of(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw mf::Error(mf::ErrorCode::MissingModel, "cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw mf::Error(mf::ErrorCode::Io, "cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) throw mf::Error(mf::ErrorCode::Io, "cannot write " + tmp);
  }
  fsync_path(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot rename " + tmp + " to " + path + ": " + ec.message());
}

void replace_folder_atomic(const std::string& dir_in, const std::function<void(const std::string& tmp)>& fill) {
  const fs::path dir = fs::path(dir_in).lexically_normal();
  const fs::path tmp = dir.string() + ".tmp", old = dir.string() + ".old.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot create " + tmp.string() + ": " + ec.message());
  fill(tmp.string());
  if (fs::exists(dir)) {
    fs::remove_all(old, ec);
    fs::rename(dir, old, ec);
    if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot move " + dir.string() + " aside: " + ec.message());
  }
  fs::rename(tmp, dir, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot rename " + tmp.string() + " to " + dir.string() + ": " + ec.message());
  fs::remove_all(old, ec);
}

std::vector<std::pair<std::string, torch::Tensor>> module_tensors(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value().detach());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> adamw_state_tensors(torch::nn::Module& module,
                                                                       const torch::optim::AdamW& optimizer) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const auto& states = optimizer.state();
  for (const auto& p : module.named_parameters(true)) {
    auto it = states.find(key_of(p.value()));
    if (it == states.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out.emplace_back(p.key() + ".exp_avg", s.exp_avg().detach());
    out.emplace_back(p.key() + ".exp_avg_sq", s.exp_avg_sq().detach());
    out.emplace_back(p.key() + ".step", torch::tensor({s.step()}, torch::kLong));
    if (s.max_exp_avg_sq().defined()) out.emplace_back(p.key() + ".max_exp_avg_sq", s.max_exp_avg_sq().detach());
  }
  return out;
}

void load_adamw_state(const std::string& path, torch::nn::Module& module, torch::optim::AdamW& optimizer) {
  auto src = mf::io::WeightSource::open(path);
  auto bad = [&](const std::string& what) { throw mf::Error(mf::ErrorCode::BadFile, path + ": " + what); };
  std::set<std::string> used;
  auto& states = optimizer.state();
  states.clear();
  torch::NoGradGuard ng;
  for (const auto& p : module.named_parameters(true)) {
    const std::string n = p.key();
    const bool any = src.contains(n + ".exp_avg") || src.contains(n + ".exp_avg_sq") || src.contains(n + ".step");
    if (!any) continue;  // not stepped yet
    if (!src.contains(n + ".exp_avg") || !src.contains(n + ".exp_avg_sq") || !src.contains(n + ".step"))
      bad("optimizer state of '" + n + "' is incomplete (needs .exp_avg, .exp_avg_sq and .step)");
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    const auto& param = p.value();
    auto read_like = [&](const std::string& key) {
      auto t = src.read(key, param.scalar_type(), param.device());
      if (t.sizes() != param.sizes()) {
        std::ostringstream os;
        os << "optimizer state '" << key << "' has shape " << t.sizes() << ", the parameter " << param.sizes();
        bad(os.str());
      }
      used.insert(key);
      return t.contiguous();
    };
    s->exp_avg(read_like(n + ".exp_avg"));
    s->exp_avg_sq(read_like(n + ".exp_avg_sq"));
    auto st = src.read(n + ".step", torch::kLong);
    if (st.numel() != 1) bad("optimizer state '" + n + ".step' must hold one value");
    s->step(st.item<int64_t>());
    used.insert(n + ".step");
    if (src.contains(n + ".max_exp_avg_sq")) s->max_exp_avg_sq(read_like(n + ".max_exp_avg_sq"));
    states[key_of(param)] = std::move(s);
  }
  for (const auto& name : src.names())
    if (!used.count(name)) bad("optimizer state '" + name + "' belongs to no parameter of the model");
}

// ---------------------------------------------------------------------------------------------------------------
CheckpointStore::CheckpointStore(std::string root) : root_(std::move(root)) {}

std::vector<CheckpointInfo> CheckpointStore::list() const {
  std::vector<CheckpointInfo> out;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return out;
  static const std::regex re("step_([0-9]+)");
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !std::regex_match(name, m, re)) continue;
    if (!fs::exists(e.path() / kStateFile) || !fs::exists(e.path() / kModelFile)) continue;
    out.push_back({std::stoll(m[1].str()), e.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

std::optional<CheckpointInfo> CheckpointStore::latest() const {
  auto all = list();
  if (all.empty()) return std::nullopt;
  return all.back();
}

CheckpointInfo CheckpointStore::save(torch::nn::Module& module, const torch::optim::AdamW& optimizer,
                                     const TrainState& state, const nlohmann::json& extra, int keep,
                                     const std::vector<std::pair<std::string, torch::Tensor>>& ema) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot create " + root_ + ": " + ec.message());
  const fs::path final_dir = fs::path(root_) / step_name(state.step);
  const fs::path tmp = fs::path(root_) / (step_name(state.step) + ".tmp");
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot create " + tmp.string() + ": " + ec.message());

  const std::map<std::string, std::string> meta = {{"format", "manyfold-train-checkpoint"},
                                                   {"step", std::to_string(state.step)}};
  mf::io::save_tensors((tmp / kModelFile).string(), module_tensors(module), meta);
  fsync_path(tmp / kModelFile);
  mf::io::save_tensors((tmp / kOptimizerFile).string(), adamw_state_tensors(module, optimizer),
                       {{"format", "manyfold-adamw-state"}, {"step", std::to_string(state.step)}});
  fsync_path(tmp / kOptimizerFile);
  if (!ema.empty()) {
    mf::io::save_tensors((tmp / kEmaFile).string(), ema, {{"format", "manyfold-ema"}, {"step", std::to_string(state.step)}});
    fsync_path(tmp / kEmaFile);
  }
  nlohmann::json doc = extra;
  doc["train_state"] = state.to_json();
  write_file_atomic((tmp / kStateFile).string(), doc.dump(2) + "\n");
  fsync_path(tmp);

  // Replace a checkpoint of the same step (a rerun of the same step): move it aside first, then swap.
  const fs::path old = fs::path(root_) / (step_name(state.step) + ".old.tmp");
  if (fs::exists(final_dir)) {
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot move " + final_dir.string() + " aside: " + ec.message());
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot rename " + tmp.string() + " to " + final_dir.string() + ": " +
                                                 ec.message());
  fsync_path(root_);

  // Retention and stale temporaries (from a crash in the middle of a save).
  auto all = list();
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 1)) < all.size(); ++i) fs::remove_all(all[i].dir, ec);
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) fs::remove_all(e.path(), ec);
  }
  return {state.step, final_dir.string()};
}

nlohmann::json CheckpointStore::load(const CheckpointInfo& ckpt, torch::nn::Module& module,
                                     torch::optim::AdamW& optimizer, TrainState& state) const {
  const fs::path dir(ckpt.dir);
  const fs::path state_path = dir / kStateFile;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(read_text(state_path));
  } catch (const nlohmann::json::exception& e) {
    throw mf::Error(mf::ErrorCode::BadFile, state_path.string() + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object() || !doc.contains("train_state"))
    throw mf::Error(mf::ErrorCode::BadFile, state_path.string() + " has no train_state");
  TrainState s = TrainState::from_json(doc.at("train_state"), state_path.string());
  mf::io::load_state_dict(module, mf::io::WeightSource::open((dir / kModelFile).string()), /*strict=*/true);
  load_adamw_state((dir / kOptimizerFile).string(), module, optimizer);
  state = s;
  return doc;
}

std::string CheckpointStore::ema_file(const CheckpointInfo& ckpt) {
  const fs::path p = fs::path(ckpt.dir) / kEmaFile;
  return fs::exists(p) ? p.string() : std::string();
}

}  // namespace mf::training
