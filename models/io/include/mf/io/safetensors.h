// Safetensors files: a memory-mapped, bounds-checked reader and an atomic writer. No LibTorch.
//
// Reader contract: open() validates the WHOLE header before any tensor byte is touched (header length
// bound, well-formed JSON, every dtype known, shapes non-negative, byte size = numel x dtype size with no
// overflow, offsets sorted, contiguous, non-overlapping and covering the data section exactly). Any
// violation throws mf::Error(ErrorCode::BadFile) whose message names the file and, where relevant, the
// tensor. After open() succeeds, data() pointers are valid for the lifetime of the SafetensorsFile.
// Thread-safety: a SafetensorsFile is immutable after open(); concurrent reads are safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mf::io {

enum class DType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);            // "F32", "BF16", ... as in the file format
bool parse_dtype(const std::string& s, DType* out);
size_t dtype_size(DType d);                 // bytes per element

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // Headers larger than this are refused before any parsing (real checkpoints use well under 1 MB).
  static constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

  // Maps and validates `path`. Throws mf::Error(BadFile / Io) with the file named.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  // Parses an in-memory buffer (the fuzz target and tests use this). The buffer must outlive the object.
  static std::shared_ptr<const SafetensorsFile> parse(const uint8_t* bytes, size_t size,
                                                      const std::string& label = "<memory>");
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file (offset) order
  const TensorInfo* find(const std::string& name) const;               // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  uint64_t header_size() const { return header_bytes_; }  // JSON header length N (data starts at 8 + N)

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

 private:
  SafetensorsFile() = default;
  void validate();  // parses base_[0, size_) into tensors_/metadata_; throws mf::Error(BadFile)
  std::string path_;
  const uint8_t* base_ = nullptr;  // whole mapping (or caller's buffer)
  const uint8_t* data_ = nullptr;  // start of the data section
  uint64_t size_ = 0;
  bool owns_mapping_ = false;
  uint64_t header_bytes_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes in `dtype` with `shape`.
struct TensorBlob {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes tensors sorted by name with an 8-byte aligned header, to `path`.tmp then renamed over `path`
// (a crash never leaves a half-written file under the final name). Throws mf::Error(Io / BadInput).
void write_safetensors(const std::string& path, const std::vector<TensorBlob>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mf::io
