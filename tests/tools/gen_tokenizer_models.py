#!/usr/bin/python3
"""Trains the small sentencepiece fixture models used by the tokenizer tests.

Run with Debian's python3 (python3-sentencepiece 0.1.97):
    /usr/bin/python3 tests/tools/gen_tokenizer_models.py [OUT_DIR]
OUT_DIR defaults to tests/fixtures/text. Each model gets a folder that looks like a T5 tokenizer/
folder (spiece.model + tokenizer_config.json) with T5's special-id layout: pad 0, eos 1, unk 2, no BOS.

The corpus is plain text shipped with every Debian system (/usr/share/common-licenses and uncompressed
files under /usr/share/doc), so the models are reproducible in spirit; training is not bit-deterministic
across sentencepiece versions, which is why the resulting .model files are committed.

Models (each exercises a different encoder path):
  spm_nfkc_unigram:   4000 pieces, nmt_nfkc charsmap (like T5's spiece.model); rare characters stay unknown.
  spm_bytefallback_cf: 1200 pieces, byte_fallback, nfkc_cf (case-folding charsmap), user-defined symbols
                       "#fps:" and "#task:", remove_extra_whitespaces off.
  spm_identity_nodummy: 800 pieces, identity normaliser (no charsmap), no dummy prefix, split digits.
"""
import glob
import json
import os
import sys
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "text")


def corpus(path, max_bytes=6_000_000):
    files = sorted(glob.glob("/usr/share/common-licenses/*"))
    for pattern in ("/usr/share/doc/*/copyright", "/usr/share/doc/*/README*", "/usr/share/doc/*/*.txt"):
        files += sorted(glob.glob(pattern))
    total = 0
    with open(path, "w", encoding="utf-8") as out:
        for f in files:
            if not os.path.isfile(f) or f.endswith(".gz"):
                continue
            try:
                text = open(f, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            for line in text.splitlines():
                line = line.strip()
                if line:
                    out.write(line + "\n")
                    total += len(line) + 1
            if total > max_bytes:
                break
    return total


COMMON = dict(model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
              input_sentence_size=200000, shuffle_input_sentence=False, num_threads=2,
              max_sentence_length=8192)

MODELS = {
    "spm_nfkc_unigram": dict(vocab_size=4000, normalization_rule_name="nmt_nfkc", character_coverage=0.9995),
    "spm_bytefallback_cf": dict(vocab_size=1200, normalization_rule_name="nfkc_cf", byte_fallback=True,
                                character_coverage=0.999, user_defined_symbols=["#fps:", "#task:"],
                                remove_extra_whitespaces=False),
    "spm_identity_nodummy": dict(vocab_size=800, normalization_rule_name="identity", add_dummy_prefix=False,
                                 split_digits=True, character_coverage=1.0),
}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "corpus.txt")
        n = corpus(text)
        print(f"corpus: {n} bytes")
        for name, opts in MODELS.items():
            d = os.path.join(OUT, name)
            os.makedirs(d, exist_ok=True)
            prefix = os.path.join(tmp, name)
            spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, **COMMON, **opts)
            os.replace(prefix + ".model", os.path.join(d, "spiece.model"))
            cfg = {"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "eos_token": "</s>", "pad_token": "<pad>",
                   "unk_token": "<unk>", "model_max_length": 512, "legacy": True}
            with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
            print(name, os.path.getsize(os.path.join(d, "spiece.model")), "bytes")


if __name__ == "__main__":
    main()
