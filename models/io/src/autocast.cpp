#include "mf/io/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <string>

#include "mf/core/error.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MF_AUTOCAST_DEVICE_API 1
#else
#define MF_AUTOCAST_DEVICE_API 0
#endif

namespace mf::io {

namespace {
bool is_cpu(c10::DeviceType d) { return d == c10::DeviceType::CPU; }

c10::DeviceType checked(c10::DeviceType d) {
  if (d != c10::DeviceType::CPU && d != c10::DeviceType::CUDA)
    throw mf::Error(mf::ErrorCode::Unsupported,
                    std::string("mixed precision (autocast) is only available on the CPU and CUDA GPUs, not on ") +
                        c10::DeviceTypeName(d));
  return d;
}

void set_autocast(c10::DeviceType d, bool on, c10::ScalarType dtype) {
#if MF_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_dtype(d, dtype);
  at::autocast::set_autocast_enabled(d, on);
#else
  if (is_cpu(d)) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  }
#endif
}
}  // namespace

bool autocast_enabled(c10::DeviceType device) {
  checked(device);
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::is_autocast_enabled(device);
#else
  return is_cpu(device) ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

c10::ScalarType autocast_dtype(c10::DeviceType device) {
  checked(device);
#if MF_AUTOCAST_DEVICE_API
  return at::autocast::get_autocast_dtype(device);
#else
  return is_cpu(device) ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

bool cpu_autocast_enabled() { return autocast_enabled(c10::DeviceType::CPU); }
c10::ScalarType cpu_autocast_dtype() { return autocast_dtype(c10::DeviceType::CPU); }

AutocastGuard::AutocastGuard(c10::DeviceType device, bool enabled, c10::ScalarType dtype)
    : device_(checked(device)), prev_enabled_(autocast_enabled(device_)), prev_dtype_(autocast_dtype(device_)) {
  set_autocast(device_, enabled, dtype);
}

AutocastGuard::~AutocastGuard() {
  set_autocast(device_, prev_enabled_, prev_dtype_);
  // Cached casts of the weights belong to this autocast region (they would pin stale copies).
  if (!prev_enabled_) at::autocast::clear_cache();
}

}  // namespace mf::io
