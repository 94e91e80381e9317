// T5Tokenizer: special-token splitting, legacy/non-legacy chunk handling, EOS, truncation, padding.
#include "mf/text/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace fs = std::filesystem;

namespace mf::text {

namespace {

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw mf::Error(mf::ErrorCode::Io, "cannot read " + p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json read_json_or_empty(const fs::path& p) {
  if (!fs::exists(p)) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw mf::Error(mf::ErrorCode::BadFile, p.string() + " is not valid JSON: " + e.what());
  }
}

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

// A token string from tokenizer_config / special_tokens_map: either "..." or {"content": "..."}.
std::string token_text(const nlohmann::json& j, const std::string& fallback) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return fallback;
}

// Python's str.strip() whitespace for the ASCII range plus the common Unicode spaces.
size_t leading_space_len(std::string_view s) {
  static const char* const kUnicodeSpaces[] = {"\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
                                               "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85",
                                               "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89",
                                               "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                               "\xe2\x81\x9f", "\xe3\x80\x80"};
  if (s.empty()) return 0;
  const char c = s[0];
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f')) return 1;
  for (const char* u : kUnicodeSpaces)
    if (s.substr(0, std::char_traits<char>::length(u)) == u) return std::char_traits<char>::length(u);
  return 0;
}
std::string_view lstrip(std::string_view s) {
  while (size_t n = leading_space_len(s)) s.remove_prefix(n);
  return s;
}
std::string_view rstrip(std::string_view s) {
  // Walk back one UTF-8 character at a time.
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    if (leading_space_len(s.substr(start)) != s.size() - start) break;
    s.remove_suffix(s.size() - start);
  }
  return s;
}

std::string base64_decode(std::string_view in, const std::string& label) {
  static int8_t table[256];
  static bool init = false;
  if (!init) {
    std::fill(std::begin(table), std::end(table), int8_t(-1));
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
    init = true;
  }
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    const int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) throw mf::Error(mf::ErrorCode::BadFile, label + ": precompiled_charsmap is not valid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

// ---- tokenizer.json ------------------------------------------------------------------------

SentencePieceProto proto_from_tokenizer_json(const std::string& json_text, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw mf::Error(mf::ErrorCode::BadFile, label + " is not valid JSON: " + e.what());
  }
  SentencePieceProto p;
  const auto& model = j.value("model", nlohmann::json::object());
  if (model.value("type", std::string()) != "Unigram")
    throw mf::Error(mf::ErrorCode::Unsupported,
                    label + ": tokenizer model type '" + model.value("type", std::string("?")) +
                        "' is not supported (T5 uses Unigram)");
  if (!model.contains("vocab") || !model["vocab"].is_array())
    throw mf::Error(mf::ErrorCode::BadFile, label + ": model.vocab is missing");
  const int unk_id = model.contains("unk_id") && model["unk_id"].is_number_integer() ? model["unk_id"].get<int>() : -1;
  p.byte_fallback = model.value("byte_fallback", false);
  std::vector<int> special_ids;
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& t : j["added_tokens"])
      if (t.value("special", false) && t.contains("id")) special_ids.push_back(t["id"].get<int>());
  const auto& vocab = model["vocab"];
  for (size_t i = 0; i < vocab.size(); ++i) {
    const auto& e = vocab[i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      throw mf::Error(mf::ErrorCode::BadFile, label + ": model.vocab[" + std::to_string(i) + "] is not [piece, score]");
    SentencePiece sp;
    sp.piece = e[0].get<std::string>();
    sp.score = static_cast<float>(e[1].get<double>());
    const int id = static_cast<int>(i);
    if (id == unk_id)
      sp.type = PieceType::Unknown;
    else if (std::find(special_ids.begin(), special_ids.end(), id) != special_ids.end())
      sp.type = PieceType::Control;
    else if (p.byte_fallback && sp.piece.size() == 6 && sp.piece.rfind("<0x", 0) == 0 && sp.piece.back() == '>')
      sp.type = PieceType::Byte;
    p.pieces.push_back(std::move(sp));
  }
  if (unk_id < 0 || unk_id >= static_cast<int>(p.pieces.size()))
    throw mf::Error(mf::ErrorCode::BadFile, label + ": model.unk_id is missing or out of range");

  // Normaliser: Precompiled (charsmap), optionally with Strip/Replace of spaces (both subsumed by
  // sentencepiece's whitespace handling below). Anything else changes ids and is refused.
  p.add_dummy_prefix = true;
  p.remove_extra_whitespaces = true;
  p.escape_whitespaces = true;
  p.viterbi_per_word = true;
  std::vector<nlohmann::json> norms;
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const auto& n = j["normalizer"];
    if (n.value("type", std::string()) == "Sequence")
      for (const auto& m : n.value("normalizers", nlohmann::json::array())) norms.push_back(m);
    else
      norms.push_back(n);
  }
  for (const auto& n : norms) {
    const std::string type = n.value("type", std::string());
    if (type == "Precompiled") {
      p.precompiled_charsmap = base64_decode(n.value("precompiled_charsmap", std::string()), label);
    } else if (type == "Strip" || type == "Replace") {
      // Strip(right) and Replace(" {2,}" -> " " or U+2581) only touch spaces, which the
      // sentencepiece-style whitespace collapsing handles identically.
      if (type == "Replace") {
        const auto& pat = n.value("pattern", nlohmann::json::object());
        const std::string s = pat.contains("Regex") ? pat["Regex"].get<std::string>()
                                                    : (pat.contains("String") ? pat["String"].get<std::string>() : "");
        const std::string content = n.value("content", std::string());
        if (!(s == " {2,}" || s == "  ") || !(content == " " || content == kSpaceSymbol))
          throw mf::Error(mf::ErrorCode::Unsupported, label + ": Replace normaliser '" + s + "' is not supported");
      }
    } else {
      throw mf::Error(mf::ErrorCode::Unsupported, label + ": normaliser '" + type + "' is not supported");
    }
  }
  // Pre-tokeniser: WhitespaceSplit and/or Metaspace; the prefix space follows Metaspace's settings.
  std::vector<nlohmann::json> pres;
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
    const auto& n = j["pre_tokenizer"];
    if (n.value("type", std::string()) == "Sequence")
      for (const auto& m : n.value("pretokenizers", nlohmann::json::array())) pres.push_back(m);
    else
      pres.push_back(n);
  }
  for (const auto& n : pres) {
    const std::string type = n.value("type", std::string());
    if (type == "Metaspace") {
      if (n.value("replacement", std::string(kSpaceSymbol)) != kSpaceSymbol)
        throw mf::Error(mf::ErrorCode::Unsupported, label + ": Metaspace replacement other than U+2581");
      if (n.contains("prepend_scheme") && n["prepend_scheme"].is_string())
        p.add_dummy_prefix = n["prepend_scheme"].get<std::string>() != "never";
      else
        p.add_dummy_prefix = n.value("add_prefix_space", true);
    } else if (type != "WhitespaceSplit") {
      throw mf::Error(mf::ErrorCode::Unsupported, label + ": pre-tokeniser '" + type + "' is not supported");
    }
  }
  return p;
}

// ---- T5Tokenizer ---------------------------------------------------------------------------

T5Tokenizer T5Tokenizer::load(const std::string& path) {
  fs::path dir = path, spm, tjson;
  if (fs::is_regular_file(path)) {
    dir = fs::path(path).parent_path();
    (fs::path(path).extension() == ".json" ? tjson : spm) = path;
  } else {
    if (fs::exists(dir / "spiece.model")) spm = dir / "spiece.model";
    else if (fs::exists(dir / "tokenizer.json")) tjson = dir / "tokenizer.json";
  }
  if (spm.empty() && tjson.empty())
    throw mf::Error(mf::ErrorCode::MissingModel,
                    "no tokenizer in " + dir.string() + ": expected spiece.model or tokenizer.json (the MfM folder's tokenizer/)");
  T5Tokenizer t;
  uint64_t h = fnv1a("mf-t5-tokenizer-v1");
  if (!spm.empty()) {
    const std::string bytes = read_file(spm);
    t.model_ = SentencePieceModel::from_proto(parse_sentencepiece_proto(bytes, spm.string()), spm.string());
    t.source_kind_ = "spiece.model";
    h = fnv1a(bytes, h);
  } else {
    const std::string text = read_file(tjson);
    t.model_ = SentencePieceModel::from_proto(proto_from_tokenizer_json(text, tjson.string()), tjson.string());
    t.source_kind_ = "tokenizer.json";
    h = fnv1a(text, h);
  }
  const auto cfg = read_json_or_empty(dir / "tokenizer_config.json");
  const auto smap = read_json_or_empty(dir / "special_tokens_map.json");
  h = fnv1a(cfg.dump(), h);
  h = fnv1a(smap.dump(), h);
  t.fingerprint_ = hex16(h);

  const auto tok = [&](const char* key, const char* fallback) {
    if (smap.contains(key)) return token_text(smap[key], fallback);
    if (cfg.contains(key)) return token_text(cfg[key], fallback);
    return std::string(fallback);
  };
  const std::string pad = tok("pad_token", "<pad>"), eos = tok("eos_token", "</s>");
  t.unk_token_ = tok("unk_token", "<unk>");
  t.pad_id_ = t.model_->piece_to_id(pad);
  t.eos_id_ = t.model_->piece_to_id(eos);
  t.unk_id_ = t.model_->piece_to_id(t.unk_token_);
  t.legacy_ = !(cfg.contains("legacy") && cfg["legacy"].is_boolean() && !cfg["legacy"].get<bool>());

  // Extra ids: <extra_id_i> = pieces + extra_ids - 1 - i (T5Tokenizer's numbering). A tokenizer.json
  // lists them among its added tokens instead.
  const int n_pieces = t.model_->piece_size();
  if (t.source_kind_ == "spiece.model") {
    t.extra_ids_ = cfg.contains("extra_ids") && cfg["extra_ids"].is_number_integer() ? cfg["extra_ids"].get<int>() : 100;
    for (int i = 0; i < t.extra_ids_; ++i)
      t.specials_.push_back({"<extra_id_" + std::to_string(i) + ">", n_pieces + t.extra_ids_ - 1 - i, true, true});
  } else {
    const auto j = nlohmann::json::parse(read_file(tjson));
    for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
      const int id = a.value("id", -1);
      const std::string content = a.value("content", std::string());
      if (id < 0 || content.empty()) continue;
      if (id >= n_pieces) t.extra_ids_ = std::max(t.extra_ids_, id - n_pieces + 1);
      if (content != pad && content != eos && content != t.unk_token_)
        t.specials_.push_back({content, id, a.value("lstrip", false), a.value("rstrip", false)});
    }
  }
  for (const auto& s : {pad, eos, t.unk_token_}) t.specials_.push_back({s, t.model_->piece_to_id(s), false, false});

  if (!t.legacy_) {
    SentencePieceProto p = t.model_->proto();
    p.add_dummy_prefix = false;
    t.model_no_prefix_ = SentencePieceModel::from_proto(std::move(p), t.model_->label());
  }
  return t;
}

int T5Tokenizer::vocab_size() const { return model_->piece_size() + (source_kind_ == "spiece.model" ? extra_ids_ : 0); }

std::string T5Tokenizer::id_to_piece(int id) const {
  for (const auto& s : specials_)
    if (s.id == id) return s.text;
  if (id >= 0 && id < model_->piece_size()) return model_->piece(id).piece;
  return {};
}

// transformers' T5Tokenizer._tokenize for one chunk between special tokens (pieces as strings, so that
// the caller maps them with piece_to_id exactly like convert_tokens_to_ids).
std::vector<std::string> T5Tokenizer::encode_chunk_pieces(std::string_view chunk) const {
  std::vector<std::string> out;
  if (legacy_ || !(chunk.substr(0, kSpaceSymbol.size()) == kSpaceSymbol || chunk.substr(0, 1) == " ")) {
    for (auto& p : (legacy_ ? model_ : model_no_prefix_)->encode_pieces(chunk)) out.push_back(std::move(p.piece));
    return out;
  }
  // Non-legacy: encode "<unk>" + chunk without a dummy prefix, then drop the pieces of "<unk>", so that a
  // leading space is kept as its own piece.
  const size_t unk_len = model_no_prefix_->encode_pieces(unk_token_).size();
  auto pieces = model_no_prefix_->encode_pieces(unk_token_ + std::string(chunk));
  for (size_t i = pieces.size() >= unk_len ? unk_len : 0; i < pieces.size(); ++i) out.push_back(std::move(pieces[i].piece));
  return out;
}

std::vector<int> T5Tokenizer::tokenize(std::string_view text_in) const {
  std::vector<int> ids;
  if (text_in.empty()) return ids;
  std::string text(text_in);
  if (!legacy_) {
    // Non-legacy: "▁" replaces spaces back to " " and a "▁" prefix is added (add_prefix_space).
    std::string t;
    for (size_t i = 0; i < text.size();) {
      if (std::string_view(text).substr(i, 3) == kSpaceSymbol) {
        t.push_back(' ');
        i += 3;
      } else {
        t.push_back(text[i++]);
      }
    }
    text = std::string(kSpaceSymbol) + t;
  }
  // Split on special tokens (leftmost, then longest), honouring lstrip/rstrip on the neighbours.
  struct Part {
    std::string_view text;
    int special_id;  // -1 for plain text
  };
  std::vector<Part> parts;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t best_pos = std::string_view::npos;
    const Special* best = nullptr;
    for (const auto& s : specials_) {
      const size_t pos = rest.find(s.text);
      if (pos == std::string_view::npos) continue;
      if (pos < best_pos || (pos == best_pos && s.text.size() > best->text.size())) {
        best_pos = pos;
        best = &s;
      }
    }
    if (!best) {
      parts.push_back({rest, -1});
      break;
    }
    std::string_view left = rest.substr(0, best_pos);
    if (best->lstrip) left = rstrip(left);
    parts.push_back({left, -1});
    parts.push_back({{}, best->id});
    rest.remove_prefix(best_pos + best->text.size());
    if (best->rstrip) rest = lstrip(rest);
  }
  std::vector<std::string> pieces_or_special;
  std::vector<int> special_at;  // parallel: -1 or special id
  for (const auto& p : parts) {
    if (p.special_id >= 0) {
      pieces_or_special.emplace_back();
      special_at.push_back(p.special_id);
      continue;
    }
    if (p.text.empty()) continue;
    for (auto& s : encode_chunk_pieces(p.text)) {
      pieces_or_special.push_back(std::move(s));
      special_at.push_back(-1);
    }
  }
  // Non-legacy: a lone "▁" before a special token at the start is dropped.
  size_t first = 0;
  if (!legacy_ && pieces_or_special.size() > 1 && special_at[0] < 0 && pieces_or_special[0] == kSpaceSymbol &&
      special_at[1] >= 0)
    first = 1;
  for (size_t i = first; i < pieces_or_special.size(); ++i)
    ids.push_back(special_at[i] >= 0 ? special_at[i] : model_->piece_to_id(pieces_or_special[i]));
  return ids;
}

Encoding T5Tokenizer::encode(std::string_view text, const TokenizerOptions& o) const {
  std::vector<int> ids = tokenize(text);
  const int n_special = o.add_eos ? 1 : 0;
  if (o.truncate && o.max_length > 0 && static_cast<int>(ids.size()) + n_special > o.max_length)
    ids.resize(static_cast<size_t>(std::max(0, o.max_length - n_special)));
  // Like T5Tokenizer._add_eos_if_not_present: no second EOS when the text already ends with one.
  if (o.add_eos && (ids.empty() || ids.back() != eos_id_)) ids.push_back(eos_id_);
  Encoding e;
  e.ids.assign(ids.begin(), ids.end());
  e.attention_mask.assign(e.ids.size(), 1);
  if (o.pad && o.max_length > 0)
    while (static_cast<int>(e.ids.size()) < o.max_length) {
      e.ids.push_back(pad_id_);
      e.attention_mask.push_back(0);
    }
  return e;
}

std::vector<Encoding> T5Tokenizer::encode_batch(const std::vector<std::string>& texts, const TokenizerOptions& o) const {
  std::vector<Encoding> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(encode(t, o));
  return out;
}

}  // namespace mf::text
