// Helpers for the pipeline tests: the parity goldens' tiny pipeline and inputs, a shared test pipeline folder,
// and small media files written through mf_media.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/io/tensor_io.h"
#include "mf/media/writer.h"
#include "mf/pipeline/components.h"
#include "mf/pipeline/pipeline.h"
#include "mf/pipeline/test_pipeline.h"
#include "mf/tasks/batch.h"
#include "mf/tasks/prompt.h"

namespace mf::pipeline::testing {

namespace fs = std::filesystem;

inline const std::string& parity_dir() {
  static const std::string d = std::string(MF_SHARED_DIR) + "/parity/pipeline";
  return d;
}

inline double rel_l2(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-30);
}

// The official pipeline's tiny transformer + VAE (weights.transformer.*, weights.vae.*), the golden tokenizer and
// FlowMatch shift 5, fp32 on the CPU.
inline std::unique_ptr<Pipeline> golden_pipeline() {
  auto ws = io::WeightSource::open(parity_dir() + "/mfm_pipeline_tiny_weights.safetensors");
  const auto& md = ws.metadata();
  Components c;
  c.transformer = mfm::load_transformer(ws.with_prefix("weights.transformer."),
                                        mfm::Config::from_json_text(md.at("transformer_config"), "tiny weights"));
  c.vae = std::make_shared<vae::CogVideoXVae>(vae::VaeConfig::from_json_text(md.at("vae_config"), "tiny weights"));
  c.vae->load_weights(ws.with_prefix("weights.vae."));
  c.tokenizer = std::make_shared<text::T5Tokenizer>(text::T5Tokenizer::load(parity_dir() + "/tokenizer"));
  c.scheduler = sampling::parse_scheduler_config(nlohmann::json::parse(md.at("scheduler_config")), "tiny weights");
  c.model_id = "parity-tiny";
  return make_pipeline(std::move(c), LoadOptions{});
}

// inputs.safetensors: "inputs/NAME.mp4" -> video.NAME [T, H, W, 3]; "inputs/NAME.png" -> image.NAME.
inline std::vector<tasks::Image8> golden_input(const std::string& path) {
  static io::WeightSource inputs = io::WeightSource::open(parity_dir() + "/inputs/inputs.safetensors");
  const size_t slash = path.find('/'), dot = path.rfind('.');
  const std::string name = path.substr(slash + 1, dot - slash - 1);
  const bool video = path.substr(dot + 1) == "mp4";
  auto t = inputs.read((video ? "video." : "image.") + name).contiguous();
  if (!video) t = t.unsqueeze(0);
  if (t.dim() == 3) t = t.unsqueeze(-1);  // L image [1, H, W] -> [1, H, W, 1]
  std::vector<tasks::Image8> out;
  for (int64_t i = 0; i < t.size(0); ++i) {
    tasks::Image8 im(static_cast<int>(t.size(2)), static_cast<int>(t.size(1)), static_cast<int>(t.size(3)));
    auto f = t[i].contiguous();
    std::copy(f.data_ptr<uint8_t>(), f.data_ptr<uint8_t>() + f.numel(), im.pixels.begin());
    out.push_back(std::move(im));
  }
  return out;
}

// The depth stand-in of the goldens: 0.5 + 4 * (0.299 R + 0.587 G + 0.114 B) / 255 in float32.
inline torch::Tensor depth_stand_in(const torch::Tensor& rgb_u8) {
  auto f = rgb_u8.to(torch::kFloat);
  auto luma = f.select(2, 0) * 0.299f + f.select(2, 1) * 0.587f + f.select(2, 2) * 0.114f;
  return luma * 4.0f / 255.0f + 0.5f;
}

struct GoldenCase {
  std::unique_ptr<io::WeightSource> file;
  std::map<std::string, std::string> md;
  tasks::TaskSpec spec;
  PrepareOverrides overrides;
  torch::Tensor read(const std::string& name) const { return file->read(name); }
};

inline GoldenCase golden_case(const std::string& key) {
  GoldenCase g;
  g.file = std::make_unique<io::WeightSource>(
      io::WeightSource::open(parity_dir() + "/mfm_pipeline_" + key + ".safetensors"));
  g.md = g.file->metadata();
  const auto task = *tasks::parse_task_id(g.md.at("task"));
  const auto call = nlohmann::json::parse(g.md.at("call"));
  tasks::TaskSpec s = tasks::official_defaults(task);
  s.height = call["height"].get<int>();
  s.width = call["width"].get<int>();
  s.num_frames = call["num_frames"].get<int>();
  if (call.contains("crop_type")) s.crop = *tasks::parse_crop_mode(call["crop_type"].get<std::string>());
  else s.crop = tasks::CropMode::KeepRatio;
  s.upscale = call.value("upscale", 4);
  s.steps = call["num_inference_steps"].get<int>();
  s.guidance_scale = call["guidance_scale"].get<double>();
  s.motion_score = call["motion_score"].get<double>();
  s.seed = call.value("seed_generator_cpu", 0);
  // The metadata holds the driver's final prompt: user prompt + " " + added prompt + " #task: <name>".
  const std::string suffix = " " + s.effective_added_prompt() + " #task: " + tasks::task_facts(task).task_name;
  const std::string& full = g.md.at("prompt");
  s.prompt = full.size() >= suffix.size() && full.compare(full.size() - suffix.size(), suffix.size(), suffix) == 0
                 ? full.substr(0, full.size() - suffix.size())
                 : full;
  s.negative_prompt = g.md.at("negative_prompt");
  const std::string input_path = g.md.at("input_path");
  tasks::ConditionInputs in;
  if (!input_path.empty()) {
    tasks::set_inputs_from_official_path(s, input_path);
    const size_t semi = input_path.find(';');
    in.clip1 = golden_input(input_path.substr(0, semi));
    if (semi != std::string::npos) in.clip2 = golden_input(input_path.substr(semi + 1));
  }
  if (!g.md.at("mask_path").empty()) {
    s.mask = g.md.at("mask_path");
    in.mask = golden_input(s.mask);
  }
  g.spec = s;
  auto embeds = g.file->read("in.prompt_embeds");         // [2, 77, Ct], negative first
  auto emask = g.file->read("in.prompt_attention_mask");  // [2, 77]
  g.overrides.encode_text = [embeds, emask](const std::string&, bool negative) {
    const int i = negative ? 0 : 1;
    return std::make_pair(embeds[i], emask[i]);
  };
  g.overrides.depth = depth_stand_in;
  g.overrides.inputs = in;
  g.overrides.noise = g.file->read("in.noise");
  return g;
}

inline const std::vector<std::string>& all_task_keys() {
  static const std::vector<std::string> k = {"t2v",  "t2i",    "i2v", "itrans", "vexd", "vtrans", "vinp", "voutp",
                                             "vcolor", "vsr", "vedit", "isr",  "icolor", "iinp", "ioutp"};
  return k;
}

// One test pipeline folder per test binary (written once, reused by every test).
inline const std::string& test_pipeline_dir() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / ("mf_test_pipeline_" + std::to_string(::getpid()));
    TestPipelineOptions o;
    o.tokenizer_dir = parity_dir() + "/tokenizer";
    make_test_pipeline(d.string(), o);
    return d.string();
  }();
  return dir;
}

inline std::unique_ptr<Pipeline>& shared_test_pipeline() {
  static std::unique_ptr<Pipeline> p = Pipeline::load(test_pipeline_dir());
  return p;
}

// Deterministic RGB frames with some structure (gradients + a moving square).
inline std::vector<media::Image> make_frames(int w, int h, int n, int seed = 0) {
  std::vector<media::Image> out;
  for (int t = 0; t < n; ++t) {
    auto im = media::Image::make(w, h, 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint8_t* px = im.at(x, y);
        const bool sq = std::abs(x - (t * 3 + seed) % w) < w / 5 && std::abs(y - h / 2) < h / 5;
        px[0] = static_cast<uint8_t>(sq ? 240 : (x * 255) / std::max(1, w - 1));
        px[1] = static_cast<uint8_t>((y * 255) / std::max(1, h - 1));
        px[2] = static_cast<uint8_t>((t * 37 + seed * 11) % 256);
      }
    out.push_back(std::move(im));
  }
  return out;
}

// A mask: white (keep) everywhere except a black rectangle in the middle.
inline std::vector<media::Image> make_masks(int w, int h, int n) {
  std::vector<media::Image> out;
  for (int t = 0; t < n; ++t) {
    auto im = media::Image::make(w, h, 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool hole = x >= w / 4 && x < 3 * w / 4 && y >= h / 4 && y < 3 * h / 4;
        uint8_t* px = im.at(x, y);
        px[0] = px[1] = px[2] = hole ? 0 : 255;
      }
    out.push_back(std::move(im));
  }
  return out;
}

// A lossless video (FFV1 in Matroska: any size, odd ones included).
inline std::string write_clip(const fs::path& path, const std::vector<media::Image>& frames) {
  media::EncodeOptions o;
  o.codec = media::Codec::Ffv1;
  media::write_video(path, frames, o);
  return path.string();
}

}  // namespace mf::pipeline::testing
