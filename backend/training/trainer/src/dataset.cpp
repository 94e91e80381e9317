// ToyVideoDataset: toy-world scenes rendered to float tensors, split by scene-seed range.
#include "mf/training/dataset.h"

#include <algorithm>
#include <cstring>

#include "mf/core/error.h"
#include "mf/toyworld/render.h"
#include "mf/toyworld/rng.h"

namespace mf::training {

namespace {
constexpr uint64_t kSeedSpan = uint64_t(1) << 32;  // scene seeds per dataset seed
}

const char* to_string(Split s) { return s == Split::Train ? "train" : "validation"; }

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0x9E3779B97F4A7C15ull);
  uint64_t x = mf::toyworld::splitmix64(s);
  s ^= b;
  return x ^ mf::toyworld::splitmix64(s);
}

mf::toyworld::SamplerOptions DatasetOptions::default_sampler() {
  mf::toyworld::SamplerOptions s;
  s.max_shapes = 2;
  return s;
}

DatasetOptions DatasetOptions::toy(int width, int height, int frames, uint64_t seed, int64_t validation_size,
                                   int64_t train_size, int max_shapes) {
  DatasetOptions d;
  d.width = width;
  d.height = height;
  d.frames = frames;
  d.seed = seed;
  d.validation_size = validation_size;
  d.train_size = train_size;
  d.sampler.max_shapes = max_shapes;
  d.sampler.min_shapes = std::min(d.sampler.min_shapes, max_shapes);
  return d;
}

void DatasetOptions::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw mf::Error(mf::ErrorCode::BadInput, "toy video dataset: " + what);
  };
  need(width > 0 && height > 0, "width and height must be positive");
  need(frames > 0, "frames must be positive");
  need(seed < kSeedSpan, "seed must be below 2^32 (got " + std::to_string(seed) + ")");
  need(validation_size >= 0 && validation_size < static_cast<int64_t>(kSeedSpan / 2),
       "validation_size must be in [0, 2^31)");
  need(train_size >= 0 && train_size <= static_cast<int64_t>(kSeedSpan) - validation_size,
       "train_size must be in [0, 2^32 - validation_size]");
  auto s = sampler;
  s.width = width;
  s.height = height;
  s.frames = frames;
  mf::toyworld::validate(s);
}

ToyVideoDataset::ToyVideoDataset(DatasetOptions options) : opt_(std::move(options)) {
  opt_.validate();
  opt_.sampler.width = opt_.width;
  opt_.sampler.height = opt_.height;
  opt_.sampler.frames = opt_.frames;
}

int64_t ToyVideoDataset::size(Split split) const {
  if (split == Split::Validation) return opt_.validation_size;
  return opt_.train_size > 0 ? opt_.train_size : static_cast<int64_t>(kSeedSpan) - opt_.validation_size;
}

uint64_t ToyVideoDataset::scene_seed(Split split, int64_t index) const {
  mf::check(index >= 0 && index < size(split), mf::ErrorCode::BadInput,
            std::string("toy video dataset: ") + to_string(split) + " index " + std::to_string(index) +
                " is out of range [0, " + std::to_string(size(split)) + ")");
  const uint64_t base = opt_.seed * kSeedSpan;
  const uint64_t offset = split == Split::Validation ? 0 : static_cast<uint64_t>(opt_.validation_size);
  return base + offset + static_cast<uint64_t>(index);
}

mf::toyworld::Scene ToyVideoDataset::scene(Split split, int64_t index) const {
  return mf::toyworld::sample_scene(scene_seed(split, index), opt_.sampler);
}

VideoBatch ToyVideoDataset::get(Split split, const std::vector<int64_t>& indices) const {
  mf::check(!indices.empty(), mf::ErrorCode::BadInput, "toy video dataset: empty batch");
  const int64_t B = static_cast<int64_t>(indices.size()), T = opt_.frames, H = opt_.height, W = opt_.width;
  VideoBatch b;
  auto rgb = torch::empty({B, T, H, W, 3}, torch::kUInt8);
  b.depth = torch::empty({B, 1, T, H, W}, torch::kFloat);
  auto* rgb_p = rgb.data_ptr<uint8_t>();
  auto* depth_p = b.depth.data_ptr<float>();
  for (int64_t i = 0; i < B; ++i) {
    const auto sc = scene(split, indices[static_cast<size_t>(i)]);
    const auto clip = mf::toyworld::render(sc);
    for (int64_t t = 0; t < T; ++t) {
      const cv::Mat& f = clip.frames[static_cast<size_t>(t)];
      const cv::Mat& d = clip.depth[static_cast<size_t>(t)];
      for (int64_t y = 0; y < H; ++y) {
        std::memcpy(rgb_p + ((i * T + t) * H + y) * W * 3, f.ptr<uint8_t>(static_cast<int>(y)),
                    static_cast<size_t>(W * 3));
        std::memcpy(depth_p + ((i * T + t) * H + y) * W, d.ptr<float>(static_cast<int>(y)),
                    static_cast<size_t>(W) * sizeof(float));
      }
    }
    b.captions.push_back(clip.caption);
    b.scene_seeds.push_back(sc.seed);
  }
  // [B, T, H, W, 3] uint8 -> [B, 3, T, H, W] float in [-1, 1]
  b.video = rgb.permute({0, 4, 1, 2, 3}).to(torch::kFloat).div_(127.5).sub_(1.0).contiguous();
  return b;
}

VideoBatch ToyVideoDataset::range(Split split, int64_t first, int64_t count) const {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < count; ++i) idx.push_back(first + i);
  return get(split, idx);
}

std::vector<int64_t> ToyVideoDataset::train_indices(uint64_t counter, int batch) const {
  mf::check(batch > 0, mf::ErrorCode::BadInput, "toy video dataset: batch must be positive");
  std::vector<int64_t> idx;
  const int64_t n = size(Split::Train);
  if (opt_.train_size == 0) {
    for (int b = 0; b < batch; ++b)
      idx.push_back(static_cast<int64_t>((counter * static_cast<uint64_t>(batch) + static_cast<uint64_t>(b)) %
                                         static_cast<uint64_t>(n)));
  } else {
    mf::toyworld::Rng rng(mix_seed(opt_.seed, counter));
    for (int b = 0; b < batch; ++b) idx.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(n))));
  }
  return idx;
}

}  // namespace mf::training
