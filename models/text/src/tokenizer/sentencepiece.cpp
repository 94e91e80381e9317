// SentencePiece Unigram encoding without libsentencepiece (see the header for the contract).
#include "mf/text/sentencepiece.h"

#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "mf/core/error.h"

namespace mf::text {

namespace {

// ---- protobuf wire format ------------------------------------------------------------------

class WireReader {
 public:
  WireReader(std::string_view buf, const std::string& label) : buf_(buf), label_(label) {}
  bool done() const { return pos_ >= buf_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= buf_.size()) fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(buf_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
    return 0;
  }
  uint32_t fixed32() {
    if (buf_.size() - pos_ < 4) fail("truncated fixed32");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(buf_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return v;
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > buf_.size() - pos_) fail("length-delimited field runs past the end");
    std::string_view s = buf_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1:
        if (buf_.size() - pos_ < 8) fail("truncated fixed64");
        pos_ += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: fail("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw mf::Error(mf::ErrorCode::BadFile, label_ + ": not a valid sentencepiece model (" + what + " at byte " +
                                                std::to_string(pos_) + ")");
  }

 private:
  std::string_view buf_;
  const std::string& label_;
  size_t pos_ = 0;
};

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

SentencePiece parse_piece(std::string_view msg, const std::string& label) {
  SentencePiece p;
  WireReader r(msg, label);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    if (field == 1 && wt == 2) {
      p.piece = std::string(r.bytes());
    } else if (field == 2 && wt == 5) {
      p.score = bits_to_float(r.fixed32());
    } else if (field == 3 && wt == 0) {
      const uint64_t t = r.varint();
      if (t < 1 || t > 6) r.fail("unknown piece type " + std::to_string(t));
      p.type = static_cast<PieceType>(t);
    } else {
      r.skip(wt);
    }
  }
  return p;
}

void parse_trainer(std::string_view msg, SentencePieceProto* out, const std::string& label) {
  WireReader r(msg, label);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    if (wt == 0 && (field == 3 || field == 24 || field == 35 || (field >= 40 && field <= 43))) {
      const int64_t v = static_cast<int64_t>(r.varint());
      switch (field) {
        case 3: out->model_type = static_cast<int>(v); break;
        case 24: out->treat_whitespace_as_suffix = v != 0; break;
        case 35: out->byte_fallback = v != 0; break;
        case 40: out->unk_id = static_cast<int>(v); break;
        case 41: out->bos_id = static_cast<int>(v); break;
        case 42: out->eos_id = static_cast<int>(v); break;
        case 43: out->pad_id = static_cast<int>(v); break;
      }
    } else {
      r.skip(wt);
    }
  }
}

void parse_normalizer(std::string_view msg, SentencePieceProto* out, const std::string& label) {
  WireReader r(msg, label);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    if (field == 1 && wt == 2) {
      out->normalizer_name = std::string(r.bytes());
    } else if (field == 2 && wt == 2) {
      out->precompiled_charsmap = std::string(r.bytes());
    } else if (wt == 0 && field >= 3 && field <= 5) {
      const bool v = r.varint() != 0;
      if (field == 3) out->add_dummy_prefix = v;
      if (field == 4) out->remove_extra_whitespaces = v;
      if (field == 5) out->escape_whitespaces = v;
    } else {
      r.skip(wt);
    }
  }
}

// ---- UTF-8 as sentencepiece's string_util decodes it ----------------------------------------

size_t one_char_len(char c) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<uint8_t>(c)) >> 4]; }
bool is_trail(char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; }
bool valid_cp(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// True when a valid UTF-8 character starts `s` (U+FFFD itself counts as valid); *len is its length.
bool decode_utf8_valid(std::string_view s, size_t* len) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  *len = 1;
  if (b(0) < 0x80) return true;
  uint32_t cp = 0;
  if (s.size() >= 2 && (b(0) & 0xE0) == 0xC0) {
    cp = ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    if (is_trail(s[1]) && cp >= 0x80 && valid_cp(cp)) return *len = 2, true;
  } else if (s.size() >= 3 && (b(0) & 0xF0) == 0xE0) {
    cp = ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (is_trail(s[1]) && is_trail(s[2]) && cp >= 0x800 && valid_cp(cp)) return *len = 3, true;
  } else if (s.size() >= 4 && (b(0) & 0xF8) == 0xF0) {
    cp = ((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && cp >= 0x10000 && valid_cp(cp)) return *len = 4, true;
  }
  return false;
}

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581
constexpr float kUnkPenalty = 10.0f;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && std::string_view(s).substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

SentencePieceProto parse_sentencepiece_proto(std::string_view bytes, const std::string& label) {
  SentencePieceProto out;
  WireReader r(bytes, label);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    if (field == 1 && wt == 2) {
      out.pieces.push_back(parse_piece(r.bytes(), label));
    } else if (field == 2 && wt == 2) {
      parse_trainer(r.bytes(), &out, label);
    } else if (field == 3 && wt == 2) {
      parse_normalizer(r.bytes(), &out, label);
    } else {
      r.skip(wt);  // self_test_data, denormalizer_spec, unknown fields
    }
  }
  if (out.pieces.empty()) r.fail("no pieces");
  return out;
}

// ---- CharsMap ------------------------------------------------------------------------------

CharsMap::CharsMap(std::string blob, const std::string& label) : blob_(std::move(blob)) {
  if (blob_.empty()) return;
  uint32_t trie_size = 0;
  if (blob_.size() <= 4) throw mf::Error(mf::ErrorCode::BadFile, label + ": precompiled charsmap is truncated");
  for (int i = 0; i < 4; ++i) trie_size |= static_cast<uint32_t>(static_cast<uint8_t>(blob_[i])) << (8 * i);
  if (trie_size >= blob_.size() - 4 + 1 || trie_size % 4 != 0 || trie_size == 0)
    throw mf::Error(mf::ErrorCode::BadFile,
                    label + ": precompiled charsmap trie size " + std::to_string(trie_size) + " does not fit the " +
                        std::to_string(blob_.size()) + "-byte blob");
  units_.resize(trie_size / 4);
  for (size_t i = 0; i < units_.size(); ++i) {
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= static_cast<uint32_t>(static_cast<uint8_t>(blob_[4 + 4 * i + k])) << (8 * k);
    units_[i] = u;
  }
  pool_ = std::string_view(blob_).substr(4 + trie_size);
}

size_t CharsMap::longest_match(std::string_view input, std::string_view* replacement) const {
  if (units_.empty()) return 0;
  // darts-clone DoubleArrayUnit accessors.
  const auto has_leaf = [](uint32_t u) { return ((u >> 8) & 1) == 1; };
  const auto value = [](uint32_t u) { return u & ((1u << 31) - 1); };
  const auto label = [](uint32_t u) { return u & ((1u << 31) | 0xFFu); };
  const auto offset = [](uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
  constexpr size_t kMaxResults = 32;  // sentencepiece's Normalizer::kMaxTrieResultsSize
  size_t n_results = 0, best_len = 0;
  uint32_t best_value = 0;
  size_t pos = 0;
  uint32_t unit = units_[0];
  pos ^= offset(unit);
  for (size_t i = 0; i < input.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(input[i]);
    pos ^= c;
    if (pos >= units_.size()) break;  // malformed map: stop matching here
    unit = units_[pos];
    if (label(unit) != c) break;
    pos ^= offset(unit);
    if (has_leaf(unit)) {
      if (pos >= units_.size()) break;
      if (n_results < kMaxResults && (best_len == 0 || i + 1 > best_len)) {
        best_len = i + 1;
        best_value = value(units_[pos]);
      }
      ++n_results;
    }
  }
  if (best_len == 0) return 0;
  if (best_value >= pool_.size()) return 0;
  const char* begin = pool_.data() + best_value;
  const void* nul = std::memchr(begin, '\0', pool_.size() - best_value);
  const size_t n = nul ? static_cast<const char*>(nul) - begin : pool_.size() - best_value;
  *replacement = std::string_view(begin, n);
  return best_len;
}

// ---- PieceTrie -----------------------------------------------------------------------------

int PieceTrie::child(int node, uint8_t b) const {
  const auto& ch = nodes_[static_cast<size_t>(node)].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, -1));
  return (it != ch.end() && it->first == b) ? it->second : -1;
}

void PieceTrie::insert(std::string_view key, int value) {
  int node = 0;
  for (char c : key) {
    const uint8_t b = static_cast<uint8_t>(c);
    int next = child(node, b);
    if (next < 0) {
      next = static_cast<int>(nodes_.size());
      nodes_.emplace_back();
      auto& ch = nodes_[static_cast<size_t>(node)].children;
      ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, -1)), std::make_pair(b, next));
    }
    node = next;
  }
  if (nodes_[static_cast<size_t>(node)].value < 0) nodes_[static_cast<size_t>(node)].value = value;
}

// ---- SentencePieceModel --------------------------------------------------------------------

std::shared_ptr<const SentencePieceModel> SentencePieceModel::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw mf::Error(mf::ErrorCode::MissingModel, "cannot open sentencepiece model " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  return from_proto(parse_sentencepiece_proto(bytes, path), path);
}

std::shared_ptr<const SentencePieceModel> SentencePieceModel::from_proto(SentencePieceProto proto,
                                                                         const std::string& label) {
  std::shared_ptr<SentencePieceModel> m(new SentencePieceModel());
  m->proto_ = std::move(proto);
  m->label_ = label;
  m->init();
  return m;
}

void SentencePieceModel::init() {
  if (proto_.model_type != 1)
    throw mf::Error(mf::ErrorCode::Unsupported,
                    label_ + ": sentencepiece model type " + std::to_string(proto_.model_type) +
                        " is not supported (only Unigram, as used by T5)");
  charsmap_ = CharsMap(proto_.precompiled_charsmap, label_);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;
  for (int i = 0; i < piece_size(); ++i) {
    const auto& sp = proto_.pieces[static_cast<size_t>(i)];
    if (sp.piece.empty()) throw mf::Error(mf::ErrorCode::BadFile, label_ + ": piece " + std::to_string(i) + " is empty");
    const bool normal = sp.type == PieceType::Normal || sp.type == PieceType::UserDefined || sp.type == PieceType::Unused;
    auto& map = normal ? normal_ids_ : reserved_ids_;
    if (!map.emplace(sp.piece, i).second)
      throw mf::Error(mf::ErrorCode::BadFile, label_ + ": piece '" + sp.piece + "' is defined twice");
    if (normal) pieces_trie_.insert(sp.piece, i);
    if (sp.type == PieceType::UserDefined) user_defined_trie_.insert(sp.piece, i);
    if (sp.type == PieceType::Unknown) {
      if (unk_id_ >= 0) throw mf::Error(mf::ErrorCode::BadFile, label_ + ": more than one unknown piece");
      unk_id_ = i;
    }
    if (sp.type == PieceType::Byte) {
      unsigned v = 0;
      char tail = 0;
      if (sp.piece.size() != 6 || std::sscanf(sp.piece.c_str(), "<0x%2X%c", &v, &tail) != 2 || tail != '>')
        throw mf::Error(mf::ErrorCode::BadFile, label_ + ": byte piece '" + sp.piece + "' is malformed");
      byte_ids_[v] = i;
    }
    if (sp.type == PieceType::Normal) {
      min_score_ = std::min(min_score_, sp.score);
      max_score_ = std::max(max_score_, sp.score);
    }
  }
  if (unk_id_ < 0) throw mf::Error(mf::ErrorCode::BadFile, label_ + ": the model defines no unknown piece");
  if (proto_.byte_fallback)
    for (int b = 0; b < 256; ++b)
      if (byte_ids_[b] < 0)
        throw mf::Error(mf::ErrorCode::BadFile,
                        label_ + ": byte_fallback is on but byte piece " + std::to_string(b) + " is missing");
}

int SentencePieceModel::piece_to_id(std::string_view piece) const {
  const std::string key(piece);
  if (auto it = reserved_ids_.find(key); it != reserved_ids_.end()) return it->second;
  if (auto it = normal_ids_.find(key); it != normal_ids_.end()) return it->second;
  return unk_id_;
}

// One normalisation step: user-defined symbols stay whole; otherwise the longest charsmap rule;
// otherwise one UTF-8 character (an invalid byte becomes U+FFFD, consuming one byte).
std::pair<std::string_view, size_t> SentencePieceModel::normalize_prefix(std::string_view input) const {
  if (input.empty()) return {{}, 0};
  size_t ud_len = 0;
  user_defined_trie_.for_each_prefix(input, [&](size_t len, int) { ud_len = std::max(ud_len, len); });
  if (ud_len > 0) return {input.substr(0, ud_len), ud_len};
  std::string_view repl;
  const size_t len = charsmap_.longest_match(input, &repl);
  if (len > 0) return {repl, len};
  size_t n = 1;
  if (!decode_utf8_valid(input, &n)) return {std::string_view("\xEF\xBF\xBD"), 1};
  return {input.substr(0, n), n};
}

std::string SentencePieceModel::normalize(std::string_view input) const {
  std::string out;
  if (input.empty()) return out;
  const bool remove_ws = proto_.remove_extra_whitespaces;
  const bool escape = proto_.escape_whitespaces;
  if (remove_ws) {
    while (!input.empty()) {
      const auto p = normalize_prefix(input);
      if (p.first != " ") break;
      input.remove_prefix(p.second);
    }
  }
  if (input.empty()) return out;
  out.reserve(input.size() * 3);
  const auto add_ws = [&] { out.append(escape ? kSpaceSymbol : std::string_view(" ")); };
  if (!proto_.treat_whitespace_as_suffix && proto_.add_dummy_prefix) add_ws();
  bool prev_space = remove_ws;
  while (!input.empty()) {
    const auto p = normalize_prefix(input);
    std::string_view sp = p.first;
    while (prev_space && !sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char c : sp) {
        if (escape && c == ' ')
          out.append(kSpaceSymbol);
        else
          out.push_back(c);
      }
      prev_space = sp.back() == ' ';
    }
    input.remove_prefix(p.second);
    if (!remove_ws) prev_space = false;
  }
  if (remove_ws) {
    const std::string_view space = escape ? kSpaceSymbol : std::string_view(" ");
    while (ends_with(out, space)) out.resize(out.size() - space.size());
  }
  if (proto_.treat_whitespace_as_suffix && proto_.add_dummy_prefix) add_ws();
  return out;
}

// sentencepiece 0.1.97 Model::EncodeOptimized, including its float/double arithmetic: a piece's
// candidate score is computed in double (the user-defined branch makes the expression double) and
// stored as float; the unknown candidate is computed in float.
std::vector<std::pair<std::string_view, int>> SentencePieceModel::viterbi(std::string_view normalized) const {
  struct Best {
    int id = -1;
    float score = 0;
    int starts_at = -1;
  };
  const int size = static_cast<int>(normalized.size());
  std::vector<std::pair<std::string_view, int>> result;
  if (size == 0) return result;
  const float unk_score = min_score_ - kUnkPenalty;
  std::vector<Best> best(static_cast<size_t>(size) + 1);
  int starts_at = 0;
  while (starts_at < size) {
    const float till_here = best[static_cast<size_t>(starts_at)].score;
    bool has_single_node = false;
    const int mblen = std::min<int>(static_cast<int>(one_char_len(normalized[static_cast<size_t>(starts_at)])),
                                    size - starts_at);
    pieces_trie_.for_each_prefix(normalized.substr(static_cast<size_t>(starts_at)), [&](size_t length, int id) {
      const auto& sp = proto_.pieces[static_cast<size_t>(id)];
      if (sp.type == PieceType::Unused) return;
      Best& target = best[static_cast<size_t>(starts_at) + length];
      const double score = sp.type == PieceType::UserDefined
                               ? static_cast<double>(static_cast<float>(length) * max_score_) - 0.1
                               : static_cast<double>(sp.score);
      const double candidate = score + static_cast<double>(till_here);
      if (target.starts_at == -1 || candidate > static_cast<double>(target.score)) {
        target.score = static_cast<float>(candidate);
        target.starts_at = starts_at;
        target.id = id;
      }
      if (!has_single_node && static_cast<int>(length) == mblen) has_single_node = true;
    });
    if (!has_single_node) {
      Best& target = best[static_cast<size_t>(starts_at + mblen)];
      const float candidate = unk_score + till_here;
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = starts_at;
        target.id = unk_id_;
      }
    }
    starts_at += mblen;
  }
  int ends_at = size;
  while (ends_at > 0) {
    const Best& node = best[static_cast<size_t>(ends_at)];
    result.emplace_back(normalized.substr(static_cast<size_t>(node.starts_at), static_cast<size_t>(ends_at - node.starts_at)),
                        node.id);
    ends_at = node.starts_at;
  }
  std::reverse(result.begin(), result.end());
  return result;
}

std::vector<EncodedPiece> SentencePieceModel::encode_pieces(std::string_view text) const {
  const std::string normalized = normalize(text);
  std::vector<EncodedPiece> out;
  bool prev_unk = false;
  std::vector<std::pair<std::string_view, int>> lattice;
  if (proto_.viterbi_per_word) {
    std::string_view rest(normalized);
    while (!rest.empty()) {
      size_t cut = rest.find(kSpaceSymbol, 1);
      if (cut == std::string_view::npos) cut = rest.size();
      auto part = viterbi(rest.substr(0, cut));
      lattice.insert(lattice.end(), part.begin(), part.end());
      rest.remove_prefix(cut);
    }
  } else {
    lattice = viterbi(normalized);
  }
  for (const auto& [w, id] : lattice) {
    const bool is_unk = proto_.pieces[static_cast<size_t>(id)].type == PieceType::Unknown;
    if (is_unk && proto_.byte_fallback) {
      for (char c : w) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(static_cast<uint8_t>(c)));
        out.push_back({buf, byte_ids_[static_cast<uint8_t>(c)]});
      }
    } else if (is_unk && prev_unk) {
      out.back().piece.append(w);  // runs of unknown characters become one unknown piece
    } else {
      out.push_back({std::string(w), id});
    }
    prev_unk = is_unk;
  }
  return out;
}

std::vector<int> SentencePieceModel::encode(std::string_view text) const {
  std::vector<int> ids;
  for (auto& p : encode_pieces(text)) ids.push_back(p.id);
  return ids;
}

}  // namespace mf::text
