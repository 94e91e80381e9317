// Benchmark: one full MfM t2v job through mf_pipeline on random weights, with per-stage times (text, conditions,
// denoise, decode; decode includes writing the H.264 file).
//   - transformer: the released 2B architecture (mfm_2b: 28 heads x 64, T5 width 2048) sliced to --layers blocks;
//   - VAE: the released CogVideoX-2b default config (full size; tiled decode as the pipeline runs it);
//   - text: T5-XL shapes (d_model 2048, 32 heads, d_ff 5120, gated-gelu) sliced to --t5-layers layers (T5-XL's 24
//     layers take ~54 s per prompt on this CPU, see text_cpu.json, so the default is 2 layers; the stage time
//     scales roughly linearly with the layer count);
//   - tokenizer: the parity pipeline's sentencepiece model.
//
//   bench_pipeline [--frames 17] [--height 352] [--width 640] [--steps 4] [--layers 2] [--t5-layers 2]
//                  [--dtype fp32|bf16] [--out tests/bench/results/pipeline_cpu.json]
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "mf/io/runtime.h"
#include "mf/pipeline/components.h"
#include "mf/pipeline/pipeline.h"

namespace fs = std::filesystem;

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"frames", "17"}, {"height", "352"}, {"width", "640"},
                                          {"steps", "4"},   {"layers", "2"},   {"t5-layers", "2"},
                                          {"dtype", "fp32"},
                                          {"out", std::string(MF_SOURCE_DIR) + "/tests/bench/results/pipeline_cpu.json"}};
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  mf::io::init_torch_runtime();
  const auto dtype = a["dtype"] == "bf16" ? torch::kBFloat16 : torch::kFloat;
  torch::NoGradGuard ng;
  nlohmann::json out;
  out["benchmark"] = "pipeline_t2v";
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  out["command"] = cmd;

  const auto tb = std::chrono::steady_clock::now();
  mf::pipeline::Components c;
  mf::mfm::Config tcfg = mf::mfm::Config::mfm_2b();
  tcfg.num_layers = std::stoi(a["layers"]);
  c.transformer = mf::mfm::Transformer3DModel(tcfg, mf::mfm::ModelOptions{dtype, torch::kCPU});
  mf::mfm::init_random_weights(*c.transformer, 1);
  const int64_t transformer_params = c.transformer->parameter_count();
  c.vae = std::make_shared<mf::vae::CogVideoXVae>(mf::vae::VaeConfig{}, torch::kCPU, dtype);
  mf::text::T5Config t5 = mf::text::T5Config::xl();
  t5.num_layers = std::stoi(a["t5-layers"]);
  c.text_encoder = mf::text::T5Encoder(t5, dtype);
  mf::mfm::init_random_weights(*c.text_encoder, 2);
  c.tokenizer = std::make_shared<mf::text::T5Tokenizer>(
      mf::text::T5Tokenizer::load(std::string(MF_SOURCE_DIR) + "/../shared/parity/pipeline/tokenizer"));
  c.scheduler.shift = 5.0;  // released scheduler_config.json shift is [CONFIG]; the parity goldens use 5
  c.model_id = "bench-2b-sliced";
  mf::pipeline::LoadOptions lo;
  lo.dtype = dtype;
  auto pipe = mf::pipeline::make_pipeline(std::move(c), lo);
  const double build_s = since(tb);

  auto spec = mf::tasks::official_defaults(mf::tasks::TaskId::T2V);
  spec.prompt = "a red fox runs through fresh snow at sunrise, cinematic";
  spec.num_frames = std::stoi(a["frames"]);
  spec.height = std::stoi(a["height"]);
  spec.width = std::stoi(a["width"]);
  spec.steps = std::stoi(a["steps"]);
  spec.seed = 42;

  auto prepared = pipe->prepare(spec);
  const auto td = std::chrono::steady_clock::now();
  std::vector<double> step_s;
  mf::pipeline::DenoiseControl ctl;
  ctl.on_step = [&](const mf::pipeline::StepEvent& e) {
    step_s.push_back(e.seconds);
    std::cerr << "step " << e.step + 1 << "/" << e.total << " " << e.seconds << " s\n";
    return true;
  };
  auto r = pipe->denoise(prepared, prepared.initial_latents, 0, ctl);
  prepared.stage_seconds["denoise"] = since(td);
  const fs::path video = fs::temp_directory_path() / "mf_bench_pipeline.mp4";
  auto outputs = pipe->decode_and_write(prepared, r.latents, video.string());

  out["device"] = "cpu";
  out["dtype"] = a["dtype"];
  out["job"] = {{"task", "t2v"}, {"frames", spec.num_frames}, {"height", spec.height}, {"width", spec.width},
                {"steps", spec.steps}, {"guidance_scale", spec.guidance_scale}, {"cfg_batch", 2}};
  out["latent_shape"] = prepared.initial_latents.sizes().vec();
  out["transformer"] = {{"config", "mfm_2b sliced"}, {"num_layers", tcfg.num_layers},
                        {"hidden_size", tcfg.inner_dim()}, {"parameters", transformer_params}};
  out["vae"] = "CogVideoX-2b default config, random weights, tiled decode";
  out["text_encoder"] = {{"config", "T5-XL shapes sliced"}, {"num_layers", t5.num_layers}, {"d_model", t5.d_model}};
  out["stage_seconds"] = outputs.stage_seconds;
  out["denoise_step_seconds"] = step_s;
  out["build_random_model_s"] = build_s;
  out["output_frames"] = outputs.recipe["output"]["frames"];
  out["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()},
                    {"torch_threads", at::get_num_threads()},
                    {"load_average_1min", load_average()}};
  fs::remove(video);
  fs::remove(fs::path(outputs.files.back()));
  fs::create_directories(fs::path(a["out"]).parent_path());
  std::ofstream(a["out"]) << out.dump(2) << "\n";
  std::cout << out.dump(2) << "\n";
  return 0;
}
