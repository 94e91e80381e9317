// Torch-free tests of the safetensors parser/writer and the F8 codecs. Also runs under AddressSanitizer
// (cmake --preset asan; target test_io_safetensors). `test_io_safetensors --write-corpus DIR` writes the
// in-memory corpus as files (how tests/fixtures/safetensors/ was produced).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "corpus.h"
#include "mf/core/error.h"
#include "mf/io/f8.h"
#include "mf/io/safetensors.h"

namespace fs = std::filesystem;
using mf::io::DType;
using mf::io::SafetensorsFile;
using mf::io::TensorBlob;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mf_io_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string error_of(const std::vector<uint8_t>& bytes, mf::ErrorCode* code = nullptr) {
  try {
    // Copy into an exactly-sized heap buffer so that ASAN catches any read past the end.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size() ? bytes.size() : 1]);
    if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
    SafetensorsFile::parse(buf.get(), bytes.size(), "case.safetensors");
  } catch (const mf::Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, CorpusVerdictsAndMessages) {
  for (const auto& c : mf::io::testing::safetensors_corpus()) {
    SCOPED_TRACE(c.name);
    mf::ErrorCode code = mf::ErrorCode::Internal;
    std::string err = error_of(c.bytes, &code);
    if (c.valid) {
      EXPECT_EQ(err, "");
    } else {
      ASSERT_NE(err, "") << "accepted a broken file";
      EXPECT_EQ(code, mf::ErrorCode::BadFile);
      EXPECT_NE(err.find("case.safetensors"), std::string::npos) << err;  // the file is named
      EXPECT_NE(err.find(c.message), std::string::npos) << "message was: " << err;
    }
  }
}

TEST(Safetensors, CorpusFilesOnDiskThroughOpen) {
  // The same corpus through open() (mmap path), including the zero-length file.
  fs::path dir = temp_dir("corpus");
  for (const auto& c : mf::io::testing::safetensors_corpus()) {
    SCOPED_TRACE(c.name);
    fs::path p = dir / (c.name + ".safetensors");
    write_bytes(p, c.bytes);
    if (c.valid) {
      EXPECT_NO_THROW(SafetensorsFile::open(p.string()));
    } else {
      try {
        SafetensorsFile::open(p.string());
        ADD_FAILURE() << "accepted";
      } catch (const mf::Error& e) {
        EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
        EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      }
    }
  }
  fs::remove_all(dir);
}

TEST(Safetensors, CommittedFixtures) {
  // tests/fixtures/safetensors/{valid,broken}/ (also the fuzz seed corpus) must keep their verdicts.
  fs::path root = fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "safetensors";
  int n_valid = 0, n_broken = 0;
  for (const char* kind : {"valid", "broken"}) {
    for (const auto& e : fs::directory_iterator(root / kind)) {
      SCOPED_TRACE(e.path().string());
      std::string err = error_of(read_bytes(e.path()));
      if (std::string(kind) == "valid") {
        EXPECT_EQ(err, "");
        ++n_valid;
      } else {
        EXPECT_NE(err, "");
        ++n_broken;
      }
    }
  }
  EXPECT_GE(n_valid, 5);
  EXPECT_GE(n_broken, 20);
}

TEST(Safetensors, ParsesFieldsAndMetadata) {
  auto all = mf::io::testing::safetensors_corpus();
  const auto& c = *std::find_if(all.begin(), all.end(), [](auto& x) { return x.name == "all_dtypes"; });
  auto f = SafetensorsFile::parse(c.bytes.data(), c.bytes.size());
  ASSERT_EQ(f->tensors().size(), 12u);
  EXPECT_EQ(f->tensors()[0].name, "f64");  // offset order
  EXPECT_EQ(f->tensors()[11].name, "e5m2");
  const auto* t = f->find("bf16");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::BF16);
  EXPECT_EQ(t->begin, 14u);
  EXPECT_EQ(t->nbytes(), 2u);
  EXPECT_EQ(f->find("nope"), nullptr);
  EXPECT_EQ(f->metadata().at("k"), "v");
  EXPECT_EQ(f->data(*t), c.bytes.data() + 8 + f->header_size() + 14);
}

TEST(Safetensors, DTypeNames) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::F8_E5M2, DType::I64,
                  DType::I32, DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    DType back;
    ASSERT_TRUE(mf::io::parse_dtype(mf::io::dtype_name(d), &back));
    EXPECT_EQ(back, d);
    EXPECT_GT(mf::io::dtype_size(d), 0u);
  }
  EXPECT_FALSE(mf::io::parse_dtype("f32", nullptr));
  EXPECT_EQ(mf::io::dtype_size(DType::BF16), 2u);
  EXPECT_EQ(mf::io::dtype_size(DType::I64), 8u);
}

TEST(Safetensors, WriterSortsAlignsPadsAndRoundTrips) {
  fs::path dir = temp_dir("writer");
  std::vector<TensorBlob> blobs;
  blobs.push_back({"zeta", DType::F32, {2}, {1, 2, 3, 4, 5, 6, 7, 8}});
  blobs.push_back({"alpha", DType::U8, {3}, {9, 8, 7}});
  blobs.push_back({"mid.empty", DType::F16, {0, 5}, {}});
  const std::string path = (dir / "w.safetensors").string();
  mf::io::write_safetensors(path, blobs, {{"config", "{\"a\": 1}"}, {"source", "test"}});
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  auto bytes = read_bytes(path);
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ((8 + f->header_size()) % 8, 0u);
  // The padding is spaces and the header is JSON that starts with '{'.
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(f->header_size()));
  EXPECT_EQ(header[0], '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  // Data in name order: alpha, mid.empty, zeta.
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->tensors()[0].name, "alpha");
  EXPECT_EQ(f->tensors()[2].name, "zeta");
  EXPECT_EQ(f->find("zeta")->begin, 3u);
  EXPECT_EQ(std::memcmp(f->data(*f->find("zeta")), blobs[0].bytes.data(), 8), 0);
  EXPECT_EQ(std::memcmp(f->data(*f->find("alpha")), blobs[1].bytes.data(), 3), 0);
  EXPECT_EQ(f->find("mid.empty")->shape, (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(f->metadata().at("config"), "{\"a\": 1}");
  EXPECT_EQ(f->metadata().size(), 2u);
  // Overwriting goes through the temporary file too and replaces the content.
  mf::io::write_safetensors(path, {{"only", DType::I8, {1}, {42}}});
  auto g = SafetensorsFile::open(path);
  ASSERT_EQ(g->tensors().size(), 1u);
  EXPECT_EQ(*g->data(g->tensors()[0]), 42);
  EXPECT_EQ(g->metadata().size(), 0u);
  fs::remove_all(dir);
}

TEST(Safetensors, WriterRejectsBadInput) {
  fs::path dir = temp_dir("writer_bad");
  const std::string path = (dir / "bad.safetensors").string();
  auto code_of = [&](const std::vector<TensorBlob>& b) {
    try {
      mf::io::write_safetensors(path, b);
    } catch (const mf::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
      return e.code();
    }
    return mf::ErrorCode::Internal;
  };
  EXPECT_EQ(code_of({{"a", DType::F32, {2}, {1, 2, 3}}}), mf::ErrorCode::BadInput);  // 3 bytes for 8
  EXPECT_EQ(code_of({{"a", DType::U8, {1}, {1}}, {"a", DType::U8, {1}, {2}}}), mf::ErrorCode::BadInput);
  EXPECT_EQ(code_of({{"__metadata__", DType::U8, {1}, {1}}}), mf::ErrorCode::BadInput);
  EXPECT_EQ(code_of({{"a", DType::U8, {-1}, {}}}), mf::ErrorCode::BadInput);
  // 2^32 x 2^32 wraps to 0 elements in 64 bits: must not pass as an empty tensor.
  EXPECT_EQ(code_of({{"a", DType::U8, {int64_t(1) << 32, int64_t(1) << 32}, {}}}), mf::ErrorCode::BadInput);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(code_of({{"a", DType::U8, {1}, {1}}}), mf::ErrorCode::Internal);  // fine: nothing thrown
  EXPECT_EQ(code_of({{"a", DType::U8, {int64_t(1) << 62, int64_t(1) << 62, 0}, {}}}), mf::ErrorCode::Internal);
  // Writing into a folder that does not exist is an Io error, not a crash.
  try {
    mf::io::write_safetensors((dir / "no" / "such" / "x.safetensors").string(), {});
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::Io);
  }
  fs::remove_all(dir);
}

TEST(Safetensors, OpenErrors) {
  try {
    SafetensorsFile::open("/nonexistent/file.safetensors");
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::MissingModel);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.safetensors"), std::string::npos);
  }
  fs::path dir = temp_dir("open_dir");
  try {
    SafetensorsFile::open(dir.string());
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
  }
  fs::remove_all(dir);
}

TEST(F8, KnownValues) {
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0xB8), -1.0f);
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_TRUE(std::isnan(mf::io::f8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(mf::io::f8_e4m3_to_float(0xFF)));
  EXPECT_EQ(mf::io::f8_e4m3_to_float(0x78), 256.0f);  // e=15 is a normal exponent in e4m3fn
  EXPECT_EQ(mf::io::f8_e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(mf::io::f8_e5m2_to_float(0x7B), 57344.0f);
  EXPECT_EQ(mf::io::f8_e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  EXPECT_TRUE(std::isinf(mf::io::f8_e5m2_to_float(0x7C)));
  EXPECT_TRUE(std::isinf(mf::io::f8_e5m2_to_float(0xFC)) && mf::io::f8_e5m2_to_float(0xFC) < 0);
  EXPECT_TRUE(std::isnan(mf::io::f8_e5m2_to_float(0x7D)));
  EXPECT_EQ(mf::io::f8_e5m2_to_float(0x40), 2.0f);
}

TEST(F8, EncodeDecodeRoundTripAndRounding) {
  for (int c = 0; c < 256; ++c) {
    float a = mf::io::f8_e4m3_to_float(static_cast<uint8_t>(c));
    if (!std::isnan(a)) {
      EXPECT_EQ(mf::io::float_to_f8_e4m3(a), c) << c;
    }
    float b = mf::io::f8_e5m2_to_float(static_cast<uint8_t>(c));
    if (!std::isnan(b)) {
      EXPECT_EQ(mf::io::float_to_f8_e5m2(b), c) << c;
    }
  }
  // 1.0625 lies halfway between 1.0 (mantissa 0, even) and 1.125 in e4m3: ties to even.
  EXPECT_EQ(mf::io::float_to_f8_e4m3(1.0625f), 0x38);
  EXPECT_EQ(mf::io::float_to_f8_e4m3(1.07f), 0x39);
  EXPECT_EQ(mf::io::float_to_f8_e4m3(1e6f), 0x7E);   // saturates
  EXPECT_EQ(mf::io::float_to_f8_e5m2(1e6f), 0x7C);   // to infinity
  EXPECT_EQ(mf::io::float_to_f8_e5m2(-1e6f), 0xFC);
}

// `--write-corpus DIR` writes the corpus files (valid/ and broken/) and exits.
int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--write-corpus") {
      fs::path root = argv[i + 1];
      fs::create_directories(root / "valid");
      fs::create_directories(root / "broken");
      for (const auto& c : mf::io::testing::safetensors_corpus())
        write_bytes(root / (c.valid ? "valid" : "broken") / (c.name + ".safetensors"), c.bytes);
      std::cout << "wrote the corpus to " << root << "\n";
      return 0;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
