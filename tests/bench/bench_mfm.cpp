// bench_mfm: times one forward of the MfM transformer (adapter + blocks + head) at a given config and
// shape, on CPU or CUDA, with random weights, and writes JSON: tokens, seconds, FLOPs counted from the
// shapes (2 per multiply-add of every GEMM, attention product and convolution) and achieved FLOP/s.
//
//   bench_mfm --config tiny|2b|8b|PATH.json [--layers N] [--frames 17 --height 352 --width 640]
//             [--batch 1] [--text-len 77] [--dtype fp32|bf16] [--device cpu|cuda|cuda:N] [--warmup 1] [--iters 1]
//             [--out results.json]   (appends this run to {"runs": [...]} in that file)
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench_device.h"
#include "mf/io/runtime.h"
#include "mf/mfm/transformer.h"

using mf::mfm::Config;

namespace {

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::cerr << "bench_mfm: bad argument " << k << "\n";
      std::exit(2);
    }
    a[k.substr(2)] = argv[++i];
  }
  return a;
}

Config tiny() {
  Config c;
  c.num_attention_heads = 2;
  c.attention_head_dim = 64;
  c.in_channels = 16;
  c.num_layers = 2;
  c.cross_attention_dim = {48, 48};
  c.sample_size = 32;
  c.activation_fn = "gelu-approximate";
  c.norm_type = "ada_norm_zero";
  c.use_rope = true;
  c.add_motion_score = true;
  c.use_depth_cond = true;
  return c;
}

// FLOPs of one forward, from the shapes.
double forward_flops(const Config& c, int64_t B, int64_t frames, int64_t H, int64_t W, int64_t Lt) {
  const double D = c.inner_dim(), NH = c.num_attention_heads, Dh = c.attention_head_dim;
  double f = 0;
  // Condition adapter at pixel resolution.
  auto down = [](int64_t n) { return (n - 1) / 2 + 1; };
  int64_t t = frames, h = H, w = W;
  auto conv = [&](int64_t cin, int64_t cout, int64_t k_elems, bool stride2, bool time2) {
    if (stride2) {
      h = down(h);
      w = down(w);
    }
    if (time2) t = down(t);
    f += 2.0 * B * t * h * w * cout * cin * k_elems;
  };
  const int64_t ch[5] = {16, 32, 96, 256, 512};
  conv(c.adapter_in_channels(), 16, 9, false, false);
  for (int i = 0; i < 4; ++i) {
    conv(ch[i], ch[i], 9, false, false);
    conv(ch[i], ch[i + 1], i % 2 == 0 ? 27 : 9, true, i % 2 == 0);
  }
  conv(512, c.inner_dim(), 9, false, false);
  const double T = t, S = double(t) * h * w, p = c.patch_size;
  f += 2.0 * B * S * D * c.in_channels * p * p;                           // patch embedding
  f += 2.0 * B * (256 * D + D * D) * (c.add_motion_score ? 2 : 1);        // time embedding
  for (int i = 0; i < c.num_layers; ++i) {
    f += 2.0 * B * D * 6 * D;                                             // AdaLN
    f += 2.0 * B * S * D * D * 4 + 2.0 * 2 * B * NH * S * S * Dh;         // self-attention
    if (c.block_has_cross_attention(i)) {
      const double ct = c.block_cross_dim(i);
      f += 2.0 * B * S * D * D * 2 + 2.0 * B * Lt * ct * D * 2 + 2.0 * 2 * B * NH * S * Lt * Dh;
    }
    f += 2.0 * B * S * D * 4 * D * 2;                                     // FFN
  }
  f += 2.0 * B * D * 2 * D + 2.0 * B * S * D * p * p * c.out_channels_resolved();  // head
  (void)T;
  return f;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// CPU time of this process (all threads), seconds: on a shared machine wall time alone says little.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

// 1-minute load average: other processes sharing the CPU lower the numbers.
double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  in >> l;
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  auto rt = mf::io::init_torch_runtime();
  auto a = parse_args(argc, argv);
  auto get = [&](const std::string& k, const std::string& d) { return a.count(k) ? a[k] : d; };
  const std::string cname = get("config", "tiny");
  Config cfg = cname == "tiny" ? tiny() : cname == "2b" ? Config::mfm_2b() : cname == "8b" ? Config::mfm_8b()
                                                                                             : Config::from_file(cname);
  if (a.count("layers")) cfg.num_layers = std::stoi(a["layers"]);
  const int64_t frames = std::stoll(get("frames", "9")), H = std::stoll(get("height", "64")),
                W = std::stoll(get("width", "96")), B = std::stoll(get("batch", "1")),
                Lt = std::stoll(get("text-len", "77"));
  const int warmup = std::stoi(get("warmup", "1")), iters = std::stoi(get("iters", "1"));
  const bool bf16 = get("dtype", "fp32") == "bf16";
  const std::string dev = get("device", "cpu");
  const auto resolved = mf::bench::resolve_bench_device("bench_mfm", dev);  // cpu, cuda or cuda:N
  if (!resolved) return 3;
  const torch::Device device = *resolved;
  mf::mfm::ModelOptions opts;
  opts.dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  opts.device = device;

  mf::mfm::Transformer3DModel model(cfg, opts);
  mf::mfm::init_random_weights(*model, 1);
  model->eval();

  const int64_t T = mf::mfm::ConditionAdapterImpl::output_frames(frames);
  mf::mfm::TransformerInputs in;
  torch::manual_seed(2);
  in.hidden_states = torch::randn({B, cfg.in_channels, T, H / 8, W / 8});
  in.conditional_pixel_values = torch::randn({B, cfg.adapter_in_channels() - 1, frames, H, W});
  in.conditional_masks = torch::rand({B, 1, frames, H, W});
  in.encoder_hidden_states = torch::randn({B, Lt, cfg.block_cross_dim(0)});
  in.encoder_attention_mask = torch::ones({B, Lt}, torch::kLong);
  in.timestep = torch::full({B}, 500.0f);
  in.motion_score = torch::full({B}, 5.0f);

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  torch::NoGradGuard ng;
  for (int i = 0; i < warmup; ++i) model->forward(in);
  sync();
  std::vector<double> times;
  double cpu_total = 0;
  for (int i = 0; i < std::max(1, iters); ++i) {
    const double c0 = cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    auto out = model->forward(in);
    sync();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    cpu_total += cpu_seconds() - c0;
  }
  const double cpu_per_iter = cpu_total / times.size();
  double best = *std::min_element(times.begin(), times.end());
  double mean = 0;
  for (double t : times) mean += t / times.size();
  const int64_t tokens = T * (H / 8 / cfg.patch_size) * (W / 8 / cfg.patch_size);
  const double flops = forward_flops(cfg, B, frames, H, W, Lt);

  std::ostringstream cmd;
  for (int i = 0; i < argc; ++i) cmd << (i ? " " : "") << (i ? argv[i] : "bench_mfm");
  nlohmann::json j;
  j["benchmark"] = "mfm_transformer_forward";
  j["command"] = cmd.str();
  j["config"] = cname;
  j["num_layers"] = cfg.num_layers;
  j["hidden_size"] = cfg.inner_dim();
  j["heads"] = cfg.num_attention_heads;
  j["parameters"] = model->parameter_count();
  j["batch"] = B;
  j["pixel_shape"] = {frames, H, W};
  j["latent_shape"] = {T, H / 8, W / 8};
  j["text_tokens"] = Lt;
  j["tokens"] = tokens;
  j["dtype"] = bf16 ? "bf16" : "fp32";
  j["device"] = dev;
  j["attention_kernel"] = mf::mfm::attention_kernel_name();
  j["warmup"] = warmup;
  j["seconds"] = best;
  j["seconds_mean"] = mean;
  j["iters"] = times.size();
  j["flops"] = flops;
  j["flops_per_second"] = flops / best;
  // Process CPU time per forward (user + system, all threads) and FLOPs per CPU-second: what the code
  // achieves per core, independent of how much of the machine other processes took.
  j["cpu_seconds_mean"] = cpu_per_iter;
  j["flops_per_cpu_second"] = flops / cpu_per_iter;
  j["machine"] = {{"cpu", cpu_model()},
                  {"hardware_threads", std::thread::hardware_concurrency()},
                  {"torch_threads", rt.intra_op_threads},
                  {"torch_version", rt.torch_version},
                  {"blas", rt.blas},
                  {"load_average_1min", load_average()}};
  std::cout << j.dump() << std::endl;

  if (a.count("out")) {
    nlohmann::json all = {{"runs", nlohmann::json::array()}};
    std::ifstream prev(a["out"]);
    if (prev) {
      try {
        prev >> all;
      } catch (...) {
        all = {{"runs", nlohmann::json::array()}};
      }
    }
    all["runs"].push_back(j);
    std::ofstream(a["out"]) << all.dump(2) << "\n";
  }
  return 0;
}
