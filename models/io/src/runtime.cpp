#include "mf/io/runtime.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "mf/core/error.h"

namespace mf::io {
namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  int n = std::atoi(v);
  return n > 0 ? n : 0;
}

std::string find_blas() {
  // Which BLAS did the dynamic linker pick for libblas.so.3? Debian's alternatives decide.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    for (const char* key : {"openblas", "libmkl", "blis", "libblas.so", "atlas"}) {
      auto pos = line.find(key);
      if (pos != std::string::npos) {
        auto start = line.find('/');
        if (start != std::string::npos) return line.substr(start);
      }
    }
  }
  return "unknown";
}

}  // namespace

RuntimeInfo describe_runtime() {
  RuntimeInfo info;
  info.torch_version = MF_TORCH_VERSION_STR;
  info.intra_op_threads = at::get_num_threads();
  info.inter_op_threads = at::get_num_interop_threads();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.blas = find_blas();
  info.parallel_info = at::get_parallel_info();
  return info;
}

RuntimeInfo init_torch_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    int n = env_int("MF_NUM_THREADS");
    if (!n) n = env_int("OMP_NUM_THREADS");
    if (!n) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n < 1) n = 1;
    at::set_num_threads(n);
  });
  return describe_runtime();
}

bool is_device_name(const std::string& name) {
  static const std::regex re("cpu|cuda(:[0-9]{1,3})?");
  return std::regex_match(name, re);
}

c10::Device resolve_device(const std::string& name) {
  mf::check(is_device_name(name), mf::ErrorCode::BadInput,
            "the device must be \"cpu\", \"cuda\" or \"cuda:N\", found \"" + name + "\"");
  const c10::Device d(name);
  if (d.is_cpu()) return d;
  if (!torch::cuda::is_available())
    throw mf::Error(mf::ErrorCode::Unsupported,
                    "the device \"" + name + "\" needs a CUDA GPU, and this build of LibTorch sees none (Debian's "
                    "libtorch is CPU-only; build Manyfold against a CUDA LibTorch, e.g. the one in a CUDA PyTorch "
                    "wheel): use the CPU instead (\"device\": \"cpu\" in a training config, --device cpu)");
  const int64_t index = d.has_index() ? d.index() : 0;
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count)
    throw mf::Error(mf::ErrorCode::Unsupported, "the device \"" + name + "\": this machine has " +
                                                    std::to_string(count) + " CUDA GPU(s), numbered from 0");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace mf::io
