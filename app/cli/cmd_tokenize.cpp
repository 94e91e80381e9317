// `manyfold tokenize --tokenizer DIR TEXT...`: T5 token ids and attention mask, one JSON line per text.
#include <iostream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/text/tokenizer.h"

namespace {

int run_tokenize(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"no-pad", "no-truncate", "no-eos"});
  auto unknown = args.unknown({"tokenizer", "max-length", "no-pad", "no-truncate", "no-eos"});
  if (!unknown.empty()) return mf::cli::usage_error("tokenize", "unknown option " + unknown[0]);
  auto dir = args.get("tokenizer");
  if (!dir) return mf::cli::usage_error("tokenize", "needs --tokenizer DIR (the MfM folder's tokenizer/)");
  if (args.positionals().empty()) return mf::cli::usage_error("tokenize", "needs at least one TEXT");
  mf::text::TokenizerOptions o;
  o.max_length = args.get_int("max-length", 77);
  if (o.max_length < 1) return mf::cli::usage_error("tokenize", "--max-length must be >= 1");
  o.pad = !args.has("no-pad");
  o.truncate = !args.has("no-truncate");
  o.add_eos = !args.has("no-eos");
  auto tok = mf::text::T5Tokenizer::load(*dir);
  for (const auto& text : args.positionals()) {
    auto e = tok.encode(text, o);
    nlohmann::json j;
    j["ids"] = e.ids;
    j["attention_mask"] = e.attention_mask;
    std::cout << j.dump() << "\n";
  }
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("tokenize", "T5 token ids and attention mask of prompts, as JSON",
               "manyfold tokenize --tokenizer DIR TEXT... [--max-length N] [--no-pad] [--no-truncate] [--no-eos]\n"
               "  DIR holds spiece.model (or tokenizer.json), e.g. the MfM folder's tokenizer/.\n"
               "  Prints {\"ids\":[...],\"attention_mask\":[...]} per TEXT, one line each, exactly as the\n"
               "  pipeline tokenizes (EOS appended, truncated to 76 + EOS, padded with 0 to 77). The text is\n"
               "  used as given: the pipeline lower-cases prompts before this step.",
               run_tokenize);
