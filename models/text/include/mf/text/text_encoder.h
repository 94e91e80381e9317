// The text-conditioning step of the MfM pipeline (mfm-reference.md C.4) as one object: tokenizer (77 ids,
// EOS, padding, mask) + T5 encoder run WITHOUT the attention mask + an optional embedding cache, so a
// prompt seen before (a repeated job, the CFG negative prompt, a training epoch) is not re-encoded.
// The caller passes prompts exactly as the pipeline tokenizes them: the official code lower-cases and
// strips them first (Python's str.lower(), which is Unicode-aware) - that step is not done here.
//
// Threading: encode() is const and thread-safe (the cache is internally locked; T5 forward is pure).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mf/text/embedding_cache.h"
#include "mf/text/t5_encoder.h"
#include "mf/text/tokenizer.h"

namespace mf::text {

struct PromptEmbeddings {
  torch::Tensor embeds;          // [B, S, D] in the encoder's dtype, on its device
  torch::Tensor attention_mask;  // [B, S] int64 (1 text + EOS, 0 padding), on the encoder's device
};

class T5TextEncoder {
 public:
  T5TextEncoder(T5Tokenizer tokenizer, T5Encoder encoder, std::string model_id,
                std::shared_ptr<TextEmbeddingCache> cache = nullptr);
  // tokenizer/ and text_encoder/ folders of an MfM pipeline folder. The model id for the cache is
  // t5_model_id(tokenizer fingerprint, text_encoder_dir, dtype).
  static T5TextEncoder load(const std::string& tokenizer_dir, const std::string& text_encoder_dir,
                            torch::ScalarType dtype = torch::kBFloat16, torch::Device device = torch::kCPU,
                            std::shared_ptr<TextEmbeddingCache> cache = nullptr);

  // One row per prompt; prompts missing from the cache are encoded together in one batch.
  PromptEmbeddings encode(const std::vector<std::string>& prompts, int max_length = 77) const;

  const T5Tokenizer& tokenizer() const { return tokenizer_; }
  const T5Encoder& encoder() const { return encoder_; }
  const std::string& model_id() const { return model_id_; }
  const std::shared_ptr<TextEmbeddingCache>& cache() const { return cache_; }

 private:
  T5Tokenizer tokenizer_;
  T5Encoder encoder_;
  std::string model_id_;
  std::shared_ptr<TextEmbeddingCache> cache_;
};

}  // namespace mf::text
