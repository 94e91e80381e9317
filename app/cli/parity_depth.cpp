// `manyfold parity FILE` for Depth-Anything files (tests/fixtures/depth, made by tests/tools/gen_depth_parity.py
// from transformers' DepthAnythingForDepthEstimation): config JSON in the metadata, weights.* under the
// checkpoint's names, and either
//   in.pixel_values<S> -> out.predicted_depth<S>   (the model at network resolution), or
//   in.image_<K> (uint8 [H, W, 3]) -> out.depth_<K> (DPT preprocessing + model + bicubic resize back to H x W;
//                                                    preprocessor_config JSON in the metadata).
#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/depth/depth_estimator.h"
#include "parity.h"

namespace {

using mf::cli::ParityOutput;

bool detect_depth(const mf::io::WeightSource& file) {
  return file.contains("weights.backbone.embeddings.patch_embeddings.projection.weight") &&
         file.contains("weights.neck.fusion_stage.layers.0.projection.weight") &&
         file.contains("weights.head.conv3.weight");
}

std::vector<ParityOutput> run_depth(const mf::io::WeightSource& file, std::string* dtype_label) {
  *dtype_label = "float32";
  const auto& meta = file.metadata();
  auto it = meta.find("config");
  mf::check(it != meta.end(), mf::ErrorCode::BadFile, file.describe() + ": no 'config' in the metadata");
  auto cfg = mf::depth::DepthAnythingConfig::from_json(nlohmann::json::parse(it->second), file.describe());
  mf::depth::DptPreprocessorConfig pre;
  if (auto p = meta.find("preprocessor_config"); p != meta.end()) {
    pre = mf::depth::DptPreprocessorConfig::from_json(nlohmann::json::parse(p->second), file.describe());
  }
  mf::depth::DepthAnything model(cfg);
  mf::io::load_state_dict(*model, file.with_prefix("weights."), /*strict=*/true);
  mf::depth::DepthEstimator est(cfg, pre, model);

  std::vector<ParityOutput> outs;
  const std::string px = "in.pixel_values", img = "in.image_";
  for (const auto& name : file.names()) {
    if (name.rfind(px, 0) == 0) {
      const std::string s = name.substr(px.size());
      outs.push_back({"predicted_depth" + s, est.forward(file.read(name, torch::kFloat32)).cpu(),
                      file.read("out.predicted_depth" + s, torch::kFloat32)});
    } else if (name.rfind(img, 0) == 0) {
      const std::string k = name.substr(img.size());
      outs.push_back({"depth_" + k, est.predict_depth(file.read(name)), file.read("out.depth_" + k, torch::kFloat32)});
    }
  }
  mf::check(!outs.empty(), mf::ErrorCode::BadFile,
            file.describe() + ": no in.pixel_values* or in.image_* inputs in this depth parity file");
  return outs;
}

}  // namespace

MF_PARITY_HANDLER("depth", detect_depth, run_depth);
