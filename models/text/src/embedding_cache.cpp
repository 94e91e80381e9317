// Text-embedding cache (see the header).
#include "mf/text/embedding_cache.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "mf/core/error.h"
#include "mf/io/tensor_io.h"

namespace fs = std::filesystem;

namespace mf::text {

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string EmbeddingKey::canonical() const {
  // Length-prefixed fields: no separator inside a prompt can make two keys collide.
  return std::to_string(model_id.size()) + ":" + model_id + "|" + std::to_string(max_length) + "|" +
         std::to_string(prompt.size()) + ":" + prompt;
}

std::string EmbeddingKey::hash_hex() const { return hex16(fnv1a(canonical())); }

size_t TextEmbedding::nbytes() const {
  size_t n = 0;
  if (embeds.defined()) n += static_cast<size_t>(embeds.numel()) * embeds.element_size();
  if (attention_mask.defined()) n += static_cast<size_t>(attention_mask.numel()) * attention_mask.element_size();
  return n;
}

TextEmbeddingCache::TextEmbeddingCache(size_t byte_budget, std::string disk_dir)
    : budget_(byte_budget), disk_dir_(std::move(disk_dir)) {
  if (!disk_dir_.empty()) {
    std::error_code ec;
    fs::create_directories(disk_dir_, ec);
    if (ec) throw mf::Error(mf::ErrorCode::Io, "cannot create the text-embedding cache folder " + disk_dir_ + ": " + ec.message());
  }
}

std::string TextEmbeddingCache::disk_path(const EmbeddingKey& key) const {
  return (fs::path(disk_dir_) / ("t5_" + key.hash_hex() + ".safetensors")).string();
}

void TextEmbeddingCache::insert_locked(const std::string& key, const TextEmbedding& value) {
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->value.nbytes();
    lru_.erase(it->second);
    index_.erase(it);
  }
  const size_t n = value.nbytes();
  if (budget_ == 0 || n > budget_) return;  // never fits: do not flush everything for it
  while (bytes_ + n > budget_ && !lru_.empty()) {
    bytes_ -= lru_.back().value.nbytes();
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
  lru_.push_front({key, value});
  index_[key] = lru_.begin();
  bytes_ += n;
}

std::optional<TextEmbedding> TextEmbeddingCache::get(const EmbeddingKey& key) {
  const std::string k = key.canonical();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(k); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.memory_hits;
      return it->second->value;
    }
  }
  if (!disk_dir_.empty()) {
    const std::string path = disk_path(key);
    if (fs::exists(path)) {
      try {
        auto src = mf::io::WeightSource::open(path);
        auto mk = src.metadata().find("key");
        if (mk != src.metadata().end() && mk->second == k && src.contains("embeds") && src.contains("attention_mask")) {
          TextEmbedding v{src.read("embeds"), src.read("attention_mask")};
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.disk_hits;
          insert_locked(k, v);
          return v;
        }
      } catch (const mf::Error&) {
        // A corrupt or foreign file is a miss; the next put() overwrites it.
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.misses;
  return std::nullopt;
}

void TextEmbeddingCache::put(const EmbeddingKey& key, const TextEmbedding& value_in) {
  if (!value_in.embeds.defined() || !value_in.attention_mask.defined())
    throw mf::Error(mf::ErrorCode::Internal, "text-embedding cache: put() needs embeds and attention_mask");
  // Keep CPU copies: the cache must not pin device memory nor alias a caller's tensor.
  TextEmbedding value{value_in.embeds.detach().to(torch::kCPU).clone(),
                      value_in.attention_mask.detach().to(torch::kCPU, torch::kLong).clone()};
  const std::string k = key.canonical();
  {
    std::lock_guard<std::mutex> lock(mu_);
    insert_locked(k, value);
  }
  if (!disk_dir_.empty()) {
    mf::io::save_tensors(disk_path(key), {{"embeds", value.embeds}, {"attention_mask", value.attention_mask}},
                         {{"key", k}, {"model_id", key.model_id}, {"prompt", key.prompt}});
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.disk_writes;
  }
}

TextEmbedding TextEmbeddingCache::get_or_compute(const EmbeddingKey& key, const std::function<TextEmbedding()>& compute) {
  if (auto v = get(key)) return *v;
  TextEmbedding v = compute();
  put(key, v);
  return v;
}

size_t TextEmbeddingCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t TextEmbeddingCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

EmbeddingCacheStats TextEmbeddingCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void TextEmbeddingCache::clear_memory() {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.clear();
  index_.clear();
  bytes_ = 0;
}

std::string t5_model_id(const std::string& tokenizer_fingerprint, const std::string& text_encoder_dir,
                        torch::ScalarType dtype) {
  uint64_t h = fnv1a("mf-t5-model-id-v1");
  h = fnv1a(tokenizer_fingerprint, h);
  h = fnv1a(c10::toString(dtype), h);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(text_encoder_dir, ec)) {
    const auto name = e.path().filename().string();
    if (name == "config.json" || e.path().extension() == ".safetensors" || name.find(".safetensors.index.json") != std::string::npos)
      files.push_back(e.path());
  }
  if (ec || files.empty())
    throw mf::Error(mf::ErrorCode::MissingModel, "no T5 weights in " + text_encoder_dir + " to identify");
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    h = fnv1a(p.filename().string(), h);
    std::ifstream f(p, std::ios::binary);
    if (p.extension() == ".safetensors") {
      // Size + JSON header (names, shapes, dtypes, offsets, metadata) identify the file cheaply...
      h = fnv1a(std::to_string(fs::file_size(p)), h);
      uint64_t n = 0;
      unsigned char b[8] = {};
      f.read(reinterpret_cast<char*>(b), 8);
      for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(b[i]) << (8 * i);
      std::string header(static_cast<size_t>(std::min<uint64_t>(n, 100u << 20)), '\0');
      f.read(header.data(), static_cast<std::streamsize>(header.size()));
      h = fnv1a(header, h);
      // Plus 16 evenly spaced 4 KiB samples of the data, so a same-shaped fine-tune gets another id.
      const uint64_t size = fs::file_size(p);
      std::string chunk(4096, '\0');
      for (int i = 0; i < 16; ++i) {
        f.clear();
        f.seekg(static_cast<std::streamoff>(size / 16 * static_cast<uint64_t>(i)));
        f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        h = fnv1a(std::string_view(chunk.data(), static_cast<size_t>(f.gcount())), h);
      }
    } else {
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      h = fnv1a(text, h);
    }
  }
  return "t5-" + hex16(h);
}

}  // namespace mf::text
