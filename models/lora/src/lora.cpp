#include "mf/lora/lora.h"

#include <filesystem>
#include <set>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"

namespace mf::lora {

namespace {

std::string strip_prefixes(std::string t) {
  for (const char* p : {"base_model.model.", "transformer.", "diffusion_model."})
    if (t.rfind(p, 0) == 0) t = t.substr(std::string(p).size());
  return t;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

LoraFile read_lora(const std::string& path) {
  check(std::filesystem::exists(path), ErrorCode::MissingModel, "LoRA file not found: " + path);
  const auto src = io::WeightSource::open(path);
  LoraFile f;
  f.path = path;
  f.metadata = src.metadata();
  double default_alpha = 0;
  for (const char* k : {"lora_alpha", "alpha"}) {
    auto it = f.metadata.find(k);
    if (it != f.metadata.end()) {
      try {
        default_alpha = std::stod(it->second);
      } catch (const std::exception&) {
        throw Error(ErrorCode::BadFile, path + ": metadata " + k + " = '" + it->second + "' is not a number");
      }
    }
  }
  struct Pair {
    std::string down, up, alpha;
  };
  std::map<std::string, Pair> pairs;
  for (const auto& name : src.names()) {
    static const std::vector<std::pair<std::string, int>> kinds = {
        {".lora_A.weight", 0}, {".lora_down.weight", 0}, {".lora_B.weight", 1}, {".lora_up.weight", 1}, {".alpha", 2}};
    bool matched = false;
    for (const auto& [suffix, kind] : kinds) {
      if (!ends_with(name, suffix)) continue;
      const std::string target = name.substr(0, name.size() - suffix.size());
      auto& p = pairs[target];
      (kind == 0 ? p.down : kind == 1 ? p.up : p.alpha) = name;
      matched = true;
      break;
    }
    check(matched, ErrorCode::BadFile,
          path + ": tensor '" + name + "' is not part of a LoRA pair (expected *.lora_A.weight / *.lora_B.weight or "
                                       "*.lora_down.weight / *.lora_up.weight)");
  }
  check(!pairs.empty(), ErrorCode::BadFile, path + " holds no LoRA tensors");
  for (const auto& [target, p] : pairs) {
    check(!p.down.empty() && !p.up.empty(), ErrorCode::BadFile,
          path + ": LoRA layer '" + target + "' has " + (p.down.empty() ? "an up (B) but no down (A)" : "a down (A) but no up (B)") +
              " matrix");
    LoraLayer l;
    l.target = strip_prefixes(target);
    l.down = src.read(p.down, torch::kFloat);
    l.up = src.read(p.up, torch::kFloat);
    check(l.down.dim() == 2 && l.up.dim() == 2 && l.up.size(1) == l.down.size(0), ErrorCode::BadFile,
          path + ": LoRA layer '" + target + "' has down " + std::to_string(l.down.dim()) + "-D / up " +
              std::to_string(l.up.dim()) + "-D matrices whose ranks disagree");
    l.alpha = default_alpha;
    if (!p.alpha.empty()) l.alpha = src.read(p.alpha, torch::kFloat).item<double>();
    check(std::isfinite(l.alpha) && l.alpha >= 0, ErrorCode::BadFile, path + ": alpha of '" + target + "' is not valid");
    f.layers.push_back(std::move(l));
  }
  return f;
}

void write_lora(const std::string& path, const std::vector<LoraLayer>& layers,
                std::map<std::string, std::string> metadata) {
  check(!layers.empty(), ErrorCode::BadInput, "write_lora: no layers");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::set<double> alphas;
  for (const auto& l : layers) {
    tensors.emplace_back(l.target + ".lora_A.weight", l.down.to(torch::kCPU, torch::kFloat).contiguous());
    tensors.emplace_back(l.target + ".lora_B.weight", l.up.to(torch::kCPU, torch::kFloat).contiguous());
    alphas.insert(l.alpha);
  }
  if (alphas.size() == 1 && *alphas.begin() > 0) metadata["lora_alpha"] = std::to_string(*alphas.begin());
  else if (alphas.size() > 1)
    for (const auto& l : layers)
      tensors.emplace_back(l.target + ".alpha", torch::tensor(static_cast<float>(l.alpha)));
  metadata["format"] = "manyfold-lora";
  io::save_tensors(path, tensors, metadata);
}

void LoraPatch::apply(torch::nn::Module& root, const LoraFile& lora, double scale) {
  check(std::isfinite(scale), ErrorCode::BadInput, "LoRA scale must be a finite number");
  auto params = root.named_parameters(true);
  // Validate everything first: a bad file changes nothing.
  std::vector<std::pair<torch::Tensor, const LoraLayer*>> todo;
  for (const auto& l : lora.layers) {
    const std::string name = l.target + ".weight";
    const torch::Tensor* w = params.find(name);
    check(w != nullptr, ErrorCode::BadInput,
          "LoRA " + lora.path + " targets '" + l.target + "', which this model does not have (is it a LoRA for "
                                                          "another model?)");
    check(w->dim() == 2 && w->size(0) == l.up.size(0) && w->size(1) == l.down.size(1), ErrorCode::BadInput,
          "LoRA " + lora.path + " layer '" + l.target + "' is " + std::to_string(l.up.size(0)) + "x" +
              std::to_string(l.down.size(1)) + " but the model's weight is " +
              (w->dim() == 2 ? std::to_string(w->size(0)) + "x" + std::to_string(w->size(1)) : std::string("not 2-D")) +
              " (a LoRA for another model size?)");
    todo.emplace_back(*w, &l);
  }
  torch::NoGradGuard ng;
  for (auto& [w, l] : todo) {
    const std::string name = l->target + ".weight";
    if (!originals_.count(name)) originals_[name] = w.detach().clone();
    const auto delta = torch::matmul(l->up, l->down) * (scale * l->factor());
    auto merged = w.detach().to(torch::kFloat) + delta.to(w.device());
    w.detach().copy_(merged.to(w.scalar_type()));
  }
}

void LoraPatch::restore(torch::nn::Module& root) {
  if (originals_.empty()) return;
  auto params = root.named_parameters(true);
  torch::NoGradGuard ng;
  for (const auto& [name, orig] : originals_) {
    const torch::Tensor* w = params.find(name);
    check(w != nullptr, ErrorCode::Internal, "LoRA restore: the model lost its parameter " + name);
    w->detach().copy_(orig);
  }
  originals_.clear();
}

}  // namespace mf::lora
