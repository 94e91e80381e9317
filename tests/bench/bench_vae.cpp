// Benchmark: CogVideoX VAE decode time and peak resident memory on CPU for the full-size default config
// (block_out_channels 128,256,256,512, 3 layers per block; random weights), tiled and untiled.
//
//   bench_vae [--latent-frames 25] [--latent-height 44] [--latent-width 80] [--out FILE] [--note TEXT]
//       runs "untiled" and "tiled" each in a child process of its own (so each peak RSS is its own) and writes
//       one JSON file (default tests/bench/results/vae_cpu.json).
//   bench_vae --mode tiled|untiled [...]   runs one measurement and prints one JSON line.
//
// Peak memory is VmHWM from /proc/self/status (includes the weights and LibTorch's own footprint).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "mf/io/runtime.h"
#include "mf/vae/cogvideox_vae.h"

namespace {

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

int64_t status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size()));
  return -1;
}

struct Args {
  std::string mode = "all";
  int64_t t = 25, h = 44, w = 80;
  std::string out = std::string(MF_SOURCE_DIR) + "/tests/bench/results/vae_cpu.json";
  std::string note;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--mode") a.mode = val();
    else if (k == "--latent-frames") a.t = std::stoll(val());
    else if (k == "--latent-height") a.h = std::stoll(val());
    else if (k == "--latent-width") a.w = std::stoll(val());
    else if (k == "--out") a.out = val();
    else if (k == "--note") a.note = val();
    else throw std::runtime_error("unknown argument " + k);
  }
  return a;
}

nlohmann::json measure(const Args& a) {
  auto rt = mf::io::init_torch_runtime();
  mf::vae::VaeConfig cfg;  // D.1 defaults: 128,256,256,512, 3 layers per block, 32 groups, 480x720 sample
  torch::manual_seed(0);
  mf::vae::CogVideoXVae vae(cfg, torch::kCPU, torch::kFloat);
  if (a.mode == "tiled") vae.enable_tiling();
  auto z = torch::randn({1, cfg.latent_channels, a.t, a.h, a.w});
  const int64_t rss_before = status_kb("VmRSS:");
  const std::string load_before = loadavg();
  int64_t frames = 0, chunks = 0;
  double checksum = 0, first_chunk_s = 0;
  auto t0 = std::chrono::steady_clock::now();
  vae.decode(z, [&](const torch::Tensor& f, int64_t first) {
    // the engine would write these frames to disk here; keep only a checksum
    frames += f.size(2);
    checksum += f.to(torch::kDouble).sum().item<double>();
    if (chunks++ == 0)
      first_chunk_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%s] frames %lld..%lld after %.1f s\n", a.mode.c_str(), (long long)first,
                 (long long)(first + f.size(2)), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j;
  j["mode"] = a.mode;
  j["latent_shape"] = {1, cfg.latent_channels, a.t, a.h, a.w};
  j["output_frames"] = frames;
  j["output_height"] = a.h * 8;
  j["output_width"] = a.w * 8;
  j["uses_tiles"] = vae.decode_uses_tiles(a.h, a.w);
  j["decode_seconds"] = secs;
  j["loadavg_before"] = load_before;
  j["seconds_to_first_frames"] = first_chunk_s;
  j["chunks_streamed"] = chunks;
  j["peak_rss_mib"] = status_kb("VmHWM:") / 1024.0;
  j["rss_before_decode_mib"] = rss_before / 1024.0;
  j["checksum"] = checksum;
  j["threads"] = rt.intra_op_threads;
  j["loadavg_after"] = loadavg();  // other processes sharing the cores slow the decode down
  j["torch"] = rt.torch_version;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args a = parse(argc, argv);
    // Resolved now: a rebuild during a long run replaces the file and /proc/self/exe then reads "... (deleted)".
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    if (a.mode != "all") {
      std::cout << measure(a).dump() << std::endl;
      return 0;
    }
    nlohmann::json result;
    result["benchmark"] = "CogVideoX VAE decode, CPU float32, full-size default config with random weights";
    result["config"] = "block_out_channels 128,256,256,512; layers_per_block 3; norm_num_groups 32; latent 16; "
                       "tiles 240x360 px (sample 480x720 / 2), overlap 1/6, 1/5";
    result["cores"] = std::thread::hardware_concurrency();
    if (!a.note.empty()) result["note"] = a.note;
    for (const char* mode : {"untiled", "tiled"}) {
      std::ostringstream cmd;
      cmd << "'" << self << "' --mode " << mode << " --latent-frames " << a.t << " --latent-height " << a.h
          << " --latent-width " << a.w;
      std::FILE* p = popen(cmd.str().c_str(), "r");
      if (!p) throw std::runtime_error("cannot start " + cmd.str());
      std::string out;
      char buf[4096];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      const int rc = pclose(p);
      if (rc != 0) {
        result[mode] = {{"error", "child exited with status " + std::to_string(rc)}, {"output", out}};
        continue;
      }
      result[mode] = nlohmann::json::parse(out.substr(out.find('{')));
      std::cerr << mode << ": " << result[mode].dump() << "\n";
    }
    std::ofstream f(a.out);
    f << result.dump(2) << "\n";
    std::cout << result.dump(2) << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_vae: " << e.what() << "\n";
    return 1;
  }
}
