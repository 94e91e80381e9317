// Tokenizer ids vs the reference (python3-sentencepiece + T5Tokenizer semantics), recorded by
// tests/tools/gen_tokenizer_goldens.py in tests/fixtures/text/tokenizer_goldens.json, and vs the ids the
// official MfM pipeline recorded in ../shared/parity/pipeline.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/io/safetensors.h"
#include "mf/text/sentencepiece.h"
#include "mf/text/tokenizer.h"

namespace fs = std::filesystem;
using mf::text::T5Tokenizer;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const nlohmann::json& goldens() {
  static nlohmann::json j =
      nlohmann::json::parse(slurp(fs::path(MF_SOURCE_DIR) / "tests/fixtures/text/tokenizer_goldens.json"));
  return j;
}

fs::path model_dir(const std::string& label) {
  // Labels are relative to the repository root ("tests/fixtures/...", "../shared/...").
  return fs::path(MF_SOURCE_DIR) / label;
}

std::string show(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

template <class A, class B>
std::string diff(const A& got, const B& want) {
  std::ostringstream os;
  os << "got [";
  for (auto v : got) os << v << ",";
  os << "] want [";
  for (auto v : want) os << v << ",";
  os << "]";
  return os.str();
}

// Checks one model's cases; returns the number of cases compared.
int check_model(const nlohmann::json& entry, const T5Tokenizer& tok, bool sp_ids_only_ordinary = false) {
  const int max_len = goldens()["max_length"].get<int>();
  int n = 0;
  for (const auto& c : entry["cases"]) {
    const std::string text = c["text"].get<std::string>();
    if (c.contains("sp_ids")) {
      const auto want_sp = c["sp_ids"].get<std::vector<int>>();
      const auto sp = tok.model().encode(text);
      EXPECT_EQ(sp, want_sp) << entry["name"] << " sentencepiece ids of '" << show(text) << "': " << diff(sp, want_sp);
    }
    auto want = c["input_ids"].get<std::vector<int64_t>>();
    std::vector<int64_t> mask(want.size(), 1);
    while (static_cast<int>(want.size()) < max_len) {
      want.push_back(0);
      mask.push_back(0);
    }
    const auto e = tok.encode(text);
    EXPECT_EQ(e.ids, want) << entry["name"] << " input ids of '" << show(text) << "': " << diff(e.ids, want);
    EXPECT_EQ(e.attention_mask, mask) << entry["name"] << " mask of '" << show(text) << "'";
    ++n;
  }
  return n;
}

}  // namespace

TEST(Tokenizer, GoldensCoverAtLeast200Prompts) {
  for (const auto& m : goldens()["models"]) EXPECT_GE(m["cases"].size(), 200u) << m["name"];
}

TEST(Tokenizer, MatchesSentencePieceOnFixtureModels) {
  for (const auto& m : goldens()["models"]) {
    const std::string label = m["model"].get<std::string>();
    if (label.rfind("tests/fixtures", 0) != 0 || !m.value("legacy", true)) continue;
    auto tok = T5Tokenizer::load(model_dir(label).string());
    EXPECT_EQ(tok.source_kind(), "spiece.model");
    EXPECT_GE(check_model(m, tok), 200) << label;
  }
}

TEST(Tokenizer, MatchesSentencePieceOnPipelineTokenizer) {
  const fs::path dir = fs::path(MF_SHARED_DIR) / "parity/pipeline/tokenizer";
  if (!fs::exists(dir / "spiece.model")) GTEST_SKIP() << "no " << dir;
  auto tok = T5Tokenizer::load(dir.string());
  for (const auto& m : goldens()["models"]) {
    if (m["name"] != "pipeline_tokenizer") continue;
    EXPECT_GE(check_model(m, tok), 200);
    // The ids the official pipeline produced for its (lower-cased) prompts.
    int n = 0;
    for (const auto& o : m["official"]) {
      const auto want = o["official_ids"].get<std::vector<int64_t>>();
      const auto e = tok.encode(o["text"].get<std::string>());
      EXPECT_EQ(e.ids, want) << o["file"] << " " << o["which"];
      for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(e.attention_mask[i], want[i] != 0 || i == 0 ? 1 : 0);
      ++n;
    }
    EXPECT_EQ(n, 30);
  }
}

TEST(Tokenizer, ExtraIdsAndSpecials) {
  auto tok = T5Tokenizer::load(model_dir("tests/fixtures/text/spm_nfkc_unigram").string());
  EXPECT_EQ(tok.vocab_size(), 4000 + 100);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.unk_id(), 2);
  EXPECT_EQ(tok.tokenize("<extra_id_0>"), std::vector<int>{4099});
  EXPECT_EQ(tok.tokenize("<extra_id_99>"), std::vector<int>{4000});
  EXPECT_EQ(tok.id_to_piece(4099), "<extra_id_0>");
  // No truncation / padding when asked.
  mf::text::TokenizerOptions o;
  o.pad = false;
  o.truncate = false;
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  auto e = tok.encode(long_text, o);
  EXPECT_GT(e.ids.size(), 77u);
  EXPECT_EQ(e.ids.back(), 1);
  EXPECT_EQ(tok.encode(long_text).ids.size(), 77u);
  EXPECT_EQ(tok.encode(long_text).ids[76], 1);
}

// The tokenizer.json path: a transformers-style tokenizer.json written from the nfkc fixture model
// (Unigram vocab with scores, Precompiled charsmap in base64, WhitespaceSplit + Metaspace, added tokens)
// must give the slow tokenizer's ids on ordinary text.
TEST(Tokenizer, TokenizerJsonGivesSlowIdsOnOrdinaryText) {
  const fs::path src = model_dir("tests/fixtures/text/spm_nfkc_unigram");
  const std::string bytes = slurp(src / "spiece.model");
  auto proto = mf::text::parse_sentencepiece_proto(bytes, "spiece.model");
  nlohmann::json j;
  nlohmann::json vocab = nlohmann::json::array();
  for (const auto& p : proto.pieces) vocab.push_back({p.piece, p.score});
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string enc;
  const std::string& cm = proto.precompiled_charsmap;
  for (size_t i = 0; i < cm.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(cm[i]) << 16;
    if (i + 1 < cm.size()) v |= static_cast<uint8_t>(cm[i + 1]) << 8;
    if (i + 2 < cm.size()) v |= static_cast<uint8_t>(cm[i + 2]);
    enc += b64[(v >> 18) & 63];
    enc += b64[(v >> 12) & 63];
    enc += i + 1 < cm.size() ? b64[(v >> 6) & 63] : '=';
    enc += i + 2 < cm.size() ? b64[v & 63] : '=';
  }
  nlohmann::json added = nlohmann::json::array();
  added.push_back({{"id", 0}, {"content", "<pad>"}, {"special", true}});
  added.push_back({{"id", 1}, {"content", "</s>"}, {"special", true}});
  added.push_back({{"id", 2}, {"content", "<unk>"}, {"special", true}});
  for (int i = 0; i < 100; ++i)
    added.push_back({{"id", 4000 + 99 - i}, {"content", "<extra_id_" + std::to_string(i) + ">"}, {"special", true},
                     {"lstrip", true}, {"rstrip", true}});
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", enc}};
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "WhitespaceSplit"}},
                          {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}, {"add_prefix_space", true}}}}};
  j["model"] = {{"type", "Unigram"}, {"unk_id", 2}, {"vocab", vocab}};
  const fs::path dir = fs::temp_directory_path() / ("mf_tokjson_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto tok = T5Tokenizer::load(dir.string());
  EXPECT_EQ(tok.source_kind(), "tokenizer.json");
  EXPECT_EQ(tok.tokenize("<extra_id_0>"), std::vector<int>{4099});
  int n = 0;
  for (const auto& m : goldens()["models"]) {
    if (m["name"] != "spm_nfkc_unigram") continue;
    for (const auto& c : m["cases"]) {
      const std::string text = c["text"].get<std::string>();
      bool ordinary = true;  // printable ASCII and Latin letters with accents
      for (unsigned char ch : text) ordinary = ordinary && ch >= 0x20 && ch != 0x7f;
      if (!ordinary) continue;
      auto want = c["input_ids"].get<std::vector<int64_t>>();
      want.resize(77, 0);
      EXPECT_EQ(tok.encode(text).ids, want) << "'" << text << "'";
      ++n;
    }
  }
  EXPECT_GT(n, 100);
  fs::remove_all(dir);
}

TEST(Tokenizer, ErrorsNameTheFile) {
  try {
    T5Tokenizer::load("/nonexistent/tokenizer");
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::MissingModel);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer"), std::string::npos);
  }
  const std::string bytes = slurp(model_dir("tests/fixtures/text/spm_nfkc_unigram/spiece.model"));
  for (size_t cut : {size_t(1), size_t(7), bytes.size() / 2, bytes.size() - 3}) {
    try {
      mf::text::parse_sentencepiece_proto(std::string_view(bytes).substr(0, cut), "cut.model");
      // A cut that lands exactly on a field boundary is a valid (shorter) proto; it must still load
      // or fail cleanly with BadFile.
    } catch (const mf::Error& e) {
      EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
      EXPECT_NE(std::string(e.what()).find("cut.model"), std::string::npos);
    }
  }
  EXPECT_THROW(mf::text::parse_sentencepiece_proto("\xff\xff\xff", "garbage"), mf::Error);
}

TEST(Tokenizer, FingerprintDependsOnModel) {
  auto a = T5Tokenizer::load(model_dir("tests/fixtures/text/spm_nfkc_unigram").string());
  auto b = T5Tokenizer::load(model_dir("tests/fixtures/text/spm_identity_nodummy").string());
  auto a2 = T5Tokenizer::load(model_dir("tests/fixtures/text/spm_nfkc_unigram").string());
  EXPECT_EQ(a.fingerprint().size(), 16u);
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.fingerprint(), a2.fingerprint());
}

// legacy=False in tokenizer_config.json: transformers' non-legacy handling of text after special tokens.
TEST(Tokenizer, NonLegacyMode) {
  int checked = 0;
  for (const auto& m : goldens()["models"]) {
    if (m.value("legacy", true)) continue;
    const fs::path dir = fs::temp_directory_path() / ("mf_tok_nonlegacy_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(model_dir(m["model"].get<std::string>()) / "spiece.model", dir / "spiece.model",
                  fs::copy_options::overwrite_existing);
    std::ofstream(dir / "tokenizer_config.json") << R"({"extra_ids": 100, "legacy": false})";
    auto tok = T5Tokenizer::load(dir.string());
    checked += check_model(m, tok);
    fs::remove_all(dir);
  }
  EXPECT_GE(checked, 200);
}

// Straight from the official pipeline goldens: the tokenizer/ folder, the prompts in each file's metadata
// (lower-cased and stripped as the pipeline's _text_preprocessing does) and out.token_ids_positive/negative.
TEST(Tokenizer, OfficialPipelineGoldensDirectly) {
  const fs::path dir = fs::path(MF_SHARED_DIR) / "parity/pipeline";
  if (!fs::exists(dir / "tokenizer/spiece.model")) GTEST_SKIP() << "no " << dir;
  auto tok = T5Tokenizer::load((dir / "tokenizer").string());
  int checked = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("mfm_pipeline_", 0) != 0 || e.path().extension() != ".safetensors") continue;
    auto file = mf::io::SafetensorsFile::open(e.path().string());
    for (auto [key, tensor] : {std::pair<const char*, const char*>{"prompt", "out.token_ids_positive"},
                               {"negative_prompt", "out.token_ids_negative"}}) {
      auto m = file->metadata().find(key);
      const auto* info = file->find(tensor);
      if (m == file->metadata().end() || !info) continue;
      std::string text = m->second;
      for (char& c : text) {
        ASSERT_LT(static_cast<unsigned char>(c), 0x80) << "non-ASCII prompt: Python's lower() would be needed";
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
      ASSERT_EQ(info->dtype, mf::io::DType::I64);
      ASSERT_EQ(info->numel(), 77u);
      std::vector<int64_t> want(77);
      std::memcpy(want.data(), file->data(*info), 77 * sizeof(int64_t));
      EXPECT_EQ(tok.encode(text).ids, want) << name << " " << key << ": '" << text << "'";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 30);
}

// Bytes that are not valid UTF-8: each bad byte becomes U+FFFD, as sentencepiece does.
TEST(Tokenizer, InvalidUtf8MatchesSentencePiece) {
  int checked = 0;
  for (const auto& m : goldens()["models"]) {
    if (!m.contains("byte_cases")) continue;
    const std::string label = m["model"].get<std::string>();
    const fs::path dir = label.rfind("tests/", 0) == 0 ? model_dir(label) : fs::path(MF_SHARED_DIR) / "parity/pipeline/tokenizer";
    if (!fs::exists(dir / "spiece.model")) continue;
    auto tok = T5Tokenizer::load(dir.string());
    for (const auto& c : m["byte_cases"]) {
      const std::string hex = c["hex"].get<std::string>();
      std::string bytes;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      const auto want = c["sp_ids"].get<std::vector<int>>();
      const auto got = tok.model().encode(bytes);
      EXPECT_EQ(got, want) << m["name"] << " bytes " << hex << ": " << diff(got, want);
      ++checked;
    }
  }
  EXPECT_GE(checked, 300);
}
