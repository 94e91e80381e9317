// LibTorch side of weight I/O: dtype conversion, WeightSource (file / index / folder / prefix),
// save_tensors round trips, load_state_dict reports, and reading every shared parity file.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <filesystem>
#include <fstream>

#include "mf/core/error.h"
#include "mf/io/f8.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;
using mf::io::DType;
using mf::io::WeightSource;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mf_tio_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string expect_error(const std::function<void()>& fn, mf::ErrorCode code) {
  try {
    fn();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

struct Tiny : torch::nn::Module {
  Tiny() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    register_buffer("scale", torch::ones({2}));
  }
  torch::nn::Linear fc{nullptr};
};

}  // namespace

TEST(TensorIo, RoundTripEveryTorchDType) {
  fs::path dir = temp_dir("dtypes");
  const std::string path = (dir / "t.safetensors").string();
  auto base = torch::arange(-3, 9, torch::kFloat64).reshape({3, 4}) * 0.75;
  std::vector<std::pair<std::string, torch::Tensor>> ts;
  for (auto dt : {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64, torch::kInt32,
                  torch::kInt16, torch::kInt8}) {
    ts.emplace_back(std::string("t_") + c10::toString(dt), base.to(dt));
  }
  ts.emplace_back("u8", torch::arange(0, 12, torch::kUInt8).reshape({3, 4}));
  ts.emplace_back("bool", torch::tensor({true, false, true}));
  ts.emplace_back("noncontig", base.to(torch::kFloat32).t());  // saved as a contiguous copy
  mf::io::save_tensors(path, ts, {{"k", "v"}});
  auto src = WeightSource::open(path);
  EXPECT_EQ(src.metadata().at("k"), "v");
  EXPECT_EQ(src.names().size(), ts.size());
  for (const auto& [name, t] : ts) {
    SCOPED_TRACE(name);
    auto back = src.read(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type());
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(back, t));
  }
  EXPECT_EQ(src.info("t_BFloat16").dtype, DType::BF16);
  // Conversion on read.
  auto as_f32 = src.read("t_BFloat16", torch::kFloat32);
  EXPECT_EQ(as_f32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(as_f32, base.to(torch::kFloat32)));
  auto as_i64 = src.read("u8", torch::kInt64);
  EXPECT_EQ(as_i64.scalar_type(), torch::kInt64);
  EXPECT_EQ(as_i64[2][3].item<int64_t>(), 11);
  fs::remove_all(dir);
}

TEST(TensorIo, F8DecodedInSoftware) {
  fs::path dir = temp_dir("f8");
  const std::string path = (dir / "f8.safetensors").string();
  std::vector<uint8_t> codes = {0x38, 0xB8, 0x7E, 0x01, 0x00, 0x40};
  std::vector<uint8_t> codes5 = {0x3C, 0x7B, 0x7C, 0x01, 0x80, 0x40};
  mf::io::write_safetensors(path, {{"e4m3", DType::F8_E4M3, {2, 3}, codes}, {"e5m2", DType::F8_E5M2, {6}, codes5}});
  auto src = WeightSource::open(path);
  auto a = src.read("e4m3", torch::kFloat32);
  ASSERT_EQ(a.sizes(), torch::IntArrayRef({2, 3}));
  auto af = a.flatten();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(af[i].item<float>(), mf::io::f8_e4m3_to_float(codes[i])) << i;
  EXPECT_EQ(af[2].item<float>(), 448.0f);
  auto b = src.read("e5m2", torch::kFloat64);
  EXPECT_EQ(b.scalar_type(), torch::kFloat64);
  EXPECT_EQ(b[1].item<double>(), 57344.0);
  EXPECT_TRUE(std::isinf(b[2].item<double>()));
  EXPECT_EQ(src.read("e4m3", torch::kBFloat16).scalar_type(), torch::kBFloat16);
  // Without a requested dtype: torch's own F8 type where it exists, float32 otherwise.
  EXPECT_EQ(src.read("e4m3").scalar_type(), mf::io::to_torch(DType::F8_E4M3));
  EXPECT_TRUE(torch::equal(src.read("e4m3").to(torch::kFloat32), a));
  fs::remove_all(dir);
}

TEST(TensorIo, BoolBytesAreNormalised) {
  fs::path dir = temp_dir("bool");
  const std::string path = (dir / "b.safetensors").string();
  mf::io::write_safetensors(path, {{"b", DType::BOOL, {3}, {0, 1, 7}}});
  auto t = WeightSource::open(path).read("b");
  EXPECT_EQ(t.scalar_type(), torch::kBool);
  EXPECT_EQ(t.to(torch::kInt64).sum().item<int64_t>(), 2);
  fs::remove_all(dir);
}

TEST(TensorIo, ShardedIndexFolderAndPrefix) {
  fs::path dir = temp_dir("shards");
  mf::io::save_tensors((dir / "m-00001-of-00002.safetensors").string(),
                       {{"blocks.0.w", torch::full({2, 2}, 1.0)}, {"blocks.1.w", torch::full({2, 2}, 2.0)}},
                       {{"format", "pt"}});
  mf::io::save_tensors((dir / "m-00002-of-00002.safetensors").string(),
                       {{"head.w", torch::full({3}, 3.0)}, {"extra.not_in_index", torch::zeros({1})}});
  const std::string index = R"({"metadata": {"total_size": 44}, "weight_map": {
      "blocks.0.w": "m-00001-of-00002.safetensors", "blocks.1.w": "m-00001-of-00002.safetensors",
      "head.w": "m-00002-of-00002.safetensors"}})";
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json") << index;
  for (const std::string& p : {(dir / "diffusion_pytorch_model.safetensors.index.json").string(), dir.string()}) {
    SCOPED_TRACE(p);
    auto src = WeightSource::open(p);
    EXPECT_EQ(src.names(), (std::vector<std::string>{"blocks.0.w", "blocks.1.w", "head.w"}));
    EXPECT_EQ(src.read("blocks.1.w").sum().item<double>(), 8.0);
    EXPECT_EQ(src.read("head.w").sum().item<double>(), 9.0);
    EXPECT_EQ(src.metadata().at("format"), "pt");
    EXPECT_NE(src.describe().find("2 shards"), std::string::npos);
    auto blocks = src.with_prefix("blocks.");
    EXPECT_EQ(blocks.names(), (std::vector<std::string>{"0.w", "1.w"}));
    EXPECT_TRUE(blocks.contains("0.w"));
    EXPECT_FALSE(blocks.contains("head.w"));
    EXPECT_EQ(blocks.read("0.w").sum().item<double>(), 4.0);
    EXPECT_EQ(blocks.info("1.w").shape, (std::vector<int64_t>{2, 2}));
  }
  auto src = WeightSource::open(dir.string());
  std::string msg = expect_error([&] { src.info("nope"); }, mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find("'nope'"), std::string::npos);
  expect_error([&] { src.read("nope"); }, mf::ErrorCode::BadFile);

  // An index naming a tensor its shard lacks, and one naming a shard that does not exist.
  std::ofstream(dir / "bad1.safetensors.index.json")
      << R"({"weight_map": {"ghost": "m-00001-of-00002.safetensors"}})";
  msg = expect_error([&] { WeightSource::open((dir / "bad1.safetensors.index.json").string()); },
                     mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find("'ghost'"), std::string::npos) << msg;
  std::ofstream(dir / "bad2.safetensors.index.json") << R"({"weight_map": {"a": "missing.safetensors"}})";
  msg = expect_error([&] { WeightSource::open((dir / "bad2.safetensors.index.json").string()); },
                     mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find("missing.safetensors"), std::string::npos) << msg;
  std::ofstream(dir / "bad3.safetensors.index.json") << "{ not json";
  expect_error([&] { WeightSource::open((dir / "bad3.safetensors.index.json").string()); }, mf::ErrorCode::BadFile);
  std::ofstream(dir / "bad4.safetensors.index.json") << R"({"weight_map": {"a": "../x.safetensors"}})";
  expect_error([&] { WeightSource::open((dir / "bad4.safetensors.index.json").string()); }, mf::ErrorCode::BadFile);

  // Missing paths and empty folders are MissingModel.
  expect_error([&] { WeightSource::open((dir / "absent").string()); }, mf::ErrorCode::MissingModel);
  fs::create_directories(dir / "empty");
  expect_error([&] { WeightSource::open((dir / "empty").string()); }, mf::ErrorCode::MissingModel);
  fs::remove_all(dir);
}

TEST(TensorIo, FolderWithOneFileAndAmbiguousFolder) {
  fs::path dir = temp_dir("folder");
  mf::io::save_tensors((dir / "weights.safetensors").string(), {{"x", torch::ones({1})}});
  EXPECT_TRUE(WeightSource::open(dir.string()).contains("x"));
  mf::io::save_tensors((dir / "other.safetensors").string(), {{"y", torch::ones({1})}});
  std::string msg = expect_error([&] { WeightSource::open(dir.string()); }, mf::ErrorCode::BadInput);
  EXPECT_NE(msg.find("other.safetensors"), std::string::npos);
  mf::io::save_tensors((dir / "diffusion_pytorch_model.safetensors").string(), {{"z", torch::ones({1})}});
  EXPECT_TRUE(WeightSource::open(dir.string()).contains("z"));  // the diffusers name wins
  fs::remove_all(dir);
}

TEST(TensorIo, LoadStateDictStrictAndReport) {
  fs::path dir = temp_dir("load");
  const std::string good = (dir / "good.safetensors").string();
  mf::io::save_tensors(good, {{"fc.weight", torch::full({2, 3}, 0.5)},
                              {"fc.bias", torch::tensor({1.0, 2.0}, torch::kFloat64)},  // cast on load
                              {"scale", torch::full({2}, 4.0)}});
  Tiny m;
  auto report = mf::io::load_state_dict(m, WeightSource::open(good));
  EXPECT_TRUE(report.ok()) << report.to_string();
  EXPECT_EQ(m.fc->weight.sum().item<float>(), 3.0f);
  EXPECT_EQ(m.fc->bias[1].item<float>(), 2.0f);
  EXPECT_EQ(m.fc->bias.scalar_type(), torch::kFloat32);
  EXPECT_EQ(m.named_buffers()["scale"].sum().item<float>(), 8.0f);

  const std::string bad = (dir / "bad.safetensors").string();
  mf::io::save_tensors(bad, {{"fc.weight", torch::zeros({3, 3})},  // wrong shape
                             {"scale", torch::zeros({2})},
                             {"head.extra", torch::zeros({1})},
                             {"ema.fc.weight", torch::zeros({2, 3})}});
  Tiny m2;
  auto before = m2.fc->weight.clone();
  std::string msg = expect_error([&] { mf::io::load_state_dict(m2, WeightSource::open(bad)); }, mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find("missing: 'fc.bias' [2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected: 'head.extra' [1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: 'fc.weight' expected [2, 3], found [3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_TRUE(torch::equal(before, m2.fc->weight));                       // strict failure loads nothing
  EXPECT_NE(m2.named_buffers()["scale"].sum().item<float>(), 0.0f);

  auto r = mf::io::load_state_dict(m2, WeightSource::open(bad), /*strict=*/false, {"ema."});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing, (std::vector<std::string>{"fc.bias"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"head.extra"}));  // ema.* ignored
  ASSERT_EQ(r.shape_mismatches.size(), 1u);
  EXPECT_EQ(r.shape_mismatches[0].expected, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.shape_mismatches[0].found, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(m2.named_buffers()["scale"].sum().item<float>(), 0.0f);  // the good tensor was loaded
  EXPECT_TRUE(torch::equal(before, m2.fc->weight));                  // the mis-shaped one was not
  fs::remove_all(dir);
}

TEST(TensorIo, DTypeMapping) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::BOOL})
    EXPECT_EQ(mf::io::from_torch(mf::io::to_torch(d)), d);
  expect_error([] { mf::io::from_torch(torch::kComplexFloat); }, mf::ErrorCode::Unsupported);
}

TEST(TensorIo, EverySharedParityFileReads) {
  fs::path root = MF_SHARED_DIR "/parity";
  if (!fs::exists(root)) GTEST_SKIP() << "no ../shared/parity in this checkout";
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(e.path().string());
    auto src = WeightSource::open(e.path().string());
    for (const auto& n : src.names()) {
      auto t = src.read(n);
      EXPECT_EQ(t.sizes().vec(), src.info(n).shape);
    }
    ++files;
  }
  EXPECT_GE(files, 6);
  auto dit = WeightSource::open((root / "mfm_dit_tiny_fp32.safetensors").string());
  EXPECT_EQ(dit.info("out.sample").shape, (std::vector<int64_t>{2, 16, 3, 8, 12}));
  EXPECT_EQ(dit.info("in.encoder_attention_mask").dtype, DType::I64);
  auto w = dit.with_prefix("weights.");
  EXPECT_EQ(w.info("pos_embed.proj.weight").shape, (std::vector<int64_t>{128, 16, 2, 2}));
  EXPECT_NE(dit.metadata().at("config").find("\"num_layers\": 2"), std::string::npos);
}
