// A cache of text-encoder outputs keyed by (model id, prompt), so repeated jobs, CFG negatives and
// training epochs do not re-run T5. Two levels:
//   memory: LRU with a byte budget (tensors kept on the CPU);
//   disk (optional): one safetensors file per entry under a cache folder, written atomically, named by a
//     hash of the key, with the full key in its metadata (a hash collision is a miss, never a wrong hit).
// The model id must change whenever the ids or the embeddings could change: use t5_model_id(), which
// combines the tokenizer fingerprint, the encoder folder's config and weight-file headers, and the dtype.
//
// Threading: every method is thread-safe (one mutex); compute callbacks of get_or_compute() run
// outside the lock, so two threads may compute the same missing entry once each (last put wins).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace mf::text {

struct EmbeddingKey {
  std::string model_id;
  std::string prompt;  // exactly as tokenized (after the pipeline's lower-casing)
  int max_length = 77;
  std::string canonical() const;  // one string holding every field
  std::string hash_hex() const;   // 16 hex digits, for file names
};

struct TextEmbedding {
  torch::Tensor embeds;          // [S, D] last_hidden_state of one prompt (model dtype)
  torch::Tensor attention_mask;  // [S] int64
  size_t nbytes() const;
};

struct EmbeddingCacheStats {
  uint64_t memory_hits = 0, disk_hits = 0, misses = 0, evictions = 0, disk_writes = 0;
};

class TextEmbeddingCache {
 public:
  // byte_budget 0 disables the memory level; disk_dir "" disables the disk level.
  explicit TextEmbeddingCache(size_t byte_budget = 256u << 20, std::string disk_dir = {});

  std::optional<TextEmbedding> get(const EmbeddingKey& key);  // memory, then disk (promoted to memory)
  void put(const EmbeddingKey& key, const TextEmbedding& value);
  TextEmbedding get_or_compute(const EmbeddingKey& key, const std::function<TextEmbedding()>& compute);

  size_t bytes() const;
  size_t size() const;
  size_t byte_budget() const { return budget_; }
  EmbeddingCacheStats stats() const;
  void clear_memory();

 private:
  struct Entry {
    std::string key;
    TextEmbedding value;
  };
  void insert_locked(const std::string& key, const TextEmbedding& value);
  std::string disk_path(const EmbeddingKey& key) const;

  mutable std::mutex mu_;
  size_t budget_;
  std::string disk_dir_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;  // front = most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  EmbeddingCacheStats stats_;
};

// An id for (tokenizer, text encoder weights, dtype): tokenizer fingerprint + hash of config.json and of
// every *.safetensors file's size and header in `text_encoder_dir` (cheap: no weight bytes are read).
std::string t5_model_id(const std::string& tokenizer_fingerprint, const std::string& text_encoder_dir,
                        torch::ScalarType dtype);

}  // namespace mf::text
