// Safetensors reader/writer (torch-free). Layout of a file:
//   [u64 little-endian N][N bytes of JSON header, UTF-8, may be right-padded with spaces][data section]
// The header maps tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative to the data
// section) plus an optional "__metadata__" string->string map. We validate everything before exposing a
// single data pointer, so a hostile file can never make a reader go out of bounds.
#include "mf/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "mf/core/error.h"

namespace mf::io {

namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8},         {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},       {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},         {DType::I32, "I32", 4},         {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},           {DType::U8, "U8", 1},           {DType::BOOL, "BOOL", 1},
};

[[noreturn]] void bad(const std::string& label, const std::string& what) {
  throw Error(ErrorCode::BadFile, label + ": not a valid safetensors file: " + what);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.name;
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  for (const auto& e : kDTypes) {
    if (s == e.name) {
      if (out) *out = e.dtype;
      return true;
    }
  }
  return false;
}

size_t dtype_size(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.size;
  return 0;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // validated against overflow at parse time
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (owns_mapping_ && base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::MissingModel : ErrorCode::Io,
                path + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(ErrorCode::Io, path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::BadInput, path + ": not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    bad(path, "the file is " + std::to_string(size) + " bytes long, shorter than the 8-byte header length");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (m == MAP_FAILED) throw Error(ErrorCode::Io, path + ": cannot map: " + std::strerror(err));
  // Parse with the mapping already owned so that a validation error unmaps it.
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->base_ = static_cast<const uint8_t*>(m);
  f->size_ = size;
  f->owns_mapping_ = true;
  f->validate();
  return f;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::parse(const uint8_t* bytes, size_t size,
                                                              const std::string& label) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = label;
  f->base_ = bytes;
  f->size_ = size;
  f->owns_mapping_ = false;
  f->validate();
  return f;
}

void SafetensorsFile::validate() {
  const std::string& label = path_;
  if (size_ < 8 || base_ == nullptr)
    bad(label, "the file is " + std::to_string(size_) + " bytes long, shorter than the 8-byte header length");
  const uint64_t n = read_u64_le(base_);
  if (n > kMaxHeaderBytes)
    bad(label, "the header length field says " + std::to_string(n) + " bytes, more than the " +
                   std::to_string(kMaxHeaderBytes) + "-byte limit (corrupt or not a safetensors file)");
  if (n > size_ - 8)
    bad(label, "the header length field says " + std::to_string(n) + " bytes but only " +
                   std::to_string(size_ - 8) + " bytes follow it (truncated file?)");
  if (n < 2) bad(label, "the header is " + std::to_string(n) + " bytes long, too short to hold a JSON object");
  const char* hb = reinterpret_cast<const char*>(base_ + 8);
  if (hb[0] != '{') bad(label, "the header does not start with '{' (not a JSON object)");

  // nlohmann's parser is iterative (no recursion-depth crash on nested input) and checks UTF-8.
  nlohmann::json h = nlohmann::json::parse(hb, hb + n, nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded()) bad(label, "the header is not well-formed JSON");
  if (!h.is_object()) bad(label, "the header is not a JSON object");

  const uint64_t data_size = size_ - 8 - n;
  tensors_.clear();
  index_.clear();
  metadata_.clear();
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) bad(label, "__metadata__ is not a JSON object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          bad(label, "__metadata__ entry '" + m.key() + "' is not a string (" + m.value().type_name() + ")");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object()) bad(label, where + ": entry is not a JSON object");
    for (auto f = v.begin(); f != v.end(); ++f) {
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
        bad(label, where + ": unknown field '" + f.key() + "'");
    }
    TensorInfo t;
    t.name = name;
    auto d = v.find("dtype");
    if (d == v.end() || !d->is_string()) bad(label, where + ": missing or non-string \"dtype\"");
    if (!parse_dtype(d->get<std::string>(), &t.dtype))
      bad(label, where + ": unknown dtype '" + d->get<std::string>() +
                     "' (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL)");
    auto s = v.find("shape");
    if (s == v.end() || !s->is_array()) bad(label, where + ": missing or non-array \"shape\"");
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (const auto& dim : *s) {
      if (!dim.is_number_integer()) bad(label, where + ": shape has a non-integer dimension");
      if (dim.is_number_unsigned()) {
        uint64_t u = dim.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          bad(label, where + ": shape dimension " + std::to_string(u) + " is too large");
        t.shape.push_back(static_cast<int64_t>(u));
      } else {
        int64_t x = dim.get<int64_t>();
        if (x < 0) bad(label, where + ": shape has a negative dimension " + std::to_string(x));
        t.shape.push_back(x);
      }
      uint64_t u = static_cast<uint64_t>(t.shape.back());
      if (u == 0) has_zero = true;
      else if (numel > std::numeric_limits<uint64_t>::max() / u) overflow = true;
      numel *= u;
    }
    if (t.shape.size() > 64) bad(label, where + ": shape has " + std::to_string(t.shape.size()) + " dimensions");
    // A zero dimension anywhere makes the tensor empty, whatever the other dimensions are.
    if (has_zero) {
      overflow = false;
      numel = 0;
    }
    const uint64_t esz = dtype_size(t.dtype);
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / esz ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad(label, where + ": shape " + shape_str(t.shape) + " overflows 64 bits");
    const uint64_t nbytes = numel * esz;
    auto o = v.find("data_offsets");
    if (o == v.end() || !o->is_array() || o->size() != 2 || !(*o)[0].is_number_unsigned() ||
        !(*o)[1].is_number_unsigned())
      bad(label, where + ": \"data_offsets\" must be [begin, end] with non-negative integers");
    t.begin = (*o)[0].get<uint64_t>();
    t.end = (*o)[1].get<uint64_t>();
    if (t.end < t.begin)
      bad(label, where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                     "] end before they begin");
    if (t.end > data_size)
      bad(label, where + ": data_offsets end at " + std::to_string(t.end) + " but the data section is only " +
                     std::to_string(data_size) + " bytes (truncated file?)");
    if (t.end - t.begin != nbytes)
      bad(label, where + ": shape " + shape_str(t.shape) + " x " + dtype_name(t.dtype) + " needs " +
                     std::to_string(nbytes) + " bytes but data_offsets span " + std::to_string(t.end - t.begin));
    tensors_.push_back(std::move(t));
  }
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  uint64_t pos = 0;
  for (const auto& t : tensors_) {
    if (t.begin < pos)
      bad(label, "tensor '" + t.name + "' (bytes " + std::to_string(t.begin) + ".." + std::to_string(t.end) +
                     ") overlaps the previous tensor, which ends at " + std::to_string(pos));
    if (t.begin > pos)
      bad(label, "gap in the data section: bytes " + std::to_string(pos) + ".." + std::to_string(t.begin) +
                     " before tensor '" + t.name + "' belong to no tensor");
    pos = t.end;
  }
  if (pos != data_size)
    bad(label, "the data section is " + std::to_string(data_size) + " bytes but the tensors cover only " +
                   std::to_string(pos) + " (trailing bytes belong to no tensor)");
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  data_ = base_ + 8 + n;
  header_bytes_ = n;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
struct HeaderEntry {
  const std::string* name;
  DType dtype;
  const std::vector<int64_t>* shape;
  uint64_t nbytes;
};

std::string serialize_header(const std::vector<HeaderEntry>& sorted,
                             const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  uint64_t off = 0;
  for (const auto& t : sorted) {
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = dtype_name(t.dtype);
    e["shape"] = *t.shape;
    e["data_offsets"] = {off, off + t.nbytes};
    off += t.nbytes;
    h[*t.name] = e;
  }
  std::string s = h.dump();
  // Pad with spaces so that the data section starts 8-byte aligned (8 + len is a multiple of 8).
  while (s.size() % 8 != 0) s.push_back(' ');
  return s;
}
}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorBlob>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorBlob*> order;
  order.reserve(tensors.size());
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorBlob* a, const TensorBlob* b) { return a->name < b->name; });
  std::vector<HeaderEntry> entries;
  entries.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorBlob& t = *order[i];
    if (t.name.empty() || t.name == "__metadata__")
      throw Error(ErrorCode::BadInput, path + ": invalid tensor name '" + t.name + "'");
    if (i > 0 && order[i - 1]->name == t.name)
      throw Error(ErrorCode::BadInput, path + ": tensor '" + t.name + "' is given twice");
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(ErrorCode::BadInput, path + ": tensor '" + t.name + "' has a negative dimension");
      const uint64_t u = static_cast<uint64_t>(d);
      if (u == 0) has_zero = true;
      else if (numel > std::numeric_limits<uint64_t>::max() / 8 / u) overflow = true;
      numel *= u;
    }
    if (has_zero) numel = 0;
    if (overflow && !has_zero)
      throw Error(ErrorCode::BadInput, path + ": tensor '" + t.name + "' has shape " + shape_str(t.shape) +
                                           ", which overflows 64 bits");
    if (numel * dtype_size(t.dtype) != t.bytes.size())
      throw Error(ErrorCode::BadInput, path + ": tensor '" + t.name + "' has shape " + shape_str(t.shape) + " " +
                                           dtype_name(t.dtype) + " (" + std::to_string(numel * dtype_size(t.dtype)) +
                                           " bytes) but " + std::to_string(t.bytes.size()) + " bytes were given");
    entries.push_back({&t.name, t.dtype, &t.shape, t.bytes.size()});
  }
  const std::string header = serialize_header(entries, metadata);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorCode::Io, tmp + ": cannot create: " + std::strerror(errno));
    uint8_t len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const TensorBlob* t : order)
      out.write(reinterpret_cast<const char*>(t->bytes.data()), static_cast<std::streamsize>(t->bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(ErrorCode::Io, tmp + ": write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw Error(ErrorCode::Io, "cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
}

}  // namespace mf::io
