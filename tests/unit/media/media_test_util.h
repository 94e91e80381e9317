// Shared helpers for the media tests: a self-deleting temp folder and synthetic, smooth test frames
// (smooth so 4:2:0 chroma subsampling does not dominate the PSNR of lossy round trips).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include "mf/core/error.h"
#include "mf/media/image.h"

namespace mf::media::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("mf_media_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

// Smooth moving colour field; each t gives a visibly different frame.
inline Image pattern_frame(int w, int h, int t) {
  Image img = Image::make(w, h, 3);
  const double pi2 = 6.283185307179586;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = static_cast<uint8_t>(128 + 90 * std::sin(pi2 * (double(x) / w + t / 30.0)));
      p[1] = static_cast<uint8_t>(128 + 90 * std::cos(pi2 * (double(y) / h + t / 20.0)));
      p[2] = static_cast<uint8_t>(128 + 80 * std::sin(pi2 * (double(x + y) / (w + h) + t / 25.0)));
    }
  return img;
}

inline Image solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img = Image::make(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(x, y)[0] = r;
      img.at(x, y)[1] = g;
      img.at(x, y)[2] = b;
    }
  return img;
}

// Clockwise quarter turn.
inline Image rotate_cw(const Image& s) {
  Image d = Image::make(s.height, s.width, s.channels);
  for (int r = 0; r < d.height; ++r)
    for (int c = 0; c < d.width; ++c)
      for (int k = 0; k < s.channels; ++k) d.at(c, r)[k] = s.at(r, s.height - 1 - c)[k];
  return d;
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A mono 16-bit PCM WAV of `seconds` of a 440 Hz tone.
inline void write_wav(const fs::path& p, double seconds, int rate = 48000) {
  const uint32_t n = static_cast<uint32_t>(seconds * rate);
  std::string b;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(char((v >> (8 * i)) & 0xff)); };
  auto u16 = [&](uint16_t v) { b.push_back(char(v & 0xff)); b.push_back(char(v >> 8)); };
  b += "RIFF"; u32(36 + n * 2); b += "WAVEfmt "; u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16);
  b += "data"; u32(n * 2);
  for (uint32_t i = 0; i < n; ++i) u16(static_cast<uint16_t>(int16_t(8000 * std::sin(6.283185307 * 440.0 * i / rate))));
  write_bytes(p, b);
}

// Runs f and expects an mf::Error with one of the codes (never a crash or another exception type).
template <class F>
::testing::AssertionResult throws_mf(F&& f, std::initializer_list<ErrorCode> codes) {
  try {
    f();
  } catch (const mf::Error& e) {
    for (auto c : codes)
      if (e.code() == c) return ::testing::AssertionSuccess() << e.what();
    return ::testing::AssertionFailure() << "wrong code " << to_string(e.code()) << ": " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "non-mf exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception";
}

}  // namespace mf::media::test
