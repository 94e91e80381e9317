#!/usr/bin/python3
"""Writes tests/fixtures/text/tokenizer_goldens.json: the ids T5Tokenizer produces for >= 200 prompts,
for several sentencepiece models, computed with the reference library (Debian's python3-sentencepiece).

    /usr/bin/python3 tests/tools/gen_tokenizer_goldens.py [SHARED_DIR]

SHARED_DIR defaults to ../shared next to the repository (for the pipeline goldens' tokenizer).

What is the reference here:
  * `sp_ids`: sentencepiece's own `encode(text)` (SentencePieceProcessor::Encode): normalisation,
    Unigram Viterbi, unknown merging / byte fallback. This is exactly what transformers' slow
    T5Tokenizer calls for text without special tokens.
  * `input_ids`/`attention_mask`: T5Tokenizer(legacy=True)(text, padding="max_length", max_length=77,
    truncation=True). transformers is not installed on this machine, so the few lines of T5Tokenizer
    logic around sentencepiece (split out special tokens such as "</s>" and "<extra_id_N>" - the latter
    strip whitespace on both sides -, encode each chunk with sentencepiece, map pieces with
    piece_to_id, truncate to 76, append EOS unless the ids already end with it, pad with 0) are
    re-implemented below from transformers 4.51's tokenization_t5.py / tokenization_utils.py semantics.
  * `official_ids` (pipeline tokenizer only): the token ids recorded by the official MfM pipeline in
    SHARED_DIR/parity/pipeline/mfm_pipeline_*.safetensors for its lower-cased prompts. The script
    asserts that the re-implementation above reproduces them.
"""
import glob
import json
import os
import random
import struct
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "text")
MAX_LEN = 77

TASKS = {"t2i": "text-to-image", "icolor": "image colorization", "isr": "image super-resolution",
         "iinp": "image inpainting", "ioutp": "image outpainting", "t2v": "text-to-video", "i2v": "image-to-video",
         "vexd": "video extending", "itrans": "image-to-image transition", "vtrans": "video-to-video transition",
         "vedit": "video editing", "vcolor": "video colorization", "vsr": "video super-resolution",
         "vinp": "video inpainting", "voutp": "video outpainting"}
NEGATIVE = ("static, watermark, subtitles, scene change, flickering, distorted, discontinuous, bad anatomy, "
            "bad hands, missing fingers, cropped, ugly, blurry, low resolution, low quality, motionless, cartoon, "
            "animation, oil painting, #reverse, #motion: super-fast, #backplay, human distortion, unnatural movement")
USER_PROMPTS = [
    "A cat walking on the beach at sunset",
    "a red sports car drifting around a corner, smoke everywhere",
    "Two astronauts play chess on the Moon; Earth rises behind them.",
    "Close-up of a hummingbird drinking nectar, 4K, slow motion",
    "An old man (80 years) reads a newspaper in a café in Paris",
    "timelapse: clouds over the Alps -- 10:30 to 18:45",
    "A robot dances to jazz music!!! #funny",
    "Waves crash against the lighthouse [night, storm]",
    "a bowl of ramen with 2 eggs & chopsticks",
    "The quick brown fox jumps over the lazy dog.",
]


def prompt_set():
    p = []
    # MfM prompts exactly as the official driver builds them (user + added prompt + task tag).
    for i, (k, name) in enumerate(TASKS.items()):
        user = USER_PROMPTS[i % len(USER_PROMPTS)]
        added = "#FPS: 16."
        if k in ("icolor", "vcolor"):
            added = "natural, vibrant"
        if k in ("isr", "vsr"):
            added = "clean, extremely detailed, high-resolution, 4k"
        full = f"{user} {added} #task: {name}"
        p += [full, full.lower()]
    p += [NEGATIVE, NEGATIVE.lower(), "over-saturated, grayscale, b&w, color bleeding, plain",
          "blurry, dotted, noise, jpeg compression, raster lines, unclear, lowres, over-smoothed",
          "#fps: 16.", "#task: video inpainting", "#task: text-to-video", "#fps: 16. #task: image-to-video",
          "#FPS:16.#task:vinp", "#motion: super-fast"]
    p += USER_PROMPTS
    # Punctuation and digits.
    p += ["!", "?!?!", "...", "a,b,c", "(parenthesis) [brackets] {braces} <angle>", "\"quoted\" 'single' `back`",
          "semi;colon:colon", "hyphen-ated and under_scored and slash/ed and back\\slash", "@user #tag $100 %50 ^caret &amp *star",
          "~tilde |pipe +plus =equals", "0", "1234567890", "3.14159", "1,000,000", "2024-05-17", "12:30:45",
          "v1.2.3-rc4", "x=1; y=2;", "1st 2nd 3rd 4th", "100% 50/50 1:1 16:9 4k 8K 1080p 60fps",
          "http://example.com/path?q=1&r=2", "user@example.org", "C++ and C# and F#", "--", "- - -", "___",
          "a.b.c.d", "e.g., i.e., etc.", "#", ":", ",", ".", "#fps", "fps: 16"]
    # Unicode: accents, NFKC-changed forms, CJK, emoji, other scripts.
    p += ["café naïve résumé façade coöperate", "ÉCOLE SUPÉRIEURE", "Straße groß", "Crème brûlée à la carte",
          "e\u0301te\u0301 (combining accents)", "Ångström Øresund Æsir œuvre", "ñandú pingüino", "İstanbul ıi",
          "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３！", "ｈｅｌｌｏ　ｗｏｒｌｄ", "①②③ ⑩ ⅳ Ⅻ", "ﬁne ﬂow ﬀ", "½ ¼ ¾ ⅓",
          "x² y³ H₂O", "™ © ® ℃ ℉ №", "…ellipsis…", "“curly quotes” ‘single’ «guillemets»", "en–dash em—dash",
          "㍿ ㌔ ㎏ ㎞", "ｶﾀｶﾅ ﾊﾝｶｸ", "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ﾎﾞｰﾙ", "A\u030angstro\u0308m", "\u1100\u1161\u11a8 jamo", "Ａ", "Ⅸ", "ℌℑℜ", "µ vs μ", "Å vs Å", "ǆ ǅ Ǆ", "ŉ", "ﬃ", "ﷺ",
          "日本語のテキスト", "中文提示词：一只猫在海滩上散步。", "한국어 프롬프트", "漢字かなカナ混じり文",
          "emoji 😀😃😄 🐱🚀 🎬", "👨‍👩‍👧 family", "🇫🇷 flag", "❤️ heart", "thumbs 👍🏽", "⭐✨🌟",
          "Привет мир", "Γειά σου κόσμε", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก",
          "Tiếng Việt có dấu", "ქართული", "Հայերեն", "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "𝟏𝟐𝟑",
          "\u200bzero\u200bwidth\u200b", "soft\u00adhyphen", "nbsp\u00a0here", "thin\u2009space", "ideographic\u3000space",
          "bom\ufeffinside", "replacement \ufffd char", "private \ue000 use", "tab\tand\nnewline\r\nend",
          "vertical\x0btab\x0cfeed", "null\x00byte", "bell\x07char", "del\x7fchar", "\u2028line sep\u2029para"]
    # Whitespace.
    p += ["", " ", "   ", "\t", "\n", "  leading", "trailing  ", "  both  ", "multiple    spaces   here",
          "a  b   c    d", " \t mixed \n whitespace \t ", "\u3000\u3000full-width spaces\u3000", "x"]
    # Special tokens inside text.
    p += ["<extra_id_0>", "hello <extra_id_1> world", "a<extra_id_99>b", "fill <extra_id_0> and <extra_id_1>.",
          "ends with eos </s>", "</s>", "<pad> padded", "<unk>", "text <unk> more", "<extra_id_5>  spaced  <extra_id_6>",
          "not special <extra_id_100> <extra_id_x>", "<s>bos is not special</s>"]
    # Long prompts (truncation at 76 + EOS).
    long_words = ("a cinematic shot of a mountain village at dawn with mist rolling over the rooftops while "
                  "farmers walk to the fields carrying baskets of fresh vegetables and children play near the "
                  "old stone fountain in the square").split()
    p += [" ".join(long_words), " ".join(long_words * 2), " ".join(long_words * 6),
          " ".join(long_words * 3) + " #fps: 16. #task: text-to-video", "word " * 75, "word " * 76, "word " * 77,
          "a" * 500, "ab " * 200, "0123456789" * 30, "日本" * 100, "😀" * 90, ", " * 100]
    # Seeded random prompts mixing vocabulary, punctuation and unicode.
    rng = random.Random(1234)
    vocab = (" ".join(USER_PROMPTS) + " " + NEGATIVE).replace(",", " ").split() + \
        ["café", "ÉCOLE", "１２３", "日本", "😀", "①", "ﬁ", "Straße", "#fps:", "16.", "#task:", "x²", "—", "…"]
    seps = [" ", " ", " ", "  ", ", ", ". ", "-", "\t", ": "]
    for _ in range(110):
        n = rng.randint(1, 40)
        s = ""
        for k in range(n):
            s += rng.choice(vocab)
            if k + 1 < n:
                s += rng.choice(seps)
        if rng.random() < 0.3:
            s = s.upper()
        if rng.random() < 0.2:
            s = "  " + s + "  "
        p.append(s)
    seen, out = set(), []
    for s in p:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def t5_encode(sp, text, extra_ids):
    """T5Tokenizer(legacy=True) with padding='max_length', max_length=77, truncation=True."""
    pad, eos, unk = sp.piece_to_id("<pad>"), sp.piece_to_id("</s>"), sp.piece_to_id("<unk>")
    n = sp.get_piece_size()
    specials = {"<pad>": (pad, False, False), "</s>": (eos, False, False), "<unk>": (unk, False, False)}
    for i in range(extra_ids):
        specials[f"<extra_id_{i}>"] = (n + extra_ids - 1 - i, True, True)
    # Split: leftmost match, longest at the same position.
    parts = []  # (text, special_id or None)
    rest = text
    while rest:
        best = None
        for tok, (tid, ls, rs) in specials.items():
            pos = rest.find(tok)
            if pos >= 0 and (best is None or pos < best[0] or (pos == best[0] and len(tok) > len(best[1]))):
                best = (pos, tok, tid, ls, rs)
        if best is None:
            parts.append((rest, None))
            break
        pos, tok, tid, ls, rs = best
        left = rest[:pos]
        if ls:
            left = left.rstrip()
        parts.append((left, None))
        parts.append((tok, tid))
        rest = rest[pos + len(tok):]
        if rs:
            rest = rest.lstrip()
    ids = []
    for chunk, tid in parts:
        if tid is not None:
            ids.append(tid)
        elif chunk:
            ids += [sp.piece_to_id(piece) for piece in sp.encode(chunk, out_type=str)]
    if len(ids) + 1 > MAX_LEN:
        ids = ids[:MAX_LEN - 1]
    if not ids or ids[-1] != eos:
        ids.append(eos)
    mask = [1] * len(ids) + [0] * (MAX_LEN - len(ids))
    ids = ids + [pad] * (MAX_LEN - len(ids))
    return ids, mask


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def _enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def without_dummy_prefix(model_bytes):
    """The serialized ModelProto with normalizer_spec.add_dummy_prefix = false (what transformers'
    T5Tokenizer(legacy=False).get_spm_processor does with the protobuf classes, done on the wire format:
    a later occurrence of a scalar field overrides an earlier one)."""
    out, i = bytearray(), 0
    while i < len(model_bytes):
        key, j = _varint(model_bytes, i)
        wt = key & 7
        if wt == 0:
            _, j = _varint(model_bytes, j)
            out += model_bytes[i:j]
        elif wt == 5:
            j += 4
            out += model_bytes[i:j]
        elif wt == 1:
            j += 8
            out += model_bytes[i:j]
        elif wt == 2:
            n, k = _varint(model_bytes, j)
            body = model_bytes[k:k + n]
            if key >> 3 == 3:  # normalizer_spec
                body = body + bytes([3 << 3 | 0, 0])
            out += _enc_varint(key) + _enc_varint(len(body)) + body
            j = k + n
        else:
            raise ValueError("unexpected wire type")
        i = j
    return bytes(out)


def t5_encode_nonlegacy(sp_nodummy, text, extra_ids):
    """T5Tokenizer(legacy=False, add_prefix_space=True) as transformers 4.51: spaces for U+2581, a U+2581
    prefix, special tokens split out, chunks that start with a space encoded as "<unk>" + chunk without a
    dummy prefix and the "<unk>" pieces dropped; a lone U+2581 before a leading special token dropped."""
    sp = sp_nodummy
    pad, eos, unk = sp.piece_to_id("<pad>"), sp.piece_to_id("</s>"), sp.piece_to_id("<unk>")
    n = sp.get_piece_size()
    specials = {"<pad>": (pad, False, False), "</s>": (eos, False, False), "<unk>": (unk, False, False)}
    for i in range(extra_ids):
        specials[f"<extra_id_{i}>"] = (n + extra_ids - 1 - i, True, True)
    if text:
        text = "\u2581" + text.replace("\u2581", " ")
    unk_len = len(sp.encode("<unk>"))
    parts, rest = [], text
    while rest:
        best = None
        for tok, (tid, ls, rs) in specials.items():
            pos = rest.find(tok)
            if pos >= 0 and (best is None or pos < best[0] or (pos == best[0] and len(tok) > len(best[1]))):
                best = (pos, tok, tid, ls, rs)
        if best is None:
            parts.append((rest, None))
            break
        pos, tok, tid, ls, rs = best
        left = rest[:pos]
        if ls:
            left = left.rstrip()
        parts.append((left, None))
        parts.append((tok, tid))
        rest = rest[pos + len(tok):]
        if rs:
            rest = rest.lstrip()
    toks = []  # (piece or None, special id or None)
    for chunk, tid in parts:
        if tid is not None:
            toks.append((None, tid))
        elif chunk:
            if not chunk.startswith(("\u2581", " ")):
                pieces = sp.encode(chunk, out_type=str)
            else:
                pieces = sp.encode("<unk>" + chunk, out_type=str)
                pieces = pieces[unk_len:] if len(pieces) >= unk_len else pieces
            toks += [(p, None) for p in pieces]
    if len(toks) > 1 and toks[0][0] == "\u2581" and toks[1][1] is not None:
        toks = toks[1:]
    ids = [tid if tid is not None else sp.piece_to_id(p) for p, tid in toks]
    if len(ids) + 1 > MAX_LEN:
        ids = ids[:MAX_LEN - 1]
    if not ids or ids[-1] != eos:
        ids.append(eos)
    return ids


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data_start = 8 + n
        tensors = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            if k.startswith("out.token_ids"):
                b, e = v["data_offsets"]
                f.seek(data_start + b)
                raw = f.read(e - b)
                assert v["dtype"] == "I64", v["dtype"]
                tensors[k] = list(struct.unpack(f"<{(e - b) // 8}q", raw))
        return header.get("__metadata__", {}), tensors


def byte_strings():
    """Byte strings that are not valid UTF-8 (sentencepiece replaces each bad byte by U+FFFD), plus random
    bytes; only sentencepiece itself can take them (T5Tokenizer needs a str)."""
    fixed = [b"a\xffb", b"\xc3(", b"x\xe2\x82", b"\xf0\x9f\x98", b"\x80\x80abc", b"\xed\xa0\x80 surrogate",
             b"\xc0\xaf overlong", b"\xf4\x90\x80\x80 too big", b"ok \xef\xbf\xbd real U+FFFD", b"\xfe\xfe  \xff"]
    rng = random.Random(99)
    rnd = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) for _ in range(40)]
    rnd += [bytes(rng.choice(b"ab \xc3\xa9\xe2\x96\x81\x80\xff#:.") for _ in range(rng.randint(1, 30))) for _ in range(40)]
    return fixed + rnd


def model_entry(name, model_path, extra_ids, prompts, label):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    byte_cases = [{"hex": b.hex(), "sp_ids": sp.encode(b)} for b in byte_strings()]
    cases = []
    for text in prompts:
        ids, mask = t5_encode(sp, text, extra_ids)
        # input_ids are stored without their padding: the test pads with pad id 0 to 77 and expects the
        # attention mask to be 1 exactly over the stored ids.
        n = sum(mask)
        assert all(i == 0 for i in ids[n:]) and mask == [1] * n + [0] * (MAX_LEN - n)
        case = {"text": text, "sp_ids": sp.encode(text), "input_ids": ids[:n]}
        cases.append(case)
    return {"name": name, "model": label, "extra_ids": extra_ids, "cases": cases, "byte_cases": byte_cases}


def main():
    prompts = prompt_set()
    assert len(prompts) >= 200, len(prompts)
    entries = []
    for name in ("spm_nfkc_unigram", "spm_bytefallback_cf", "spm_identity_nodummy"):
        entries.append(model_entry(name, os.path.join(FIXTURES, name, "spiece.model"), 100, prompts,
                                   f"tests/fixtures/text/{name}"))
    # legacy=False (tokenizer_config "legacy": false) on the nfkc model.
    raw = open(os.path.join(FIXTURES, "spm_nfkc_unigram", "spiece.model"), "rb").read()
    sp_nd = spm.SentencePieceProcessor(model_proto=without_dummy_prefix(raw))
    assert sp_nd.encode("a b", out_type=str)[0] == "a", "add_dummy_prefix was not switched off"
    entries.append({"name": "spm_nfkc_unigram_nonlegacy", "model": "tests/fixtures/text/spm_nfkc_unigram",
                    "extra_ids": 100, "legacy": False,
                    "cases": [{"text": t, "input_ids": t5_encode_nonlegacy(sp_nd, t, 100)} for t in prompts]})
    # The pipeline goldens' tokenizer (extra_ids 0 in its tokenizer_config.json).
    tok_dir = os.path.join(SHARED, "parity", "pipeline", "tokenizer")
    sp = spm.SentencePieceProcessor(model_file=os.path.join(tok_dir, "spiece.model"))
    official = []
    for path in sorted(glob.glob(os.path.join(SHARED, "parity", "pipeline", "mfm_pipeline_*.safetensors"))):
        meta, tensors = read_safetensors(path)
        if "prompt" not in meta:
            continue
        for key, which in (("prompt", "out.token_ids_positive"), ("negative_prompt", "out.token_ids_negative")):
            text = meta[key].lower().strip()  # the pipeline's _text_preprocessing (clean_caption=False)
            ref = tensors[which]
            ids, _ = t5_encode(sp, text, 0)
            assert ids == ref, (path, key, ids, ref)
            official.append({"file": os.path.basename(path), "which": key, "text": text, "official_ids": ref})
    pipe = model_entry("pipeline_tokenizer", os.path.join(tok_dir, "spiece.model"), 0, prompts,
                       "../shared/parity/pipeline/tokenizer")
    pipe["official"] = official
    entries.append(pipe)
    out = {"generator": "tests/tools/gen_tokenizer_goldens.py", "sentencepiece": spm.__version__,
           "max_length": MAX_LEN, "models": entries}
    path = os.path.join(FIXTURES, "tokenizer_goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        # One case per line keeps the file diffable.
        f.write("{\n")
        f.write(f' "generator": {json.dumps(out["generator"])},\n "sentencepiece": {json.dumps(out["sentencepiece"])},\n')
        f.write(f' "max_length": {MAX_LEN},\n "models": [\n')
        for mi, e in enumerate(entries):
            f.write("  {" + f'"name": {json.dumps(e["name"])}, "model": {json.dumps(e["model"])}, '
                    f'"extra_ids": {e["extra_ids"]}, "legacy": {json.dumps(e.get("legacy", True))},\n')
            if "official" in e:
                f.write('   "official": [\n')
                f.write(",\n".join("    " + json.dumps(o, ensure_ascii=True) for o in e["official"]))
                f.write("\n   ],\n")
            if "byte_cases" in e:
                f.write('   "byte_cases": [\n')
                f.write(",\n".join("    " + json.dumps(c, separators=(",", ":")) for c in e["byte_cases"]))
                f.write("\n   ],\n")
            f.write('   "cases": [\n')
            f.write(",\n".join("    " + json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in e["cases"]))
            f.write("\n   ]}" + ("," if mi + 1 < len(entries) else "") + "\n")
        f.write(" ]\n}\n")
    print(f"{len(prompts)} prompts x {len(entries)} models, {len(official)} official pipeline prompts -> {path} "
          f"({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
