// Mixed precision for training: LibTorch's autocast on the CPU or a CUDA GPU (bf16) behind one small API, because
// the C++ names changed between LibTorch 1.13 (set_cpu_enabled / set_autocast_cpu_dtype, and set_enabled /
// set_autocast_gpu_dtype for CUDA) and 2.4+ (set_autocast_enabled(device, ...) / set_autocast_dtype(device, ...)).
// Matmuls and convolutions run in the autocast dtype while the weights (and the optimizer's master copy) stay
// float32.
//
// Threading: autocast state is thread-local; a guard affects the thread that created it.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace mf::io {

// Whether autocast is on for `device` (kCPU or kCUDA; any other device type: mf::Error(Unsupported)), and its dtype.
bool autocast_enabled(c10::DeviceType device);
c10::ScalarType autocast_dtype(c10::DeviceType device);
bool cpu_autocast_enabled();
c10::ScalarType cpu_autocast_dtype();

// Enables (or disables) the autocast of `device` (kCPU or kCUDA) with `dtype` for its lifetime and restores the
// previous state after. The trainer's forward pass uses the one of the device it trains on.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, bool enabled, c10::ScalarType dtype = c10::kBFloat16);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool prev_enabled_;
  c10::ScalarType prev_dtype_;
};

// The CPU's.
class CpuAutocastGuard : public AutocastGuard {
 public:
  explicit CpuAutocastGuard(bool enabled, c10::ScalarType dtype = c10::kBFloat16)
      : AutocastGuard(c10::DeviceType::CPU, enabled, dtype) {}
};

}  // namespace mf::io
