// A self-contained SentencePiece Unigram encoder: reads a serialized sentencepiece ModelProto
// (spiece.model) by decoding the protobuf wire format directly, and reproduces
// sentencepiece 0.1.97's SentencePieceProcessor::Encode ids exactly:
//   normaliser (precompiled charsmap = darts-clone double-array trie + replacement strings,
//   user-defined symbols kept intact, remove_extra_whitespaces, add_dummy_prefix, whitespace -> U+2581)
//   -> optimised Unigram Viterbi over UTF-8 byte positions (float scores, unknown = min score - 10)
//   -> consecutive unknown pieces merged, or split into <0xXX> byte pieces when byte_fallback is on.
// It deliberately does not link libsentencepiece/protobuf: their protobuf clashes with LibTorch's.
//
// Threading: a SentencePieceModel is immutable after load; encode() is const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mf::text {

// Piece types, numbered as in sentencepiece_model.proto.
enum class PieceType : int { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SentencePiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::Normal;
};

// The fields of ModelProto that encoding needs (defaults as in the .proto file).
struct SentencePieceProto {
  std::vector<SentencePiece> pieces;
  int model_type = 1;  // 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // trainer_spec (informational; piece types rule)
  std::string normalizer_name;
  std::string precompiled_charsmap;  // raw bytes
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  // Not in ModelProto: set for tokenizer.json models, whose Metaspace pre-tokeniser runs the Viterbi
  // separately on each U+2581-started word (sentencepiece runs it over the whole sentence).
  bool viterbi_per_word = false;
};

// Decodes the protobuf wire format of a ModelProto. Throws mf::Error(BadFile) naming `label`.
SentencePieceProto parse_sentencepiece_proto(std::string_view bytes, const std::string& label);

// The precompiled charsmap: a darts-clone double array mapping UTF-8 prefixes to offsets of
// NUL-terminated replacement strings. Longest match wins (as sentencepiece's Normalizer).
class CharsMap {
 public:
  CharsMap() = default;
  // Parses <uint32 trie size><trie units><replacement pool>. Empty blob = no map. Throws BadFile.
  explicit CharsMap(std::string blob, const std::string& label = "precompiled_charsmap");
  bool empty() const { return units_.empty(); }
  // Longest rule matching a prefix of `input`: returns its byte length (0 = none) and sets *replacement.
  size_t longest_match(std::string_view input, std::string_view* replacement) const;

 private:
  std::string blob_;
  std::vector<uint32_t> units_;
  std::string_view pool_;
};

// A byte trie over piece strings (for the Viterbi lattice and the user-defined-symbol matcher).
class PieceTrie {
 public:
  void insert(std::string_view key, int value);  // first insertion of a key wins
  // Calls fn(length, value) for every key that is a prefix of `s` (shortest first).
  template <class Fn>
  void for_each_prefix(std::string_view s, Fn&& fn) const {
    int node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      node = child(node, static_cast<uint8_t>(s[i]));
      if (node < 0) return;
      if (nodes_[node].value >= 0) fn(i + 1, nodes_[node].value);
    }
  }
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    int value = -1;
    std::vector<std::pair<uint8_t, int>> children;  // sorted by byte
  };
  int child(int node, uint8_t b) const;
  std::vector<Node> nodes_{Node{}};
};

struct EncodedPiece {
  std::string piece;  // normalized surface (merged for unknown runs)
  int id = 0;
};

class SentencePieceModel {
 public:
  static std::shared_ptr<const SentencePieceModel> load(const std::string& path);  // spiece.model
  static std::shared_ptr<const SentencePieceModel> from_proto(SentencePieceProto proto, const std::string& label);

  // Normalised text as sentencepiece's Normalizer produces it (U+2581 for spaces).
  std::string normalize(std::string_view text) const;
  // Pieces and ids as SentencePieceProcessor::Encode (no BOS/EOS).
  std::vector<EncodedPiece> encode_pieces(std::string_view text) const;
  std::vector<int> encode(std::string_view text) const;

  int piece_size() const { return static_cast<int>(proto_.pieces.size()); }
  const SentencePiece& piece(int id) const { return proto_.pieces.at(static_cast<size_t>(id)); }
  int piece_to_id(std::string_view piece) const;  // unk id when absent
  int unk_id() const { return unk_id_; }
  const SentencePieceProto& proto() const { return proto_; }
  const std::string& label() const { return label_; }

 private:
  SentencePieceModel() = default;
  void init();
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;
  std::vector<std::pair<std::string_view, int>> viterbi(std::string_view normalized) const;

  SentencePieceProto proto_;
  std::string label_;
  CharsMap charsmap_;
  PieceTrie pieces_trie_;        // NORMAL, USER_DEFINED, UNUSED pieces
  PieceTrie user_defined_trie_;  // USER_DEFINED only (kept whole by the normaliser)
  std::unordered_map<std::string, int> reserved_ids_, normal_ids_;  // piece -> id, for piece_to_id
  int unk_id_ = -1;
  float min_score_ = 0, max_score_ = 0;
  int byte_ids_[256];
};

}  // namespace mf::text
