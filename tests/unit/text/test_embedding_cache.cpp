// Text-embedding cache: hits, LRU eviction under the byte budget, disk round trip, key separation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <atomic>
#include <thread>

#include "mf/core/error.h"
#include "mf/text/embedding_cache.h"

namespace fs = std::filesystem;
using namespace mf::text;

namespace {
TextEmbedding make(float v, int64_t s = 77, int64_t d = 16, torch::ScalarType dt = torch::kFloat) {
  return {torch::full({s, d}, v, torch::TensorOptions().dtype(dt)), torch::ones({s}, torch::kLong)};
}
}  // namespace

TEST(EmbeddingCache, GetOrComputeComputesOnce) {
  TextEmbeddingCache cache(1 << 20);
  int calls = 0;
  EmbeddingKey k{"model-a", "a cat #fps: 16."};
  auto f = [&] {
    ++calls;
    return make(1.5f);
  };
  auto a = cache.get_or_compute(k, f);
  auto b = cache.get_or_compute(k, f);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(torch::equal(a.embeds, b.embeds));
  EXPECT_EQ(cache.stats().memory_hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
  // Another model or another prompt or another length is another entry.
  cache.get_or_compute({"model-b", k.prompt}, f);
  cache.get_or_compute({k.model_id, k.prompt + " "}, f);
  cache.get_or_compute({k.model_id, k.prompt, 64}, f);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(cache.size(), 4u);
}

TEST(EmbeddingCache, KeysDoNotCollideAcrossFieldBoundaries) {
  EmbeddingKey a{"ab", "c"}, b{"a", "bc"};
  EXPECT_NE(a.canonical(), b.canonical());
  EXPECT_NE(a.hash_hex(), b.hash_hex());
}

TEST(EmbeddingCache, EvictsLeastRecentlyUsedWithinBudget) {
  const size_t one = make(0).nbytes();  // 77*16*4 + 77*8
  TextEmbeddingCache cache(one * 2 + 10);
  cache.put({"m", "p1"}, make(1));
  cache.put({"m", "p2"}, make(2));
  ASSERT_TRUE(cache.get({"m", "p1"}).has_value());  // p1 is now the most recent
  cache.put({"m", "p3"}, make(3));                   // evicts p2
  EXPECT_LE(cache.bytes(), cache.byte_budget());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.get({"m", "p1"}).has_value());
  EXPECT_FALSE(cache.get({"m", "p2"}).has_value());
  EXPECT_TRUE(cache.get({"m", "p3"}).has_value());
  EXPECT_EQ(cache.stats().evictions, 1u);
  // Larger than the whole budget: not kept, nothing evicted.
  cache.put({"m", "huge"}, make(4, 77, 4096));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.get({"m", "huge"}).has_value());
}

TEST(EmbeddingCache, StoredValuesAreCopies) {
  TextEmbeddingCache cache(1 << 20);
  auto v = make(1);
  cache.put({"m", "p"}, v);
  v.embeds.fill_(9);
  EXPECT_EQ(cache.get({"m", "p"})->embeds.max().item<float>(), 1.0f);
}

TEST(EmbeddingCache, DiskRoundTripSurvivesANewProcessCache) {
  const fs::path dir = fs::temp_directory_path() / ("mf_embcache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto v = make(0.25f, 77, 8, torch::kBFloat16);
  v.attention_mask.slice(0, 10).fill_(0);
  {
    TextEmbeddingCache cache(1 << 20, dir.string());
    cache.put({"model", "a prompt"}, v);
    EXPECT_EQ(cache.stats().disk_writes, 1u);
  }
  TextEmbeddingCache fresh(1 << 20, dir.string());
  auto got = fresh.get({"model", "a prompt"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->embeds.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(got->embeds, v.embeds));
  EXPECT_TRUE(torch::equal(got->attention_mask, v.attention_mask));
  EXPECT_EQ(fresh.stats().disk_hits, 1u);
  EXPECT_TRUE(fresh.get({"model", "a prompt"}).has_value());  // promoted to memory
  EXPECT_EQ(fresh.stats().memory_hits, 1u);
  EXPECT_FALSE(fresh.get({"model", "another prompt"}).has_value());
  // A corrupt file is a miss, not an error.
  std::ofstream(fs::path(dir) / ("t5_" + EmbeddingKey{"model", "bad"}.hash_hex() + ".safetensors")) << "garbage";
  EXPECT_FALSE(fresh.get({"model", "bad"}).has_value());
  fs::remove_all(dir);
}

TEST(EmbeddingCache, ModelIdFollowsTheWeights) {
  const fs::path dir = fs::temp_directory_path() / ("mf_t5id_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"d_model": 8})";
  std::ofstream(dir / "model.safetensors") << std::string(8, '\0');
  const auto id1 = t5_model_id("tok", dir.string(), torch::kBFloat16);
  EXPECT_EQ(id1, t5_model_id("tok", dir.string(), torch::kBFloat16));
  EXPECT_NE(id1, t5_model_id("tok2", dir.string(), torch::kBFloat16));
  EXPECT_NE(id1, t5_model_id("tok", dir.string(), torch::kFloat));
  std::ofstream(dir / "model.safetensors") << std::string(8, '\0') << "x";
  EXPECT_NE(id1, t5_model_id("tok", dir.string(), torch::kBFloat16));
  fs::remove_all(dir);
  EXPECT_THROW(t5_model_id("tok", dir.string(), torch::kBFloat16), mf::Error);
}

TEST(EmbeddingCache, ConcurrentUseKeepsEntriesConsistent) {
  const size_t one = make(0).nbytes();
  TextEmbeddingCache cache(one * 5);  // fewer slots than keys: constant eviction
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const int k = (i * 7 + t) % 12;
        auto v = cache.get_or_compute({"m", "p" + std::to_string(k)}, [&] { return make(static_cast<float>(k)); });
        if (v.embeds[0][0].item<float>() != static_cast<float>(k)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.bytes(), cache.byte_budget());
  EXPECT_LE(cache.size(), 5u);
  const auto s = cache.stats();
  EXPECT_EQ(s.memory_hits + s.misses, 6u * 150u);
}
