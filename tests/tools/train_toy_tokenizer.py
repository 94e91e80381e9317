#!/usr/bin/python3
"""Trains the built-in (toy) model's T5 tokenizer: a small sentencepiece Unigram model of the toy world's prompts.

Run with Debian's python3 (python3-sentencepiece 0.1.97) after building `manyfold`:
    build/bin/manyfold toy-prompts --count 4000 > /tmp/toy_prompts.txt
    /usr/bin/python3 tests/tools/train_toy_tokenizer.py /tmp/toy_prompts.txt OUT_DIR
OUT_DIR receives spiece.model, tokenizer_config.json and special_tokens_map.json: a T5 tokenizer/ folder with
T5's special-id layout (pad 0, eos 1, unk 2, no BOS). The corpus is the prompts exactly as the pipeline builds
them (caption + added prompt + "#task: ..." and every task's negative prompt), so every word the toy model is
prompted with has its own piece; byte fallback keeps any other text representable. Training is deterministic
for one sentencepiece version; the resulting model is committed with the built-in model.
"""
import json
import os
import sys

import sentencepiece as spm


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: train_toy_tokenizer.py PROMPTS.txt OUT_DIR")
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out, "spiece"), model_type="unigram", vocab_size=1000,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, byte_fallback=True,
        normalization_rule_name="nmt_nfkc", user_defined_symbols=["#fps:", "#task:"],
        input_sentence_size=0, shuffle_input_sentence=False, num_threads=1, hard_vocab_limit=False,
        max_sentence_length=8192)
    os.remove(os.path.join(out, "spiece.vocab"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "T5Tokenizer", "model_max_length": 77, "extra_ids": 0, "eos_token": "</s>",
                   "pad_token": "<pad>", "unk_token": "<unk>", "legacy": True}, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}, f, indent=2)
        f.write("\n")
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spiece.model"))
    longest = 0
    with open(corpus) as f:
        for line in f:
            longest = max(longest, len(sp.encode(line.strip())))
    print(f"vocab {sp.get_piece_size()}, longest prompt {longest} pieces (+ EOS; the pipeline keeps 76)")


if __name__ == "__main__":
    main()
