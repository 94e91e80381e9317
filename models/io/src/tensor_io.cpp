// LibTorch side of weight I/O. The torch-free parser (src/base) has already validated every offset, so
// the copies here never go out of bounds.
#include "mf/io/tensor_io.h"

#include <torch/version.h>

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "mf/core/error.h"
#include "mf/io/checkpoint.h"
#include "mf/io/f8.h"

namespace mf::io {

namespace {

#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define MF_TORCH_HAS_F8 1
#else
#define MF_TORCH_HAS_F8 0
#endif

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

torch::ScalarType to_torch(DType d) {
  switch (d) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
#if MF_TORCH_HAS_F8
    case DType::F8_E4M3: return torch::kFloat8_e4m3fn;
    case DType::F8_E5M2: return torch::kFloat8_e5m2;
#else
    // This LibTorch has no 8-bit float type: such tensors are decoded to float32 in software.
    case DType::F8_E4M3: return torch::kFloat32;
    case DType::F8_E5M2: return torch::kFloat32;
#endif
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  throw Error(ErrorCode::Internal, "to_torch: unknown DType");
}

DType from_torch(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64: return DType::F64;
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
#if MF_TORCH_HAS_F8
    case torch::kFloat8_e4m3fn: return DType::F8_E4M3;
    case torch::kFloat8_e5m2: return DType::F8_E5M2;
#endif
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: break;
  }
  throw Error(ErrorCode::Unsupported,
              std::string("tensors of torch dtype ") + c10::toString(t) + " cannot be stored in safetensors here");
}

torch::Tensor read_tensor(const SafetensorsFile& file, const TensorInfo& info,
                          std::optional<torch::ScalarType> dtype, torch::Device device) {
  const uint8_t* src = file.data(info);
  torch::Tensor t;
  if (info.dtype == DType::F8_E4M3 || info.dtype == DType::F8_E5M2) {
    // Decode in software to float32 (exact: every F8 value is a float32 value).
    t = torch::empty(info.shape, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const uint64_t n = info.numel();
    if (info.dtype == DType::F8_E4M3) {
      for (uint64_t i = 0; i < n; ++i) dst[i] = f8_e4m3_to_float(src[i]);
    } else {
      for (uint64_t i = 0; i < n; ++i) dst[i] = f8_e5m2_to_float(src[i]);
    }
    if (!dtype) dtype = to_torch(info.dtype);
  } else if (info.dtype == DType::BOOL) {
    // A byte other than 0/1 in a torch bool tensor is undefined behaviour: normalise through uint8.
    t = torch::empty(info.shape, torch::kUInt8);
    if (info.nbytes()) std::memcpy(t.data_ptr(), src, info.nbytes());
    t = t.ne(0);
  } else {
    t = torch::empty(info.shape, to_torch(info.dtype));
    // Safetensors is little-endian, as is every platform Manyfold targets.
    if (info.nbytes()) std::memcpy(t.data_ptr(), src, info.nbytes());
  }
  if (dtype && *dtype != t.scalar_type()) t = t.to(*dtype);
  if (device != t.device()) t = t.to(device);
  return t;
}

WeightSource WeightSource::open(const std::string& path) {
  CheckpointFiles ck = open_checkpoint(path);
  WeightSource ws;
  ws.files_ = ck.files;
  for (const auto& [name, e] : ck.tensors) ws.entries_[name] = {ck.files[e.file], e.info};
  ws.description_ = ck.description;
  return ws;
}

WeightSource WeightSource::with_prefix(const std::string& prefix) const {
  WeightSource ws;
  ws.files_ = files_;
  for (const auto& [name, e] : entries_) {
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0)
      ws.entries_[name.substr(prefix.size())] = e;
  }
  ws.description_ = description_ + " [" + prefix + "*]";
  return ws;
}

std::vector<std::string> WeightSource::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool WeightSource::contains(const std::string& name) const { return entries_.count(name) != 0; }

const TensorInfo& WeightSource::info(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error(ErrorCode::BadFile, describe() + ": has no tensor '" + name + "'");
  return *it->second.info;
}

torch::Tensor WeightSource::read(const std::string& name, std::optional<torch::ScalarType> dtype,
                                 torch::Device device) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error(ErrorCode::BadFile, describe() + ": has no tensor '" + name + "'");
  return read_tensor(*it->second.file, *it->second.info, dtype, device);
}

const std::map<std::string, std::string>& WeightSource::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  return files_.empty() ? kEmpty : files_[0]->metadata();
}

std::string WeightSource::describe() const { return description_.empty() ? "<empty weight source>" : description_; }

void save_tensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<TensorBlob> blobs;
  blobs.reserve(tensors.size());
  for (const auto& [name, t0] : tensors) {
    if (!t0.defined()) throw Error(ErrorCode::BadInput, path + ": tensor '" + name + "' is undefined");
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    TensorBlob b;
    b.name = name;
    b.dtype = from_torch(t.scalar_type());
    b.shape = t.sizes().vec();
    const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
    b.bytes.resize(nbytes);
    if (nbytes) std::memcpy(b.bytes.data(), t.data_ptr(), nbytes);
    blobs.push_back(std::move(b));
  }
  write_safetensors(path, blobs, metadata);
}

std::string LoadReport::to_string() const {
  std::ostringstream os;
  for (const auto& m : missing) {
    auto it = missing_shapes.find(m);
    os << "missing: '" << m << "'" << (it != missing_shapes.end() ? " " + shape_str(it->second) : std::string())
       << " (the module needs it; the source lacks it)\n";
  }
  for (const auto& u : unexpected) {
    auto it = unexpected_shapes.find(u);
    os << "unexpected: '" << u << "'" << (it != unexpected_shapes.end() ? " " + shape_str(it->second) : std::string())
       << " (in the source; the module has no such tensor)\n";
  }
  for (const auto& s : shape_mismatches)
    os << "shape mismatch: '" << s.name << "' expected " << shape_str(s.expected) << ", found "
       << shape_str(s.found) << "\n";
  std::string out = os.str();
  if (!out.empty()) out.pop_back();
  return out;
}

LoadReport load_state_dict(torch::nn::Module& module, const WeightSource& source, bool strict,
                           const std::vector<std::string>& ignore_unexpected_prefixes) {
  LoadReport report;
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) targets.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) targets.emplace_back(b.key(), b.value());
  std::set<std::string> module_names;
  for (const auto& [name, t] : targets) {
    module_names.insert(name);
    if (!source.contains(name)) {
      report.missing.push_back(name);
      report.missing_shapes[name] = t.sizes().vec();
      continue;
    }
    const TensorInfo& info = source.info(name);
    if (info.shape != t.sizes().vec()) report.shape_mismatches.push_back({name, t.sizes().vec(), info.shape});
  }
  for (const auto& name : source.names()) {
    if (module_names.count(name)) continue;
    bool ignored = false;
    for (const auto& p : ignore_unexpected_prefixes) ignored = ignored || name.compare(0, p.size(), p) == 0;
    if (!ignored) {
      report.unexpected.push_back(name);
      report.unexpected_shapes[name] = source.info(name).shape;
    }
  }
  if (strict && !report.ok())
    throw Error(ErrorCode::BadFile, "cannot load " + source.describe() + " into the module (" +
                                        std::to_string(report.missing.size()) + " missing, " +
                                        std::to_string(report.unexpected.size()) + " unexpected, " +
                                        std::to_string(report.shape_mismatches.size()) + " mis-shaped):\n" +
                                        report.to_string());
  torch::NoGradGuard no_grad;
  std::set<std::string> bad_shape;
  for (const auto& m : report.shape_mismatches) bad_shape.insert(m.name);
  for (auto& [name, t] : targets) {
    if (!source.contains(name) || bad_shape.count(name)) continue;
    t.copy_(source.read(name, t.scalar_type(), t.device()));
  }
  return report;
}

}  // namespace mf::io
