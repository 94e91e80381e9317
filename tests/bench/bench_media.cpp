// bench_media: CPU throughput of the media layer and the latency the timeline sees, as JSON.
//   - H.264 encode frames/s (RGB8 in, libx264 CRF 18, presets veryfast and medium) and decode frames/s
//     (to RGB8; accurate and fast colour conversion) at 1920x1080 and 352x640;
//   - random frame-accurate seeks per second (GOP 48);
//   - FrameCache: hit latency of request() (median, p99), and while scrubbing randomly with the worker busy
//     decoding 1080p: the worst request() call time on the caller's thread and the time until the exact frame;
//     stepping backwards frame by frame (first step seeks, the next ones hit frames kept from that seek).
//
//   bench_media [--frames-1080 24] [--frames-small 96] [--out tests/bench/results/media_cpu.json]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "mf/media/frame_cache.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace fs = std::filesystem;
using namespace mf::media;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// A moving gradient with some texture; built from one precomputed canvas so generation is not the bottleneck.
struct Source {
  Image canvas;
  int w, h;
  Source(int w_, int h_) : w(w_), h(h_) {
    canvas = Image::make(w + 256, h, 3);
    std::mt19937 rng(1);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < canvas.width; ++x) {
        uint8_t* p = canvas.at(x, y);
        p[0] = static_cast<uint8_t>(128 + 90 * std::sin(x * 0.02) + (rng() % 9));
        p[1] = static_cast<uint8_t>(128 + 90 * std::cos(y * 0.015) + (rng() % 9));
        p[2] = static_cast<uint8_t>((x + y) / 12 % 256);
      }
  }
  Image frame(int t) const {
    Image f = Image::make(w, h, 3);
    const int off = (t * 4) % 256;
    for (int y = 0; y < h; ++y) std::copy_n(canvas.row(y) + off * 3, f.stride, f.row(y));
    return f;
  }
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

nlohmann::json bench_size(int w, int h, int frames, const fs::path& tmp) {
  nlohmann::json j;
  j["width"] = w;
  j["height"] = h;
  j["frames"] = frames;
  Source src(w, h);
  std::vector<Image> input;
  for (int t = 0; t < frames; ++t) input.push_back(src.frame(t));
  const fs::path clip = tmp / ("clip_" + std::to_string(w) + "x" + std::to_string(h) + ".mp4");
  for (const char* preset : {"veryfast", "medium"}) {
    EncodeOptions o;
    o.crf = 18;
    o.preset = preset;
    o.gop = 48;
    const fs::path out = std::string(preset) == "medium" ? clip : tmp / "enc_fast.mp4";
    auto t0 = Clock::now();
    {
      VideoWriter wr(out, w, h, o);
      for (auto& f : input) wr.write(f);
      wr.finish();
    }
    const double s = secs(t0, Clock::now());
    j["encode_h264_" + std::string(preset) + "_fps"] = frames / s;
    std::cerr << "  " << w << "x" << h << " encode " << preset << ": " << frames / s << " fps\n";
  }
  for (bool fast : {false, true}) {
    DecodeOptions d;
    d.fast_color = fast;
    auto t0 = Clock::now();
    VideoReader r(clip, d);
    auto t1 = Clock::now();
    DecodedFrame f;
    int n = 0;
    while (r.read(f)) ++n;
    const double s = secs(t1, Clock::now());
    const std::string tag = fast ? "fast_color" : "accurate_color";
    j["open_and_index_ms"] = secs(t0, t1) * 1e3;
    j["decode_h264_rgb_" + tag + "_fps"] = n / s;
    j["decoded_frames"] = n;
    std::cerr << "  " << w << "x" << h << " decode " << tag << ": " << n / s << " fps\n";
  }
  {
    VideoReader r(clip);
    std::mt19937 rng(7);
    const int probes = std::max(8, frames / 3);
    auto t0 = Clock::now();
    for (int k = 0; k < probes; ++k) r.frame(static_cast<int64_t>(rng() % r.frame_count()));
    const double s = secs(t0, Clock::now());
    j["random_seek_per_s"] = probes / s;
    j["random_seek_ms"] = s / probes * 1e3;
  }
  return j;
}

nlohmann::json bench_cache(const fs::path& clip, int64_t frames) {
  nlohmann::json j;
  FrameCacheOptions o;  // fast colour conversion, as the timeline uses
  o.budget_bytes = std::size_t(1) << 30;
  o.prefetch_ahead = 16;
  FrameCache cache(clip, o);
  cache.set_playhead(0, +1);
  while (!cache.idle()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Hits.
  std::vector<double> hit_us;
  for (int k = 0; k < 20000; ++k) {
    const int64_t i = k % 16;
    auto t0 = Clock::now();
    FrameRequest r = cache.request(i);
    hit_us.push_back(secs(t0, Clock::now()) * 1e6);
    if (!r.exact) std::cerr << "unexpected miss at " << i << "\n";
  }
  j["hit_latency_us_median"] = percentile(hit_us, 0.5);
  j["hit_latency_us_p99"] = percentile(hit_us, 0.99);
  j["hit_latency_us_max"] = percentile(hit_us, 1.0);
  // Scrubbing: a UI thread moves the playhead every 16 ms (60 Hz) to random places.
  cache.clear();
  std::mt19937 rng(11);
  std::vector<double> call_us, exact_ms;
  for (int k = 0; k < 40; ++k) {
    const int64_t i = static_cast<int64_t>(rng() % frames);
    auto t0 = Clock::now();
    cache.set_playhead(i, (k % 2) ? 1 : -1);
    FrameRequest r = cache.request(i);
    call_us.push_back(secs(t0, Clock::now()) * 1e6);
    if (!r.exact) {
      // Poll like a UI would, never blocking the thread for longer than a frame.
      while (r.pending.wait_for(std::chrono::milliseconds(16)) != std::future_status::ready) {
      }
      if (r.pending.get()) exact_ms.push_back(secs(t0, Clock::now()) * 1e3);
    }
  }
  j["scrub_request_call_us_median"] = percentile(call_us, 0.5);
  j["scrub_request_call_us_max"] = percentile(call_us, 1.0);
  j["scrub_time_to_exact_frame_ms_median"] = percentile(exact_ms, 0.5);
  j["scrub_time_to_exact_frame_ms_max"] = percentile(exact_ms, 1.0);
  // Stepping backwards one frame at a time from the end (the playhead moves back, prefetch behind it).
  cache.clear();
  std::vector<double> back_ms;
  for (int64_t i = frames - 1; i >= std::max<int64_t>(0, frames - 13); --i) {
    auto t0 = Clock::now();
    cache.set_playhead(i, -1);
    FrameRequest r = cache.request(i);
    if (!r.exact) r.pending.wait();
    back_ms.push_back(secs(t0, Clock::now()) * 1e3);
  }
  j["step_back_ms_first"] = back_ms.front();
  j["step_back_ms_median_after_first"] = percentile(std::vector<double>(back_ms.begin() + 1, back_ms.end()), 0.5);
  auto s = cache.stats();
  j["decoded"] = s.decoded;
  j["dropped"] = s.dropped;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  const int frames_1080 = a.count("frames-1080") ? std::stoi(a["frames-1080"]) : 24;
  const int frames_small = a.count("frames-small") ? std::stoi(a["frames-small"]) : 96;
  const fs::path out = a.count("out") ? fs::path(a["out"])
                                      : fs::path(MF_SOURCE_DIR) / "tests" / "bench" / "results" / "media_cpu.json";
  const fs::path tmp = fs::temp_directory_path() / ("mf_bench_media_" + std::to_string(::getpid()));
  fs::create_directories(tmp);

  nlohmann::json j;
  j["benchmark"] = "media";
  j["device"] = "cpu";
  j["hardware_threads"] = std::thread::hardware_concurrency();
  j["libavcodec"] = LIBAVCODEC_IDENT;
  {
    // Shared machines: the load average says how much of the CPU this run really had.
    std::ifstream la("/proc/loadavg");
    std::string l1;
    if (la >> l1) j["load_average_1min_at_start"] = std::stod(l1);
  }
  j["codec"] = "h264 (libx264 crf 18, yuv420p, gop 48), decoded to RGB8 with swscale";
  try {
    std::cerr << "1920x1080\n";
    j["1920x1080"] = bench_size(1920, 1080, frames_1080, tmp);
    std::cerr << "352x640\n";
    j["352x640"] = bench_size(352, 640, frames_small, tmp);
    std::cerr << "cache (1080p)\n";
    j["cache_1920x1080"] = bench_cache(tmp / "clip_1920x1080.mp4", frames_1080);
  } catch (const std::exception& e) {
    std::cerr << "bench_media: " << e.what() << "\n";
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  fs::create_directories(out.parent_path());
  std::ofstream(out) << j.dump(2) << "\n";
  std::cout << j.dump(2) << "\n";
  return 0;
}
