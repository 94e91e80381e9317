// A corpus of valid and broken safetensors files built in memory, shared by the unit tests (which check
// each verdict and message) and by `test_safetensors --write-corpus DIR`, which writes the files that seed
// the fuzz target (tests/fixtures/safetensors/). Each case is built from its header text, so the intent
// of every broken file is readable here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mf::io::testing {

struct CorpusCase {
  std::string name;
  std::vector<uint8_t> bytes;
  bool valid;
  std::string message;  // for broken files: a substring the error must contain
};

// [u64 N][header][data] with N = header.size() (pass a different length to lie about it).
inline std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, uint64_t n_override = ~0ull) {
  std::vector<uint8_t> out;
  uint64_t n = n_override == ~0ull ? header.size() : n_override;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 37 + 11));
  return out;
}

inline std::vector<CorpusCase> safetensors_corpus() {
  std::vector<CorpusCase> c;
  auto valid = [&](const std::string& name, const std::string& header, size_t data) {
    c.push_back({name, make_file(header, data), true, ""});
  };
  auto broken = [&](const std::string& name, std::vector<uint8_t> bytes, const std::string& msg) {
    c.push_back({name, std::move(bytes), false, msg});
  };
  const std::string one = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

  valid("empty_header", "{}      ", 0);
  valid("one_f32", one, 16);
  valid("metadata_only", R"({"__metadata__":{"format":"pt","config":"{\"x\": 1}"}})", 0);
  valid("scalar", R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", 8);
  valid("empty_tensor_huge_dims",
        R"({"e":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]},)"
        R"("b":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})",
        3);
  valid("all_dtypes",
        R"({"f64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
        R"("f32":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
        R"("f16":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},)"
        R"("bf16":{"dtype":"BF16","shape":[1],"data_offsets":[14,16]},)"
        R"("i64":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},)"
        R"("i32":{"dtype":"I32","shape":[1],"data_offsets":[24,28]},)"
        R"("i16":{"dtype":"I16","shape":[1],"data_offsets":[28,30]},)"
        R"("i8":{"dtype":"I8","shape":[1],"data_offsets":[30,31]},)"
        R"("u8":{"dtype":"U8","shape":[1],"data_offsets":[31,32]},)"
        R"("bool":{"dtype":"BOOL","shape":[1],"data_offsets":[32,33]},)"
        R"("e4m3":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[33,34]},)"
        R"("e5m2":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[34,35]},)"
        R"("__metadata__":{"k":"v"}})",
        35);
  valid("unsorted_offsets_in_json",  // key order in the JSON need not follow offsets
        R"({"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
        4);

  broken("zero_length", {}, "shorter than the 8-byte");
  broken("five_bytes", {1, 0, 0, 0, 0}, "shorter than the 8-byte");
  broken("header_length_past_end", make_file(one, 16, 4096), "only");
  broken("header_length_huge", make_file(one, 16, 0x7fffffffffffffffull), "limit");
  broken("header_length_zero", make_file("", 0), "too short");
  broken("truncated_data", make_file(one, 15), "truncated");
  {
    auto b = make_file(one, 16);
    b.resize(30);  // cut inside the JSON header
    broken("truncated_in_header", b, "only");
  }
  broken("non_json", make_file("{this is not json}", 0), "not well-formed JSON");
  broken("not_an_object", make_file("[1,2,3]", 0), "does not start with '{'");
  broken("json_with_garbage_after", make_file(one + "xyz", 16), "not well-formed JSON");
  broken("invalid_utf8", make_file("{\"\xff\xfe\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
         "not well-formed JSON");
  broken("unknown_dtype", make_file(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
         "unknown dtype 'F128'");
  broken("dtype_not_string", make_file(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), "dtype");
  broken("missing_shape", make_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "shape");
  broken("shape_size_mismatch", make_file(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16),
         "needs 24 bytes but data_offsets span 16");
  broken("negative_dim", make_file(R"({"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})", 16),
         "negative dimension");
  broken("float_dim", make_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
         "non-integer");
  broken("huge_shape_overflow",
         make_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,16]}})",
                   16),
         "overflows");
  broken("shape_wraps_to_zero",  // 2^32 * 2^32 wraps to 0 in 64 bits: must still be an overflow
         make_file(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0), "overflows");
  broken("bytes_overflow",  // numel fits, numel x 8 does not
         make_file(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0), "overflows");
  broken("overlapping_offsets",
         make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12),
         "overlaps");
  broken("same_offsets_twice",
         make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   8),
         "overlaps");
  broken("gap_between_tensors",
         make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                   12),
         "gap");
  broken("gap_at_start", make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "gap");
  broken("trailing_bytes", make_file(one, 24), "trailing bytes");
  broken("offsets_reversed", make_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", 8),
         "end before they begin");
  broken("offsets_negative", make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}})", 4),
         "data_offsets");
  broken("offsets_three", make_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4,8]}})", 4),
         "data_offsets");
  broken("offsets_past_end_huge",
         make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", 1),
         "truncated");
  broken("metadata_not_string", make_file(R"({"__metadata__":{"n":3}})", 0), "__metadata__ entry 'n'");
  broken("metadata_not_object", make_file(R"({"__metadata__":"x"})", 0), "__metadata__");
  broken("entry_not_object", make_file(R"({"a":[1,2]})", 0), "tensor 'a'");
  broken("unknown_field", make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
         "unknown field 'x'");
  broken("duplicate_key",  // JSON keeps the last 'a', so bytes 0..4 belong to nothing
         make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                   8),
         "gap");
  {
    std::string deep = "{\"a\":" + std::string(20000, '[') + std::string(20000, ']') + "}";
    broken("deeply_nested", make_file(deep, 0), "tensor 'a'");
  }
  return c;
}

}  // namespace mf::io::testing
