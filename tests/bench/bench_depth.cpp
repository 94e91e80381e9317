// Benchmark: Depth-Anything-V2-Small (real config, random weights) on one 352x640 RGB frame, as MfM's depth
// condition runs it: DPT preprocessing (PIL bicubic to 280x518), the float32 model, bicubic resize back.
//
//   bench_depth [--height 352 --width 640] [--warmup 1] [--iters 3] [--device cpu|cuda|cuda:N]
//               [--out tests/bench/results/depth_cpu.json] [--note TEXT]
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/depth/depth_estimator.h"
#include "bench_device.h"
#include "mf/io/runtime.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  auto rt = mf::io::init_torch_runtime();
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "bench_depth: bad argument " << k << "\n";
      return 2;
    }
    a[k.substr(2)] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& d) { return a.count(k) ? a[k] : d; };
  const int64_t H = std::stoll(get("height", "352")), W = std::stoll(get("width", "640"));
  const int warmup = std::stoi(get("warmup", "1")), iters = std::stoi(get("iters", "3"));
  const std::string dev = get("device", "cpu");
  const auto resolved = mf::bench::resolve_bench_device("bench_depth", dev);  // cpu, cuda or cuda:N
  if (!resolved) return 2;
  const torch::Device device = *resolved;
  const std::string out_path = get("out", std::string(MF_SOURCE_DIR) + "/tests/bench/results/depth_" + mf::bench::device_file_tag(dev) + ".json");

  torch::manual_seed(0);
  auto cfg = mf::depth::DepthAnythingConfig::v2_small();
  mf::depth::DepthAnything model(cfg);
  {
    // Random weights of a sensible scale (the default initialisers leave layer scale at 1 and LayerNorm at 1/0).
    torch::NoGradGuard g;
    for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  }
  int64_t params = 0;
  for (auto& p : model->parameters()) params += p.numel();
  mf::depth::DepthEstimator est(cfg, mf::depth::DptPreprocessorConfig{}, model, device);
  auto net = mf::depth::dpt_network_size(H, W, est.preprocessor());
  auto image = torch::randint(0, 256, {H, W, 3}, torch::kUInt8);

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int i = 0; i < warmup; ++i) est.predict_depth(image);
  sync();
  std::vector<double> total, pre, model_t, post;
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto px = mf::depth::dpt_preprocess(image, est.preprocessor());
    const double t_pre = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    auto raw = est.forward(px);
    sync();
    const double t_model = seconds_since(t1);
    auto t2 = std::chrono::steady_clock::now();
    auto d = mf::depth::dpt_postprocess(raw.cpu(), H, W);
    const double t_post = seconds_since(t2);
    pre.push_back(t_pre);
    model_t.push_back(t_model);
    post.push_back(t_post);
    total.push_back(seconds_since(t0));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };

  std::ostringstream cmd;
  for (int i = 0; i < argc; ++i) cmd << (i ? " " : "") << (i ? argv[i] : "bench_depth");
  nlohmann::json j;
  j["benchmark"] = "depth_anything_v2_small_predict";
  j["command"] = cmd.str();
  j["model"] = "Depth-Anything-V2-Small (hidden 384, 12 layers, 6 heads, neck [48,96,192,384], fusion 64, head 32), "
               "random weights, float32";
  j["parameters"] = params;
  j["image_size"] = {H, W};
  j["network_input"] = {net.first, net.second};
  j["device"] = dev;
  j["torch_version"] = rt.torch_version;
  j["threads"] = rt.intra_op_threads;
  j["blas"] = rt.blas;
  j["cpu"] = cpu_model();
  j["loadavg_at_end"] = loadavg();
  if (a.count("note")) j["note"] = a["note"];
  j["warmup"] = warmup;
  j["iters"] = iters;
  j["seconds"] = {{"total_median", median(total)},
                  {"total_min", *std::min_element(total.begin(), total.end())},
                  {"preprocess_median", median(pre)},
                  {"model_median", median(model_t)},
                  {"postprocess_median", median(post)},
                  {"total_all", total}};
  std::ofstream(out_path) << j.dump(2) << "\n";
  std::cout << j.dump() << "\n";
  return 0;
}
