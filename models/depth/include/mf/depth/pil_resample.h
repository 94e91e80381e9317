// Pillow-exact resampling of 8-bit images, without LibTorch.
//
// The official MfM pipeline and transformers' DPTImageProcessor resize frames with PIL's Image.resize(...,
// BICUBIC). Reproducing its uint8 output bit for bit needs PIL's own algorithm, not OpenCV's: a separable
// convolution whose support widens with the downscale factor (antialiasing), double-precision weights normalised
// per output pixel and rounded to 22-bit fixed point, a horizontal pass (only over the rows the vertical pass
// reads) then a vertical pass, each rounding and clipping to 0..255. Verified against Pillow 9.4 (same code as
// the 11.2.1 pinned by MfM) in tests/unit/depth (fixture tests/fixtures/depth/pil_bicubic.safetensors).
//
// Thread-safety: pure functions; safe to call concurrently.
#pragma once

#include <cstdint>
#include <vector>

namespace mf::depth {

// Resizes an interleaved 8-bit image [height, width, channels] (channels 1..4, rows tightly packed) to
// [out_height, out_width, channels] exactly like PIL `Image.resize((out_width, out_height), Image.BICUBIC)` on an
// "L"/"RGB"/"RGBX" image. An axis whose size does not change is not resampled (as in PIL). Throws
// mf::Error(BadInput) for empty sizes or an unsupported channel count.
std::vector<uint8_t> pil_resize_bicubic(const uint8_t* src, int height, int width, int channels, int out_height,
                                        int out_width);

}  // namespace mf::depth
