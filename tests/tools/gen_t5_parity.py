#!/usr/bin/python3
"""Writes the T5 encoder parity files tests/fixtures/text/t5_tiny_*.safetensors.

    /usr/bin/python3 tests/tools/gen_t5_parity.py [OUT_DIR]      (Debian python3-torch, CPU)

IMPORTANT - what the reference is: ../shared/parity has no T5 golden, and transformers is not installed
on this machine (no PyPI; the transformers repository was too large to fetch). The model below is
therefore a SECOND, INDEPENDENT PyTorch implementation of transformers' T5EncoderModel forward pass, written
from its documented math (mfm-reference.md section E.3 and the T5 papers), not the official code:
  * h = embedding(ids) (no sqrt(d_model) scaling); dropout is identity
  * relative position bias from block 0's table only, reused by every layer: rel = key_pos - query_pos,
    bidirectional buckets (half for rel > 0), exact below num_buckets/4, then
    max_exact + trunc(log(n / max_exact) / log(max_distance / max_exact) * (nb - max_exact)), clamped
  * the encoder attention mask (if any) is added to the bias as (1 - mask) * finfo(dtype).min
  * per layer: x + o(softmax_fp32(q k^T + bias) v) on RMS-normed x (no 1/sqrt(d_kv)), then
    x + wo(act(wi_0 x) * wi_1 x) (gated) or x + wo(act(wi x)) on RMS-normed x
  * T5 RMS norm: variance of x in fp32, x * rsqrt(var + eps), cast to the weight dtype if half, * weight
  * gelu_new = 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))); "gated-gelu" means gelu_new
  * final RMS norm
It uses the same operation order and dtypes as transformers 4.51's modeling_t5.py so that a faithful port
matches it to float32 rounding; agreement with the official class itself is asserted by construction, not
by running it. Regenerate with the official T5EncoderModel when transformers is available (same key layout).

Key layout (as ../shared/parity): weights.<T5EncoderModel state_dict key>, in.input_ids [B,S] int64,
in.attention_mask [B,S] int64 (only when the encoder is run with a mask), out.last_hidden_state [B,S,D]
(float32; for bf16 files the bf16 result converted to float32), out.position_bias [1,H,S,S] (block 0's bias
without mask), out.after_layer0 [B,S,D]. Metadata: config (JSON), dtype, use_attention_mask, source.
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "text")


# ---- independent T5 encoder ---------------------------------------------------------------

def rms_norm(x, w, eps):
    var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(var + eps)
    if w.dtype in (torch.float16, torch.bfloat16):
        x = x.to(w.dtype)
    return w * x


def bucket(rel, num_buckets, max_distance):
    nb = num_buckets // 2
    out = (rel > 0).to(torch.long) * nb
    n = torch.abs(rel)
    max_exact = nb // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (nb - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, nb - 1))
    return out + torch.where(is_small, n, large)


def act_fn(name, x):
    if name == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    if name == "silu":
        return torch.nn.functional.silu(x)
    return torch.relu(x)


def t5_encode(W, cfg, ids, mask=None):
    ffp = cfg["feed_forward_proj"]
    gated = ffp.startswith("gated-")
    act = "gelu_new" if ffp == "gated-gelu" else ffp.split("-")[-1]
    eps = cfg["layer_norm_epsilon"]
    H, dk = cfg["num_heads"], cfg["d_kv"]
    emb = W.get("shared.weight", W.get("encoder.embed_tokens.weight"))
    h = torch.nn.functional.embedding(ids, emb)
    B, S = ids.shape
    pos = torch.arange(S, dtype=torch.long)
    rel = pos[None, :] - pos[:, None]
    table = W["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    b = bucket(rel, cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"])
    pos_bias = torch.nn.functional.embedding(b, table).permute([2, 0, 1]).unsqueeze(0)  # [1,H,S,S]
    bias = pos_bias
    if mask is not None:
        m = mask[:, None, None, :].to(h.dtype)
        bias = bias + (1.0 - m) * torch.finfo(h.dtype).min
    after0 = None
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        x = rms_norm(h, W[p + "0.layer_norm.weight"], eps)
        q = (x @ W[p + "0.SelfAttention.q.weight"].t()).view(B, -1, H, dk).transpose(1, 2)
        k = (x @ W[p + "0.SelfAttention.k.weight"].t()).view(B, -1, H, dk).transpose(1, 2)
        v = (x @ W[p + "0.SelfAttention.v.weight"].t()).view(B, -1, H, dk).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(3, 2))
        scores += bias
        a = torch.softmax(scores.float(), dim=-1).type_as(scores)
        o = torch.matmul(a, v).transpose(1, 2).contiguous().view(B, -1, H * dk)
        h = h + o @ W[p + "0.SelfAttention.o.weight"].t()
        x = rms_norm(h, W[p + "1.layer_norm.weight"], eps)
        d = p + "1.DenseReluDense."
        if gated:
            f = act_fn(act, x @ W[d + "wi_0.weight"].t()) * (x @ W[d + "wi_1.weight"].t())
        else:
            f = act_fn(act, x @ W[d + "wi.weight"].t())
        wo = W[d + "wo.weight"]
        if f.dtype != wo.dtype:
            f = f.to(wo.dtype)
        h = h + f @ wo.t()
        if i == 0:
            after0 = h
    return rms_norm(h, W["encoder.final_layer_norm.weight"], eps), pos_bias, after0


# ---- weights and files ----------------------------------------------------------------------

def random_weights(cfg, g, tied_keys):
    D, F, H, dk, V = cfg["d_model"], cfg["d_ff"], cfg["num_heads"], cfg["d_kv"], cfg["vocab_size"]
    inner = H * dk
    gated = cfg["feed_forward_proj"].startswith("gated-")

    def rnd(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    def norm_w():
        return 1.0 + 0.2 * rnd(D)

    W = {}
    emb = rnd(V, D)
    for k in tied_keys:
        W[k] = emb
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        for n in ("q", "k", "v"):
            W[p + f"0.SelfAttention.{n}.weight"] = rnd(inner, D, std=D ** -0.5)
        W[p + "0.SelfAttention.o.weight"] = rnd(D, inner, std=inner ** -0.5)
        if i == 0:
            W[p + "0.SelfAttention.relative_attention_bias.weight"] = rnd(cfg["relative_attention_num_buckets"], H)
        W[p + "0.layer_norm.weight"] = norm_w()
        d = p + "1.DenseReluDense."
        if gated:
            W[d + "wi_0.weight"] = rnd(F, D, std=D ** -0.5)
            W[d + "wi_1.weight"] = rnd(F, D, std=D ** -0.5)
        else:
            W[d + "wi.weight"] = rnd(F, D, std=D ** -0.5)
        W[d + "wo.weight"] = rnd(D, F, std=F ** -0.5)
        W[p + "1.layer_norm.weight"] = norm_w()
    W["encoder.final_layer_norm.weight"] = norm_w()
    return W


DT = {torch.float32: "F32", torch.int64: "I64", torch.bfloat16: "BF16"}


def to_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = to_bytes(tensors[k])
        header[k] = {"dtype": DT[tensors[k].dtype], "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make(name, cfg, dtype, use_mask, tied_keys, seed):
    g = torch.Generator().manual_seed(seed)
    W = random_weights(cfg, g, tied_keys)
    W = {k: v.to(dtype) for k, v in W.items()}
    B, S = 2, 77
    ids = torch.randint(3, cfg["vocab_size"], (B, S), generator=g)
    lengths = [23, 77]  # a short prompt followed by padding, and a full one
    mask = torch.zeros(B, S, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, n - 1] = 1  # EOS
        ids[b, n:] = 0     # pad
        mask[b, :n] = 1
    with torch.no_grad():
        out, pos_bias, after0 = t5_encode(W, cfg, ids, mask if use_mask else None)
    tensors = {f"weights.{k}": v for k, v in W.items()}
    tensors["in.input_ids"] = ids
    if use_mask:
        tensors["in.attention_mask"] = mask
    tensors["out.last_hidden_state"] = out.float()
    tensors["out.position_bias"] = pos_bias.float()
    tensors["out.after_layer0"] = after0.float()
    meta = {"config": json.dumps(cfg), "component": "t5_encoder",
            "dtype": "bfloat16" if dtype == torch.bfloat16 else "float32",
            "use_attention_mask": "true" if use_mask else "false",
            "source": "tests/tools/gen_t5_parity.py: independent PyTorch re-implementation of transformers "
                      f"T5EncoderModel (NOT the official class), torch {torch.__version__}, CPU, seed {seed}"}
    path = os.path.join(OUT, name + ".safetensors")
    save_safetensors(path, tensors, meta)
    print(path, os.path.getsize(path), "bytes", "out norm", float(out.float().norm()))


def main():
    torch.set_num_threads(1)
    base = {"vocab_size": 128, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
            "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
            "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu"}
    # As the MfM pipeline runs it: gated-gelu, no attention mask, both tied embedding names present.
    make("t5_tiny_fp32", base, torch.float32, False, ["shared.weight", "encoder.embed_tokens.weight"], 1)
    # ReLU variant with an attention mask, few buckets and a short max distance (saturated log buckets),
    # 3 layers, only shared.weight stored.
    relu = dict(base, feed_forward_proj="relu", relative_attention_num_buckets=16,
                relative_attention_max_distance=20, num_layers=3, d_kv=6, layer_norm_epsilon=1e-5)
    make("t5_tiny_relu_mask_fp32", relu, torch.float32, True, ["shared.weight"], 2)
    # bf16 as the official pipeline runs it (every weight bf16, wo included); only encoder.embed_tokens stored.
    make("t5_tiny_bf16", base, torch.bfloat16, False, ["encoder.embed_tokens.weight"], 3)


if __name__ == "__main__":
    main()
