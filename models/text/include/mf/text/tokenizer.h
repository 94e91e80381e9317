// T5Tokenizer as the MfM pipeline calls it: ids of a prompt, EOS appended, truncated to max_length
// (76 text pieces + EOS for 77), padded with pad id 0, plus the attention mask (1 for text + EOS).
//
// Loads a released tokenizer/ folder unchanged: spiece.model (slow tokenizer; the reference) or, when the
// folder only has it, tokenizer.json (a Unigram model with a Precompiled charsmap normaliser and a
// Metaspace pre-tokeniser, as transformers writes for T5). tokenizer_config.json / special_tokens_map.json
// supply extra_ids (the <extra_id_N> ids, N = 0 is the highest id), the special-token strings and `legacy`.
// Special tokens inside the text are split out first, as transformers' slow tokenizer does.
//
// Threading: a T5Tokenizer is immutable after load(); every method is const and thread-safe.
// Torch-free (library mf_tokenizer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mf/text/sentencepiece.h"

namespace mf::text {

struct TokenizerOptions {
  int max_length = 77;  // the MfM pipeline hard-codes 77 (its max_sequence_length argument is ignored)
  bool truncate = true;
  bool pad = true;      // pad to max_length
  bool add_eos = true;
};

struct Encoding {
  std::vector<int64_t> ids;             // [max_length] when padded
  std::vector<int64_t> attention_mask;  // 1 for text and EOS, 0 for padding
};

class T5Tokenizer {
 public:
  // `path` is a tokenizer folder (spiece.model preferred, else tokenizer.json) or one of those files.
  // Throws mf::Error(MissingModel) when neither exists, BadFile when a file is malformed.
  static T5Tokenizer load(const std::string& path);

  // Piece ids of `text` without EOS, truncation or padding (special tokens in the text become their ids).
  std::vector<int> tokenize(std::string_view text) const;
  Encoding encode(std::string_view text, const TokenizerOptions& options = {}) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const TokenizerOptions& options = {}) const;

  int pad_id() const { return pad_id_; }
  int eos_id() const { return eos_id_; }
  int unk_id() const { return unk_id_; }
  int vocab_size() const;  // sentencepiece pieces + extra ids (T5: 32000 + 100)
  std::string id_to_piece(int id) const;
  // Stable fingerprint of the files that decide the ids (for cache keys), 16 hex digits.
  const std::string& fingerprint() const { return fingerprint_; }
  // "spiece.model" or "tokenizer.json"
  const std::string& source_kind() const { return source_kind_; }
  const SentencePieceModel& model() const { return *model_; }

 private:
  struct Special {
    std::string text;
    int id;
    bool lstrip, rstrip;
  };
  std::vector<std::string> encode_chunk_pieces(std::string_view chunk) const;

  std::shared_ptr<const SentencePieceModel> model_;           // as loaded (legacy behaviour)
  std::shared_ptr<const SentencePieceModel> model_no_prefix_; // add_dummy_prefix off (legacy = false)
  std::vector<Special> specials_;
  int extra_ids_ = 0;
  int pad_id_ = 0, eos_id_ = 1, unk_id_ = 2;
  bool legacy_ = true;
  std::string unk_token_ = "<unk>";
  std::string fingerprint_;
  std::string source_kind_;
};

// Builds the sentencepiece-equivalent model of a transformers tokenizer.json (Unigram only).
// Exposed for tests. Throws mf::Error(Unsupported) for other model types or normalisers.
SentencePieceProto proto_from_tokenizer_json(const std::string& json_text, const std::string& label);

}  // namespace mf::text
