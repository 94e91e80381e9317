// Depth-Anything: config parsing, parameter names, DPT sizing/normalisation, the model and the full
// predict_depth path against transformers' outputs (tests/fixtures/depth, made by tests/tools/gen_depth_parity.py),
// and loading a model folder.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/depth/depth_estimator.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;
using namespace mf::depth;

namespace {

std::string fixture(const std::string& name) {
  return std::string(MF_SOURCE_DIR) + "/tests/fixtures/depth/" + name + ".safetensors";
}

double rel_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  return ((x - y).norm() / y.norm()).item<double>();
}

struct Loaded {
  DepthAnythingConfig cfg;
  DepthAnything model{nullptr};
};

Loaded load_fixture_model(const mf::io::WeightSource& file) {
  Loaded l;
  l.cfg = DepthAnythingConfig::from_json(nlohmann::json::parse(file.metadata().at("config")), "fixture");
  l.model = DepthAnything(l.cfg);
  mf::io::load_state_dict(*l.model, file.with_prefix("weights."), true);
  l.model->eval();
  return l;
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mf_depth_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// The released Depth-Anything-V2-Small-hf config.json (fields that matter).
const char* kSmallConfig = R"({
  "architectures": ["DepthAnythingForDepthEstimation"],
  "backbone": null,
  "backbone_config": {
    "architectures": ["Dinov2Model"], "hidden_size": 384, "image_size": 518, "model_type": "dinov2",
    "num_attention_heads": 6, "out_features": ["stage3", "stage6", "stage9", "stage12"],
    "out_indices": [3, 6, 9, 12], "patch_size": 14, "reshape_hidden_states": false
  },
  "depth_estimation_type": "relative", "fusion_hidden_size": 64, "head_hidden_size": 32, "head_in_index": -1,
  "max_depth": 1, "model_type": "depth_anything", "neck_hidden_sizes": [48, 96, 192, 384], "patch_size": 14,
  "reassemble_factors": [4, 2, 1, 0.5], "reassemble_hidden_size": 384, "torch_dtype": "float32",
  "use_pretrained_backbone": false
})";

}  // namespace

TEST(DepthConfig, ReleasedSmallConfig) {
  auto c = DepthAnythingConfig::from_json(nlohmann::json::parse(kSmallConfig));
  auto s = DepthAnythingConfig::v2_small();
  EXPECT_EQ(c.backbone.hidden_size, 384);
  EXPECT_EQ(c.backbone.num_hidden_layers, 12);  // Dinov2Config default
  EXPECT_EQ(c.backbone.num_attention_heads, 6);
  EXPECT_EQ(c.backbone.out_indices, (std::vector<int64_t>{3, 6, 9, 12}));
  EXPECT_EQ(c.backbone.out_indices, s.backbone.out_indices);
  EXPECT_DOUBLE_EQ(c.backbone.layer_norm_eps, 1e-6);
  EXPECT_FALSE(c.backbone.reshape_hidden_states);
  EXPECT_EQ(c.neck_hidden_sizes, s.neck_hidden_sizes);
  EXPECT_EQ(c.reassemble_factors, s.reassemble_factors);
  EXPECT_EQ(c.fusion_hidden_size, 64);
  EXPECT_EQ(c.head_hidden_size, 32);
  EXPECT_DOUBLE_EQ(c.max_depth, 1.0);

  // out_features alone is understood too.
  auto j = nlohmann::json::parse(kSmallConfig);
  j["backbone_config"].erase("out_indices");
  EXPECT_EQ(DepthAnythingConfig::from_json(j).backbone.out_indices, (std::vector<int64_t>{3, 6, 9, 12}));
  // No backbone_config: transformers' default backbone (out_indices 9..12).
  j.erase("backbone_config");
  EXPECT_EQ(DepthAnythingConfig::from_json(j).backbone.out_indices, (std::vector<int64_t>{9, 10, 11, 12}));
}

TEST(DepthConfig, RejectsWhatItCannotRun) {
  auto base = nlohmann::json::parse(kSmallConfig);
  auto code_of = [](const nlohmann::json& j) {
    try {
      DepthAnythingConfig::from_json(j);
    } catch (const mf::Error& e) {
      return e.code();
    }
    return mf::ErrorCode::Internal;
  };
  auto j = base;
  j["backbone_config"]["use_swiglu_ffn"] = true;
  EXPECT_EQ(code_of(j), mf::ErrorCode::Unsupported);
  j = base;
  j["neck_hidden_sizes"] = {48, 96, 192};
  EXPECT_EQ(code_of(j), mf::ErrorCode::BadFile);
  j = base;
  j["reassemble_factors"] = {4, 2, 1, 0.3};
  EXPECT_EQ(code_of(j), mf::ErrorCode::BadFile);
  j = base;
  j["depth_estimation_type"] = "absolute";
  EXPECT_EQ(code_of(j), mf::ErrorCode::BadFile);
  j = base;
  j["backbone_config"]["out_indices"] = {3, 6, 9, 13};
  EXPECT_EQ(code_of(j), mf::ErrorCode::BadFile);
  j = base;
  j["fusion_hidden_size"] = "64";
  EXPECT_EQ(code_of(j), mf::ErrorCode::BadFile);
}

TEST(DepthModel, ParameterNamesAndShapesOfSmall) {
  DepthAnything m(DepthAnythingConfig::v2_small());
  std::map<std::string, std::vector<int64_t>> p;
  int64_t total = 0;
  for (auto& kv : m->named_parameters()) {
    p[kv.key()] = kv.value().sizes().vec();
    total += kv.value().numel();
  }
  using V = std::vector<int64_t>;
  EXPECT_EQ(p.at("backbone.embeddings.position_embeddings"), (V{1, 1370, 384}));
  EXPECT_EQ(p.at("backbone.embeddings.mask_token"), (V{1, 384}));
  EXPECT_EQ(p.at("backbone.embeddings.patch_embeddings.projection.weight"), (V{384, 3, 14, 14}));
  EXPECT_EQ(p.at("backbone.encoder.layer.11.attention.attention.query.weight"), (V{384, 384}));
  EXPECT_EQ(p.at("backbone.encoder.layer.0.attention.output.dense.bias"), (V{384}));
  EXPECT_EQ(p.at("backbone.encoder.layer.5.layer_scale2.lambda1"), (V{384}));
  EXPECT_EQ(p.at("backbone.encoder.layer.5.mlp.fc1.weight"), (V{1536, 384}));
  EXPECT_EQ(p.at("backbone.layernorm.weight"), (V{384}));
  EXPECT_EQ(p.at("neck.reassemble_stage.layers.0.resize.weight"), (V{48, 48, 4, 4}));   // ConvTranspose k4 s4
  EXPECT_EQ(p.at("neck.reassemble_stage.layers.1.resize.weight"), (V{96, 96, 2, 2}));   // ConvTranspose k2 s2
  EXPECT_EQ(p.count("neck.reassemble_stage.layers.2.resize.weight"), 0u);               // identity
  EXPECT_EQ(p.at("neck.reassemble_stage.layers.3.resize.weight"), (V{384, 384, 3, 3})); // Conv s2
  EXPECT_EQ(p.at("neck.convs.3.weight"), (V{64, 384, 3, 3}));
  EXPECT_EQ(p.count("neck.convs.0.bias"), 0u);
  EXPECT_EQ(p.at("neck.fusion_stage.layers.3.residual_layer1.convolution2.weight"), (V{64, 64, 3, 3}));
  EXPECT_EQ(p.at("head.conv1.weight"), (V{32, 64, 3, 3}));
  EXPECT_EQ(p.at("head.conv2.weight"), (V{32, 32, 3, 3}));
  EXPECT_EQ(p.at("head.conv3.weight"), (V{1, 32, 1, 1}));
  // Depth-Anything-V2-Small has 24.8M parameters.
  EXPECT_NEAR(static_cast<double>(total) / 1e6, 24.8, 0.05);
}

TEST(DepthModel, NamesEqualTheReferenceStateDict) {
  auto file = mf::io::WeightSource::open(fixture("depth_anything_tiny"));
  auto cfg = DepthAnythingConfig::from_json(nlohmann::json::parse(file.metadata().at("config")));
  DepthAnything m(cfg);
  std::set<std::string> ours, ref;
  for (auto& kv : m->named_parameters()) ours.insert(kv.key());
  for (auto& n : file.with_prefix("weights.").names()) ref.insert(n);
  EXPECT_EQ(ours, ref);
}

TEST(DepthModel, MatchesTransformersOnTinyModels) {
  torch::NoGradGuard g;
  for (const char* name : {"depth_anything_tiny", "depth_anything_tiny_metric"}) {
    auto file = mf::io::WeightSource::open(fixture(name));
    auto l = load_fixture_model(file);
    int n = 0;
    for (const auto& key : file.names()) {
      if (key.rfind("in.pixel_values", 0) != 0) continue;
      const std::string suffix = key.substr(std::string("in.pixel_values").size());
      auto got = l.model->forward(file.read(key));
      auto ref = file.read("out.predicted_depth" + suffix);
      ASSERT_EQ(got.sizes(), ref.sizes()) << name << suffix;
      EXPECT_LT(rel_l2(got, ref), 1e-5) << name << suffix;
      ++n;
    }
    EXPECT_GE(n, 1) << name;
  }
}

TEST(DepthPreprocess, NetworkSizeFollowsDpt) {
  DptPreprocessorConfig c;  // released: 518, keep aspect, multiple of 14
  EXPECT_EQ(dpt_network_size(352, 640, c), (std::pair<int64_t, int64_t>{280, 518}));  // the MfM frame
  EXPECT_EQ(dpt_network_size(640, 352, c), (std::pair<int64_t, int64_t>{518, 280}));
  EXPECT_EQ(dpt_network_size(176, 320, c), (std::pair<int64_t, int64_t>{280, 518}));
  EXPECT_EQ(dpt_network_size(74, 148, c), (std::pair<int64_t, int64_t>{252, 518}));   // 18.5 -> 18 (half to even)
  EXPECT_EQ(dpt_network_size(100, 100, c), (std::pair<int64_t, int64_t>{518, 518}));
  EXPECT_EQ(dpt_network_size(1024, 1024, c), (std::pair<int64_t, int64_t>{518, 518}));
  c.height = c.width = 126;
  EXPECT_EQ(dpt_network_size(144, 232, c), (std::pair<int64_t, int64_t>{126, 196}));  // 14.5 -> 14
  EXPECT_THROW(dpt_network_size(2, 4000, DptPreprocessorConfig{}), mf::Error);
}

TEST(DepthPreprocess, NormalisationIsFloat32Imagenet) {
  auto img = torch::tensor({0, 128, 255, 7, 64, 200}, torch::kUInt8).reshape({1, 2, 3});
  auto px = dpt_normalize(img, DptPreprocessorConfig{});
  ASSERT_EQ(px.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  auto a = px.accessor<float, 4>();
  const uint8_t* raw = img.data_ptr<uint8_t>();
  for (int x = 0; x < 2; ++x) {
    for (int c = 0; c < 3; ++c) {
      const float v = static_cast<float>(raw[x * 3 + c] * (1.0 / 255.0));
      EXPECT_EQ(a[0][c][0][x], (v - mean[c]) / stdv[c]);
    }
  }
}

TEST(DepthPredict, MatchesTheTransformersPipeline) {
  auto file = mf::io::WeightSource::open(fixture("depth_anything_tiny_predict"));
  auto l = load_fixture_model(file);
  auto pre = DptPreprocessorConfig::from_json(nlohmann::json::parse(file.metadata().at("preprocessor_config")));
  DepthEstimator est(l.cfg, pre, l.model);
  for (const char* k : {"a", "b", "c"}) {
    auto img = file.read(std::string("in.image_") + k);
    auto got = est.predict_depth(img);
    auto ref = file.read(std::string("out.depth_") + k);
    ASSERT_EQ(got.sizes(), ref.sizes()) << k;
    EXPECT_LT(rel_l2(got, ref), 1e-5) << k;
  }
}

TEST(DepthPredict, ResizeCallbackIsUsed) {
  auto file = mf::io::WeightSource::open(fixture("depth_anything_tiny_predict"));
  auto l = load_fixture_model(file);
  DepthEstimator est(l.cfg, DptPreprocessorConfig{}, l.model);
  int calls = 0;
  est.set_resize([&](const uint8_t*, int, int, int oh, int ow) {
    ++calls;
    return std::vector<uint8_t>(static_cast<size_t>(oh) * ow * 3, 128);
  });
  auto img = file.read("in.image_b");
  auto d = est.predict_depth(img);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(d.sizes(), (std::vector<int64_t>{74, 148}));
  // A uniform image gives a depth map that differs from the real image's.
  EXPECT_GT(rel_l2(d, file.read("out.depth_b")), 1e-2);
}

TEST(DepthEstimatorLoad, LoadsAFolderAndReportsMissingTensors) {
  auto file = mf::io::WeightSource::open(fixture("depth_anything_tiny_predict"));
  fs::path dir = temp_dir("folder");
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  auto w = file.with_prefix("weights.");
  for (auto& n : w.names()) weights.emplace_back(n, w.read(n));
  mf::io::save_tensors((dir / "model.safetensors").string(), weights);
  std::ofstream(dir / "config.json") << file.metadata().at("config");
  std::ofstream(dir / "preprocessor_config.json") << file.metadata().at("preprocessor_config");

  auto est = DepthEstimator::load(dir.string());
  auto got = est.predict_depth(file.read("in.image_b"));
  EXPECT_LT(rel_l2(got, file.read("out.depth_b")), 1e-5);

  // Drop one tensor: strict loading names it.
  weights.erase(std::remove_if(weights.begin(), weights.end(),
                               [](auto& p) { return p.first == "head.conv2.weight"; }),
                weights.end());
  mf::io::save_tensors((dir / "model.safetensors").string(), weights);
  try {
    DepthEstimator::load(dir.string());
    ADD_FAILURE() << "loading an incomplete checkpoint succeeded";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("head.conv2.weight"), std::string::npos) << e.what();
  }
  EXPECT_THROW(DepthEstimator::load((dir / "nope").string()), mf::Error);
  fs::remove_all(dir);
}
