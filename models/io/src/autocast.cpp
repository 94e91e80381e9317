#include "mf/io/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

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

}  // namespace mf::io
