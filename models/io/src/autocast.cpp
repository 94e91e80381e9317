#include "mf/io/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "mf/core/error.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MF_AUTOCAST_DEVICE_API 1
#else
#define MF_AUTOCAST_DEVICE_API 0
#endif

namespace mf::io {

bool cpu_autocast_enabled() {
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

c10::ScalarType cpu_autocast_dtype() {
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  return at::autocast::get_autocast_cpu_dtype();
#endif
}

namespace {
void set_cpu_autocast(bool on, c10::ScalarType dtype) {
#if MF_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
  at::autocast::set_autocast_enabled(at::kCPU, on);
#else
  at::autocast::set_autocast_cpu_dtype(dtype);
  at::autocast::set_cpu_enabled(on);
#endif
}
bool cuda_autocast_enabled() {
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

c10::ScalarType cuda_autocast_dtype() {
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_cuda_autocast(bool on, c10::ScalarType dtype) {
#if MF_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
  at::autocast::set_autocast_gpu_dtype(dtype);
  at::autocast::set_enabled(on);
#endif
}

c10::DeviceType checked(c10::DeviceType d) {
  if (d != c10::DeviceType::CPU && d != c10::DeviceType::CUDA)
    throw mf::Error(mf::ErrorCode::Unsupported,
                    std::string("mixed precision (autocast) is only available on the CPU and CUDA GPUs, not on ") +
                        c10::DeviceTypeName(d));
  return d;
}
}  // namespace

CpuAutocastGuard::CpuAutocastGuard(bool enabled, c10::ScalarType dtype)
    : prev_enabled_(cpu_autocast_enabled()), prev_dtype_(cpu_autocast_dtype()) {
  set_cpu_autocast(enabled, dtype);
}

CpuAutocastGuard::~CpuAutocastGuard() {
  set_cpu_autocast(prev_enabled_, prev_dtype_);
  // Cached casts of the weights belong to this autocast region (they would pin stale copies).
  if (!prev_enabled_) at::autocast::clear_cache();
}

AutocastGuard::AutocastGuard(c10::DeviceType device, bool enabled, c10::ScalarType dtype)
    : device_(checked(device)),
      prev_enabled_(device_ == c10::DeviceType::CPU ? cpu_autocast_enabled() : cuda_autocast_enabled()),
      prev_dtype_(device_ == c10::DeviceType::CPU ? cpu_autocast_dtype() : cuda_autocast_dtype()) {
  if (device_ == c10::DeviceType::CPU) set_cpu_autocast(enabled, dtype);
  else set_cuda_autocast(enabled, dtype);
}

AutocastGuard::~AutocastGuard() {
  if (device_ == c10::DeviceType::CPU) set_cpu_autocast(prev_enabled_, prev_dtype_);
  else set_cuda_autocast(prev_enabled_, prev_dtype_);
  if (!prev_enabled_) at::autocast::clear_cache();
}

}  // namespace mf::io
