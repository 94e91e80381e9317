// libFuzzer target for the safetensors header parser (mf::io::SafetensorsFile::parse). Any input must
// either be rejected with mf::Error(BadFile) or yield tensors whose offsets are sorted, contiguous, inside
// the buffer and consistent with shape x dtype size. Every accepted tensor's bytes are read, so that
// AddressSanitizer flags any out-of-bounds pointer. See README.md for how to run it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "mf/core/error.h"
#include "mf/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const mf::io::SafetensorsFile> f;
  try {
    f = mf::io::SafetensorsFile::parse(data, size, "fuzz");
  } catch (const mf::Error& e) {
    if (e.code() != mf::ErrorCode::BadFile) std::abort();  // a parse error must always be BadFile
    if (std::strstr(e.what(), "fuzz") == nullptr) std::abort();  // and must name the file
    return 0;
  }
  const uint64_t data_size = size - 8 - f->header_size();
  uint64_t pos = 0;
  volatile uint8_t sink = 0;
  for (const auto& t : f->tensors()) {
    if (t.begin != pos || t.end < t.begin || t.end > data_size) std::abort();
    if (t.numel() * mf::io::dtype_size(t.dtype) != t.nbytes()) std::abort();
    if (f->find(t.name) != &t) std::abort();
    const uint8_t* p = f->data(t);
    for (uint64_t i = 0; i < t.nbytes(); ++i) sink ^= p[i];
    pos = t.end;
  }
  if (pos != data_size) std::abort();
  (void)sink;
  return 0;
}
