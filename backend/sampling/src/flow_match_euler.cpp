// FlowMatch Euler schedule and step. Compiled with -ffp-contract=off: every expression below mirrors the
// operation order (and precision) of diffusers/numpy/torch so the results are bit-identical.
#include "mf/sampling/flow_match_euler.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::sampling {

namespace {

// torch: float32 tensor op Python float -> the scalar is rounded to float32, the op runs in float32.
inline float shift_f32(float shift, float shift_minus_one, float s) {
  return (shift * s) / (1.0f + shift_minus_one * s);
}

// numpy.linspace(start, stop, num) in float64: y[i] = i * step + start, step = (stop - start) / (num - 1), last
// element set to stop exactly; num == 1 gives [start].
std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> y(static_cast<size_t>(num));
  const int div = num - 1;
  if (div > 0) {
    const double delta = stop - start;
    const double step = delta / div;
    if (step == 0.0) {
      for (int i = 0; i < num; ++i) y[i] = (static_cast<double>(i) / div) * delta + start;
    } else {
      for (int i = 0; i < num; ++i) y[i] = static_cast<double>(i) * step + start;
    }
    y[num - 1] = stop;
  } else if (num == 1) {
    y[0] = start;  // 0 * delta + start
  }
  return y;
}

FlowMatchSchedule finish(const std::vector<float>& sigmas32, int num_train_timesteps) {
  FlowMatchSchedule s;
  s.timesteps.resize(sigmas32.size());
  const float ntt = static_cast<float>(num_train_timesteps);
  for (size_t i = 0; i < sigmas32.size(); ++i) s.timesteps[i] = sigmas32[i] * ntt;
  s.sigmas = sigmas32;
  s.sigmas.push_back(0.0f);
  return s;
}

void check_config(const FlowMatchEulerConfig& c) {
  check(c.num_train_timesteps >= 1, ErrorCode::BadInput,
        "FlowMatch scheduler: num_train_timesteps must be >= 1 (found " + std::to_string(c.num_train_timesteps) +
            ")");
  check(std::isfinite(c.shift) && c.shift > 0.0, ErrorCode::BadInput,
        "FlowMatch scheduler: shift must be a positive number (found " + std::to_string(c.shift) + ")");
}

}  // namespace

FlowMatchEulerConfig parse_scheduler_config(const nlohmann::json& j, const std::string& source) {
  check(j.is_object(), ErrorCode::BadFile, source + ": the scheduler config must be a JSON object");
  FlowMatchEulerConfig c;
  if (j.contains("_class_name")) {
    const auto& cls = j.at("_class_name");
    check(cls.is_string() && cls.get<std::string>() == "FlowMatchEulerDiscreteScheduler", ErrorCode::Unsupported,
          source + ": scheduler class " + cls.dump() +
              " is not supported; Manyfold implements FlowMatchEulerDiscreteScheduler (what MfM uses)");
  }
  if (j.contains("num_train_timesteps")) {
    const auto& v = j.at("num_train_timesteps");
    check(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 1000000, ErrorCode::BadFile,
          source + ": num_train_timesteps must be a positive integer (found " + v.dump() + ")");
    c.num_train_timesteps = v.get<int>();
  }
  if (j.contains("shift")) {
    const auto& v = j.at("shift");
    check(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0.0, ErrorCode::BadFile,
          source + ": shift must be a positive number (found " + v.dump() + ")");
    c.shift = v.get<double>();
  }
  auto refuse_true = [&](const char* key) {
    if (j.contains(key) && j.at(key).is_boolean() && j.at(key).get<bool>())
      throw Error(ErrorCode::Unsupported, source + ": \"" + key +
                                              "\": true is not supported by Manyfold's FlowMatch Euler port "
                                              "(the MfM release does not use it)");
  };
  refuse_true("use_dynamic_shifting");
  refuse_true("invert_sigmas");
  refuse_true("use_karras_sigmas");
  refuse_true("use_exponential_sigmas");
  refuse_true("use_beta_sigmas");
  if (j.contains("shift_terminal") && !j.at("shift_terminal").is_null())
    throw Error(ErrorCode::Unsupported, source + ": \"shift_terminal\" is not supported by Manyfold's FlowMatch "
                                                 "Euler port (the MfM release does not use it)");
  return c;
}

std::vector<float> flow_match_training_sigmas(const FlowMatchEulerConfig& config) {
  check_config(config);
  const int n = config.num_train_timesteps;
  // np.linspace(1, n, n, dtype=float32)[::-1]: integers 1..n, exact in float32 for n < 2^24.
  const std::vector<double> t = np_linspace(1.0, static_cast<double>(n), n);
  const float shift = static_cast<float>(config.shift);
  const float shift_m1 = static_cast<float>(config.shift - 1.0);
  const float ntt = static_cast<float>(n);
  std::vector<float> sig(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float ts = static_cast<float>(t[n - 1 - i]);
    const float s = ts / ntt;
    sig[i] = shift_f32(shift, shift_m1, s);
  }
  return sig;
}

FlowMatchSchedule flow_match_schedule(const FlowMatchEulerConfig& config, int steps) {
  check(steps >= 1, ErrorCode::BadInput,
        "steps: the number of inference steps must be at least 1 (found " + std::to_string(steps) + ")");
  const std::vector<float> train = flow_match_training_sigmas(config);
  // sigma_max / sigma_min are Python floats (.item()); _sigma_to_t multiplies by num_train_timesteps in float64.
  const double ntt = static_cast<double>(config.num_train_timesteps);
  const double t_max = static_cast<double>(train.front()) * ntt;
  const double t_min = static_cast<double>(train.back()) * ntt;
  const std::vector<double> ts = np_linspace(t_max, t_min, steps);
  const double shift = config.shift;
  std::vector<float> sig32(static_cast<size_t>(steps));
  for (int i = 0; i < steps; ++i) {
    const double s = ts[i] / ntt;
    const double shifted = (shift * s) / (1.0 + (shift - 1.0) * s);  // second shift, float64 (numpy)
    sig32[i] = static_cast<float>(shifted);
  }
  return finish(sig32, config.num_train_timesteps);
}

FlowMatchSchedule flow_match_schedule_from_sigmas(const FlowMatchEulerConfig& config,
                                                  const std::vector<double>& custom_sigmas) {
  check_config(config);
  check(!custom_sigmas.empty(), ErrorCode::BadInput, "custom sigmas: at least one sigma is needed");
  // np.array(sigmas).astype(float32), then the shift with a Python-float scalar stays float32 in numpy.
  const float shift = static_cast<float>(config.shift);
  const float shift_m1 = static_cast<float>(config.shift - 1.0);
  std::vector<float> sig32(custom_sigmas.size());
  for (size_t i = 0; i < custom_sigmas.size(); ++i)
    sig32[i] = shift_f32(shift, shift_m1, static_cast<float>(custom_sigmas[i]));
  return finish(sig32, config.num_train_timesteps);
}

std::vector<double> mfm_t_schedule_sigmas(int steps) {
  check(steps >= 1, ErrorCode::BadInput,
        "steps: the number of inference steps must be at least 1 (found " + std::to_string(steps) + ")");
  std::vector<double> x = np_linspace(1000.0, 0.0, steps);
  for (double& v : x) v = v / 1000.0;
  const int shift_1 = 17, shift_2 = 7;
  const int pivot = static_cast<int>(steps * 0.6);
  for (int n = 0; n < steps; ++n) {
    const double xn = x[n];
    if (n < pivot) {
      x[n] = (shift_1 * xn) / (1.0 + (shift_1 - 1) * xn);
    } else {
      const double ss = 1.0 - static_cast<double>(n - pivot) / static_cast<double>(steps - pivot);
      const double s = shift_1 * ss + shift_2 * (1.0 - ss);
      x[n] = (s * xn) / (1.0 + (s - 1.0) * xn);
    }
  }
  return x;
}

FlowMatchSchedule mfm_schedule(const FlowMatchEulerConfig& config, int steps, bool use_t_schedule) {
  if (use_t_schedule) return flow_match_schedule_from_sigmas(config, mfm_t_schedule_sigmas(steps));
  return flow_match_schedule(config, steps);
}

void euler_step(const float* x, const float* v, size_t n, float sigma, float sigma_next, float* out) {
  const float dt = sigma_next - sigma;
  for (size_t i = 0; i < n; ++i) {
    const float d = dt * v[i];
    out[i] = x[i] + d;
  }
}

void cfg_combine(const float* uncond, const float* cond, size_t n, double guidance_scale, float* out) {
  const float g = static_cast<float>(guidance_scale);
  for (size_t i = 0; i < n; ++i) {
    const float diff = cond[i] - uncond[i];
    const float scaled = g * diff;
    out[i] = uncond[i] + scaled;
  }
}

void predict_x0(const float* x, const float* v, size_t n, float sigma, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float d = sigma * v[i];
    out[i] = x[i] - d;
  }
}

float round_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    bits |= 0x00400000u;  // quiet NaN, keep sign
    bits &= 0xffff0000u;
  } else {
    const uint32_t lsb = (bits >> 16) & 1u;
    bits += 0x7fffu + lsb;
    bits &= 0xffff0000u;
  }
  float r;
  std::memcpy(&r, &bits, sizeof(r));
  return r;
}

}  // namespace mf::sampling
