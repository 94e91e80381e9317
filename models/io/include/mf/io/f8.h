// Software decoding/encoding of the 8-bit float formats stored in safetensors (F8_E4M3 = OCP e4m3fn:
// bias 7, no infinities, NaN = S.1111.111; F8_E5M2: bias 15, IEEE-like with inf and NaN). Used where the
// LibTorch in use has no float8 types (1.13). Pure functions, thread-safe, no LibTorch.
#pragma once

#include <cstdint>

namespace mf::io {

float f8_e4m3_to_float(uint8_t v);
float f8_e5m2_to_float(uint8_t v);
// Round-to-nearest-even encoders (saturating to the largest finite value for e4m3, to inf for e5m2);
// used by tests and by writers that quantise.
uint8_t float_to_f8_e4m3(float f);
uint8_t float_to_f8_e5m2(float f);

}  // namespace mf::io
