// LibTorch process set-up. Call init_torch_runtime() once, early, from the main thread of every
// executable (the CLI, the studio, tests that time things). Debian's LibTorch starts with one
// intra-op thread; without this, CPU math runs many times slower than the machine allows.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace mf::io {

struct RuntimeInfo {
  std::string torch_version;  // e.g. "1.13.1"
  int intra_op_threads = 1;
  int inter_op_threads = 1;
  bool cuda_available = false;
  int cuda_devices = 0;
  std::string blas;           // the BLAS library LibTorch resolved to (from /proc/self/maps), or "unknown"
  std::string parallel_info;  // at::get_parallel_info()
};

// Sets intra-op threads to MF_NUM_THREADS, else OMP_NUM_THREADS, else the number of cores.
// Idempotent. Returns what it set up.
RuntimeInfo init_torch_runtime();

// Describes the runtime without changing it.
RuntimeInfo describe_runtime();

// "cpu", "cuda" or "cuda:N": the device names the command line and the training config accept.
bool is_device_name(const std::string& name);
// The device such a name means on this machine. Throws mf::Error(BadInput) for another name, and
// mf::Error(Unsupported) with what to do instead when it is a CUDA device and this LibTorch has no CUDA or sees no
// such GPU.
c10::Device resolve_device(const std::string& name);

}  // namespace mf::io
