// The depth stage: a small Depth-Anything-V2 trained on the toy world's rendered inverse depth.
#include "mf/training/depth_stage.h"

#include <filesystem>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"
#include "mf/training/checkpoint.h"
#include "mf/training/vae_stage.h"
#include "option_reader.h"

namespace mf::training {

namespace fs = std::filesystem;

nlohmann::json DepthStageOptions::config_json() const {
  const int64_t n = num_hidden_layers;
  // The neck reads four hidden states, spread over the layers (the last one included).
  std::vector<int64_t> out;
  for (int i = 1; i <= 4; ++i) out.push_back(std::max<int64_t>(1, (n * i + 3) / 4));
  return {{"architectures", {"DepthAnythingForDepthEstimation"}},
          {"model_type", "depth_anything"},
          {"_manyfold_trained", true},
          {"backbone_config",
           {{"model_type", "dinov2"},
            {"hidden_size", hidden_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"patch_size", 14},
            {"image_size", input_size},
            {"out_indices", out},
            {"apply_layernorm", true},
            {"reshape_hidden_states", false},
            {"layerscale_value", 1.0}}},
          {"patch_size", 14},
          {"reassemble_hidden_size", reassemble_hidden_size},
          {"reassemble_factors", {4, 2, 1, 0.5}},
          {"neck_hidden_sizes", neck_hidden_sizes},
          {"fusion_hidden_size", fusion_hidden_size},
          {"head_in_index", -1},
          {"head_hidden_size", head_hidden_size},
          {"depth_estimation_type", "relative"},
          {"max_depth", nullptr}};
}

nlohmann::json DepthStageOptions::preprocessor_json() const {
  return {{"image_processor_type", "DPTImageProcessor"},
          {"do_resize", true},
          {"size", {{"height", input_size}, {"width", input_size}}},
          {"keep_aspect_ratio", true},
          {"ensure_multiple_of", 14},
          {"resample", 3},
          {"do_rescale", true},
          {"rescale_factor", 1.0 / 255.0},
          {"do_normalize", true},
          {"image_mean", {0.485, 0.456, 0.406}},
          {"image_std", {0.229, 0.224, 0.225}},
          {"do_pad", false}};
}

nlohmann::json DepthStageOptions::to_json() const {
  return {{"hidden_size", hidden_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"reassemble_hidden_size", reassemble_hidden_size},
          {"neck_hidden_sizes", neck_hidden_sizes},
          {"fusion_hidden_size", fusion_hidden_size},
          {"head_hidden_size", head_hidden_size},
          {"input_size", input_size}};
}

DepthStageOptions DepthStageOptions::from_json(const nlohmann::json& j, std::vector<std::string>& problems) {
  DepthStageOptions o;
  if (!OptionReader::section_is_object(j, "depth", problems)) return o;
  OptionReader r(j, "depth", problems);
  r.integer("hidden_size", o.hidden_size, 8, 4096);
  r.integer("num_hidden_layers", o.num_hidden_layers, 1, 64);
  r.integer("num_attention_heads", o.num_attention_heads, 1, 64);
  r.integer("reassemble_hidden_size", o.reassemble_hidden_size, 4, 4096);
  r.integer("fusion_hidden_size", o.fusion_hidden_size, 4, 4096);
  r.integer("head_hidden_size", o.head_hidden_size, 1, 4096);
  r.integer("input_size", o.input_size, 14, 2048);
  if (r.has("neck_hidden_sizes")) {
    const auto& v = j["neck_hidden_sizes"];
    if (!v.is_array() || v.size() != 4 ||
        !std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_number_integer() && e > 0; }))
      r.problem("neck_hidden_sizes", "must be a list of 4 positive integers, found " + v.dump());
    else
      o.neck_hidden_sizes = v.get<std::vector<int64_t>>();
  }
  r.unknown_keys();
  if (o.hidden_size % o.num_attention_heads != 0)
    problems.push_back("'depth.hidden_size' (" + std::to_string(o.hidden_size) + ") must be a multiple of "
                       "'depth.num_attention_heads' (" + std::to_string(o.num_attention_heads) + ")");
  if (o.input_size % 14 != 0) problems.push_back("'depth.input_size' must be a multiple of 14 (the patch size)");
  return o;
}

void write_depth_folder(mf::depth::DepthAnything& model, const nlohmann::json& config,
                        const nlohmann::json& preprocessor, const std::string& dir) {
  replace_folder_atomic(dir, [&](const std::string& tmp_s) {
    const fs::path tmp(tmp_s);
    write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
    write_file_atomic((tmp / "preprocessor_config.json").string(), preprocessor.dump(2) + "\n");
    mf::io::save_tensors((tmp / "model.safetensors").string(), module_tensors(*model), {{"format", "pt"}});
  });
}

DepthStage::DepthStage(const TrainConfig& cfg, DepthStageOptions options)
    : cfg_(cfg), opt_(std::move(options)), data_(dataset_options(cfg)), device_(cfg.torch_device()) {
  model_cfg_ = mf::depth::DepthAnythingConfig::from_json(opt_.config_json(), "depth stage config");
  pre_ = mf::depth::DptPreprocessorConfig::from_json(opt_.preprocessor_json(), "depth stage preprocessor");
  torch::manual_seed(cfg.seed);
  model_ = mf::depth::DepthAnything(model_cfg_);
  torch::NoGradGuard ng;
  for (auto& p : model_->named_parameters()) {
    const std::string& k = p.key();
    if (k.find("position_embeddings") != std::string::npos || k.find("cls_token") != std::string::npos)
      p.value().normal_(0.0, 0.02);
  }
  model_->to(device_);  // initialised on the CPU: the same weights on every device
}

namespace {

// [3, H, W] float in [-1, 1] (a dataset frame) -> uint8 [H, W, 3], exactly the rendered pixels.
torch::Tensor to_u8(const torch::Tensor& chw) {
  return ((chw + 1.0) * 127.5).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
}

}  // namespace

torch::Tensor DepthStage::predict_batch(const std::vector<torch::Tensor>& frames_u8, int64_t H, int64_t W) {
  std::vector<torch::Tensor> px;
  for (const auto& f : frames_u8) px.push_back(mf::depth::dpt_preprocess(f, pre_));
  const auto pred = model_->forward(torch::cat(px, 0).to(device_));  // [B, h, w]
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < pred.size(0); ++b) out.push_back(mf::depth::dpt_postprocess(pred[b], H, W));
  return torch::stack(out);  // [B, H, W]
}

StepResult DepthStage::train_step(TrainState& state) {
  const auto batch = data_.train_batch(state.draw(), cfg_.batch);
  const int64_t T = batch.video.size(2), H = batch.video.size(3), W = batch.video.size(4);
  std::vector<torch::Tensor> frames, targets;
  for (int64_t b = 0; b < batch.size(); ++b) {
    const int64_t t = static_cast<int64_t>(state.draw() % static_cast<uint64_t>(T));
    frames.push_back(to_u8(batch.video[b].select(1, t)));
    targets.push_back(batch.depth[b][0][t]);
  }
  const auto pred = predict_batch(frames, H, W);
  const auto loss = (pred - torch::stack(targets).to(device_)).abs().mean();
  StepResult r;
  r.loss = loss;
  r.samples = batch.size();
  return r;
}

torch::Tensor DepthStage::predict(const torch::Tensor& rgb_u8) {
  torch::NoGradGuard ng;
  return predict_batch({rgb_u8.contiguous()}, rgb_u8.size(0), rgb_u8.size(1))[0].cpu();
}

nlohmann::json DepthStage::evaluate() {
  torch::NoGradGuard ng;
  model_->eval();
  const int64_t n = data_.size(Split::Validation);
  double l1 = 0, rel = 0, gt_mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto clip = data_.range(Split::Validation, i, 1);
    const int64_t t = clip.video.size(2) / 2;
    const auto gt = clip.depth[0][0][t];
    const auto pred = predict(to_u8(clip.video[0].select(1, t)));
    l1 += (pred - gt).abs().mean().item<double>();
    rel += ((pred - gt).abs() / gt.clamp_min(1e-3)).mean().item<double>();
    gt_mean += gt.mean().item<double>();
  }
  model_->train();
  const double k = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  return {{"l1", l1 * k}, {"relative_error", rel * k}, {"ground_truth_mean", gt_mean * k}, {"clips", n}};
}

std::string DepthStage::export_model(const std::string& out_dir) {
  const std::string dir = (fs::path(out_dir) / "depth").string();
  write_depth_folder(model_, opt_.config_json(), opt_.preprocessor_json(), dir);
  return dir;
}

}  // namespace mf::training
