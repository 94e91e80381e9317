// Tokenizer + T5 + cache (see the header).
#include "mf/text/text_encoder.h"

#include "mf/core/error.h"

namespace mf::text {

T5TextEncoder::T5TextEncoder(T5Tokenizer tokenizer, T5Encoder encoder, std::string model_id,
                             std::shared_ptr<TextEmbeddingCache> cache)
    : tokenizer_(std::move(tokenizer)), encoder_(std::move(encoder)), model_id_(std::move(model_id)), cache_(std::move(cache)) {
  if (tokenizer_.vocab_size() > encoder_->config().vocab_size)
    throw mf::Error(mf::ErrorCode::BadFile,
                    "the tokenizer has " + std::to_string(tokenizer_.vocab_size()) + " ids but the text encoder's embedding has only " +
                        std::to_string(encoder_->config().vocab_size) + " rows: tokenizer/ and text_encoder/ do not belong together");
}

T5TextEncoder T5TextEncoder::load(const std::string& tokenizer_dir, const std::string& text_encoder_dir,
                                  torch::ScalarType dtype, torch::Device device, std::shared_ptr<TextEmbeddingCache> cache) {
  auto tok = T5Tokenizer::load(tokenizer_dir);
  auto enc = load_t5_encoder(text_encoder_dir, dtype, device);
  auto id = t5_model_id(tok.fingerprint(), text_encoder_dir, dtype);
  return T5TextEncoder(std::move(tok), std::move(enc), std::move(id), std::move(cache));
}

PromptEmbeddings T5TextEncoder::encode(const std::vector<std::string>& prompts, int max_length) const {
  const auto device = encoder_->device();
  TokenizerOptions o;
  o.max_length = max_length;
  std::vector<TextEmbedding> rows(prompts.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (cache_) {
      if (auto hit = cache_->get({model_id_, prompts[i], max_length})) {
        rows[i] = *hit;
        continue;
      }
    }
    missing.push_back(i);
  }
  if (!missing.empty()) {
    torch::NoGradGuard no_grad;
    auto ids = torch::empty({static_cast<int64_t>(missing.size()), max_length}, torch::kLong);
    auto mask = torch::empty_like(ids);
    for (size_t r = 0; r < missing.size(); ++r) {
      auto e = tokenizer_.encode(prompts[missing[r]], o);
      ids[static_cast<int64_t>(r)].copy_(torch::tensor(e.ids, torch::kLong));
      mask[static_cast<int64_t>(r)].copy_(torch::tensor(e.attention_mask, torch::kLong));
    }
    // The pipeline runs T5 without the mask (pad tokens attend and are attended to).
    auto out = encoder_->forward(ids);  // [M, S, D]
    for (size_t r = 0; r < missing.size(); ++r) {
      TextEmbedding t{out[static_cast<int64_t>(r)], mask[static_cast<int64_t>(r)]};
      if (cache_) cache_->put({model_id_, prompts[missing[r]], max_length}, t);
      rows[missing[r]] = t;
    }
  }
  std::vector<torch::Tensor> e, m;
  for (auto& r : rows) {
    e.push_back(r.embeds.to(device));
    m.push_back(r.attention_mask.to(device));
  }
  if (e.empty()) throw mf::Error(mf::ErrorCode::BadInput, "T5TextEncoder::encode needs at least one prompt");
  return {torch::stack(e), torch::stack(m)};  // [B, S, D], [B, S]
}

}  // namespace mf::text
