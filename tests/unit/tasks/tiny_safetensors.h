// A minimal safetensors reader for torch-free tests (tasks, sampling): reads the header JSON (8-byte little-endian
// length, then JSON) and returns raw tensor bytes converted to float/uint8. Test-only; the product reader with
// full validation lives in models/io.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mf::testing {

struct TinyTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

inline float tiny_f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

class TinySafetensors {
 public:
  explicit TinySafetensors(const std::string& path) : path_(path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    uint8_t len8[8];
    f.read(reinterpret_cast<char*>(len8), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len8[i];
    std::string hdr(n, '\0');
    f.read(&hdr[0], static_cast<std::streamsize>(n));
    header_ = nlohmann::json::parse(hdr);
    data_offset_ = 8 + n;
    if (header_.contains("__metadata__"))
      for (auto& [k, v] : header_["__metadata__"].items()) metadata_[k] = v.get<std::string>();
  }

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return header_.contains(name) && name != "__metadata__"; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& [k, v] : header_.items())
      if (k != "__metadata__") out.push_back(k);
    return out;
  }

  TinyTensor tensor(const std::string& name) const {
    if (!has(name)) throw std::runtime_error(path_ + ": no tensor " + name);
    const auto& e = header_.at(name);
    TinyTensor t;
    t.dtype = e.at("dtype").get<std::string>();
    t.shape = e.at("shape").get<std::vector<int64_t>>();
    const uint64_t b = e.at("data_offsets")[0].get<uint64_t>();
    const uint64_t en = e.at("data_offsets")[1].get<uint64_t>();
    t.bytes.resize(en - b);
    std::ifstream f(path_, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(data_offset_ + b));
    f.read(reinterpret_cast<char*>(t.bytes.data()), static_cast<std::streamsize>(en - b));
    return t;
  }

  // F32 or F16 tensor as float.
  std::vector<float> floats(const std::string& name, std::vector<int64_t>* shape = nullptr) const {
    TinyTensor t = tensor(name);
    if (shape) *shape = t.shape;
    std::vector<float> out(static_cast<size_t>(t.numel()));
    if (t.dtype == "F32") {
      std::memcpy(out.data(), t.bytes.data(), out.size() * 4);
    } else if (t.dtype == "F16") {
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, t.bytes.data() + 2 * i, 2);
        out[i] = tiny_f16_to_f32(h);
      }
    } else {
      throw std::runtime_error(path_ + ": tensor " + name + " has dtype " + t.dtype + ", expected F32/F16");
    }
    return out;
  }

  std::vector<uint8_t> u8(const std::string& name, std::vector<int64_t>* shape = nullptr) const {
    TinyTensor t = tensor(name);
    if (t.dtype != "U8") throw std::runtime_error(path_ + ": tensor " + name + " is not U8");
    if (shape) *shape = t.shape;
    return t.bytes;
  }

 private:
  std::string path_;
  nlohmann::json header_;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
};

}  // namespace mf::testing
