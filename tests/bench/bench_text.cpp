// Benchmark: the T5-XL text encoder MfM uses (d_model 2048, 24 layers, 32 heads x 64, d_ff 5120,
// gated-gelu; random weights) encoding one 77-token prompt, plus the tokenizer, and optionally the
// checkpoint load path's memory (weights written to a temporary safetensors file and loaded back tensor by
// tensor; the anonymous-memory peak is sampled while loading).
//
//   bench_text [--dtype float32|bfloat16] [--warmup 1] [--iters 3] [--device cpu|cuda|cuda:N] [--load-check 1]
//              [--out tests/bench/results/text_cpu.json]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench_device.h"
#include "mf/io/runtime.h"
#include "mf/io/tensor_io.h"
#include "mf/text/t5_encoder.h"
#include "mf/text/tokenizer.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string first_line_with(const char* file, const std::string& prefix) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line.substr(line.find(':') + 1);
  return {};
}

// kB of anonymous resident memory (heap, tensors) - excludes the page cache of mapped files.
long rss_anon_kb() {
  auto s = first_line_with("/proc/self/status", "RssAnon");
  return s.empty() ? -1 : std::stol(s);
}

}  // namespace

int main(int argc, char** argv) {
  auto rt = mf::io::init_torch_runtime();
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "bench_text: bad argument " << k << "\n";
      return 2;
    }
    a[k.substr(2)] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& d) { return a.count(k) ? a[k] : d; };
  const int warmup = std::stoi(get("warmup", "1")), iters = std::stoi(get("iters", "3"));
  const std::string dev = get("device", "cpu");
  const bool bf16 = get("dtype", "float32") == "bfloat16";
  const bool load_check = get("load-check", "1") == "1";
  const std::string out_path =
      get("out", (fs::path(MF_SOURCE_DIR) / "tests/bench/results" / ("text_" + mf::bench::device_file_tag(dev) + ".json")).string());
  const auto resolved = mf::bench::resolve_bench_device("bench_text", dev);  // cpu, cuda or cuda:N
  if (!resolved) return 2;
  const torch::Device device = *resolved;
  const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  torch::NoGradGuard no_grad;
  nlohmann::json j;
  j["benchmark"] = "text";
  j["model"] = "T5-XL encoder (flan-t5-xl / t5-v1_1-xl shapes), random weights";
  j["device"] = dev;
  j["dtype"] = bf16 ? "bfloat16" : "float32";
  j["cpu"] = first_line_with("/proc/cpuinfo", "model name");
  j["torch_version"] = rt.torch_version;
  j["threads"] = rt.intra_op_threads;
  j["blas"] = rt.blas;
  j["loadavg_before"] = first_line_with("/proc/loadavg", "");

  // Tokenizer: the pipeline goldens' sentencepiece model on the default negative prompt.
  const fs::path tok_dir = fs::path(MF_SOURCE_DIR) / "tests/fixtures/text/spm_nfkc_unigram";
  if (fs::exists(tok_dir / "spiece.model")) {
    auto tok = mf::text::T5Tokenizer::load(tok_dir.string());
    const std::string neg =
        "static, watermark, subtitles, scene change, flickering, distorted, discontinuous, bad anatomy, bad hands, "
        "missing fingers, cropped, ugly, blurry, low resolution, low quality, motionless, cartoon, animation, oil "
        "painting, #reverse, #motion: super-fast, #backplay, human distortion, unnatural movement";
    auto t0 = std::chrono::steady_clock::now();
    const int n = 1000;
    size_t total = 0;
    for (int i = 0; i < n; ++i) total += tok.encode(neg).ids.size();
    j["tokenize_negative_prompt_us"] = seconds_since(t0) / n * 1e6;
    j["tokenize_check"] = total == static_cast<size_t>(n) * 77;
  }

  const auto cfg = mf::text::T5Config::xl();
  j["config"] = nlohmann::json::parse(cfg.to_json());
  auto t0 = std::chrono::steady_clock::now();
  mf::text::T5Encoder enc(cfg, dtype, device);
  torch::manual_seed(0);
  for (auto& p : enc->named_parameters()) {
    const auto& name = p.key();
    if (name == "encoder.embed_tokens.weight") continue;  // tied to shared.weight
    auto& t = p.value();
    if (name.find("layer_norm") != std::string::npos) {
      t.fill_(1.0);
    } else {
      const double fan_in = static_cast<double>(t.size(t.dim() - 1));
      t.normal_(0.0, name.find("shared") != std::string::npos ? 1.0 : 1.0 / std::sqrt(fan_in));
    }
  }
  j["init_random_weights_s"] = seconds_since(t0);
  int64_t n_params = 0;
  for (auto& p : enc->named_parameters())
    if (p.key() != "encoder.embed_tokens.weight") n_params += p.value().numel();
  j["parameters"] = n_params;
  j["weights_gib"] = static_cast<double>(n_params) * (bf16 ? 2 : 4) / (1024.0 * 1024 * 1024);

  auto ids = torch::randint(3, 32000, {1, 77}, torch::kLong);
  ids[0][76] = 1;
  std::vector<double> times;
  for (int i = 0; i < warmup + iters; ++i) {
    auto t = std::chrono::steady_clock::now();
    auto out = enc->forward(ids);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double s = seconds_since(t);
    if (i >= warmup) times.push_back(s);
    if (i == 0) {
      j["output_shape"] = out.sizes().vec();
      j["output_finite"] = torch::isfinite(out).all().item<bool>();
    }
  }
  std::sort(times.begin(), times.end());
  j["encode_77_tokens_s"] = times;
  j["encode_77_tokens_median_s"] = times[times.size() / 2];
  j["warmup"] = warmup;

  if (load_check && !device.is_cuda()) {
    // Save the random weights (as a checkpoint would hold them), drop the model, load it back.
    const fs::path tmp = fs::temp_directory_path() / ("mf_bench_t5xl_" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    std::ofstream(tmp / "config.json") << cfg.to_json();
    {
      std::vector<std::pair<std::string, torch::Tensor>> tensors;
      for (auto& p : enc->named_parameters())
        if (p.key() != "encoder.embed_tokens.weight") tensors.push_back({p.key(), p.value()});
      auto ts = std::chrono::steady_clock::now();
      mf::io::save_tensors((tmp / "model.safetensors").string(), tensors);
      j["save_checkpoint_s"] = seconds_since(ts);
    }
    auto reference = enc->forward(ids).to(torch::kFloat);
    enc = mf::text::T5Encoder(nullptr);
    const long before = rss_anon_kb();
    std::atomic<bool> done{false};
    std::atomic<long> peak{before};
    std::thread sampler([&] {
      while (!done) {
        long v = rss_anon_kb();
        long p = peak.load();
        while (v > p && !peak.compare_exchange_weak(p, v)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    auto tl = std::chrono::steady_clock::now();
    auto loaded = mf::text::load_t5_encoder(tmp.string(), dtype, device);
    j["load_checkpoint_s"] = seconds_since(tl);
    done = true;
    sampler.join();
    const double gib = 1024.0 * 1024;
    j["load_rss_anon_before_gib"] = before / gib;
    j["load_rss_anon_peak_gib"] = peak.load() / gib;
    j["load_rss_anon_peak_over_weights"] = (peak.load() - before) / gib / j["weights_gib"].get<double>();
    j["load_roundtrip_identical"] = torch::equal(loaded->forward(ids).to(torch::kFloat), reference);
    fs::remove_all(tmp);
  }
  j["loadavg_after"] = first_line_with("/proc/loadavg", "");
  fs::create_directories(fs::path(out_path).parent_path());
  std::ofstream(out_path) << j.dump(2) << "\n";
  std::cout << j.dump(2) << "\n";
  return 0;
}
