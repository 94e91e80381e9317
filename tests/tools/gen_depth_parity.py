#!/usr/bin/env python3
"""Generates the Depth-Anything parity files in tests/fixtures/depth/ from the OFFICIAL transformers code.

What runs where:
- The model math is transformers' own `modeling_dinov2.py` and `modeling_depth_anything.py` (plus its real
  `activations.py` and `modeling_outputs.py`), loaded from a transformers source tree given on the command line
  (`--transformers-src .../src/transformers`, release 4.51.x or a nearby commit: these files did not change in
  ways that matter between 4.50.0.dev0 and 4.51.3). Nothing of transformers is stored in this repository.
- Only the package plumbing those files import (PreTrainedModel, BackboneMixin, docstring decorators, logging,
  the config classes) is replaced by small stand-ins below; they hold no math. The config stand-ins carry the
  defaults of configuration_dinov2.py / configuration_depth_anything.py.
- Preprocessing uses the official `get_resize_output_image_size` (DPT) and `post_process_depth_estimation`,
  extracted from the given tree's `models/dpt/image_processing_dpt.py` with `ast`, PIL (python3-pil) for the
  bicubic resize exactly as `image_transforms.resize` calls it for uint8 input, and the rescale (float64 multiply,
  then float32) and normalise (float32) steps of `image_transforms` written out in numpy (3 lines).

Needs: python3-torch, python3-numpy, python3-pil, python3-packaging (Debian). Runs on CPU in float32.

Usage:
  gen_depth_parity.py --transformers-src /path/to/transformers/src/transformers [--out-dir tests/fixtures/depth]

Files written:
  depth_anything_tiny.safetensors          weights.*, in.pixel_values [1,3,126,182], out.predicted_depth [1,126,182]
  depth_anything_tiny_metric.safetensors   metric head (sigmoid x max_depth), square input on the 9x9 trained grid
                                           (no position interpolation) and a non-square one
  depth_anything_tiny_predict.safetensors  the full depth-estimation pipeline path: in.image_{a,b,c} uint8 [H,W,3]
                                           -> out.depth_{a,b,c} [H,W]; preprocessor config in the metadata
  pil_bicubic.safetensors                  PIL bicubic resizes of uint8 RGB images (in.image_k, out.resized_k)
"""
import argparse
import ast
import importlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import types

import numpy as np
import torch
from PIL import Image

# ----------------------------------------------------------------------------------------------------------------
# Package plumbing stand-ins (no math here).

_STUB_UTILS = r'''
import logging as _logging
from collections import OrderedDict
import torch

class _Logging:
    @staticmethod
    def get_logger(name=None):
        return _logging.getLogger(name)
logging = _Logging()

def is_torch_available():
    return True

def torch_int(x):
    return x.to(torch.int64) if torch.jit.is_tracing() and isinstance(x, torch.Tensor) else int(x)

def _identity_decorator_factory(*args, **kwargs):
    def deco(fn):
        return fn
    return deco

add_code_sample_docstrings = _identity_decorator_factory
add_start_docstrings = _identity_decorator_factory
add_start_docstrings_to_model_forward = _identity_decorator_factory
replace_return_docstrings = _identity_decorator_factory

class ModelOutput(OrderedDict):
    """Attribute access only (the code under test runs with return_dict=True)."""
    def __post_init__(self):
        for k, v in self.__dict__.items():
            if v is not None:
                self[k] = v
'''

_STUB_BACKBONE_UTILS = r'''
import inspect

class BackboneMixin:
    def _init_backbone(self, config):
        self.stage_names = config.stage_names
        self._out_features = config.out_features
        self._out_indices = config.out_indices

    @property
    def out_features(self):
        return self._out_features

    @property
    def out_indices(self):
        return self._out_indices

    def forward_with_filtered_kwargs(self, *args, **kwargs):
        signature = dict(inspect.signature(self.forward).parameters)
        filtered_kwargs = {k: v for k, v in kwargs.items() if k in signature}
        return self(*args, **filtered_kwargs)

def load_backbone(config):
    # transformers resolves backbone_config (model_type "dinov2") through AutoBackbone to Dinov2Backbone.
    from ..models.dinov2.modeling_dinov2 import Dinov2Backbone
    return Dinov2Backbone(config.backbone_config)
'''

_STUB_MODELING_UTILS = r'''
from torch import nn

class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config

    def post_init(self):
        pass  # weights are set explicitly by the generator
'''

_STUB_PYTORCH_UTILS = r'''
def find_pruneable_heads_and_indices(*args, **kwargs):
    raise NotImplementedError

def prune_linear_layer(*args, **kwargs):
    raise NotImplementedError
'''

_STUB_FILE_UTILS = r'''
from .utils import add_start_docstrings, add_start_docstrings_to_model_forward, replace_return_docstrings
'''

_STUB_DINOV2_CONFIG = r'''
class Dinov2Config:
    model_type = "dinov2"
    # Defaults of transformers' configuration_dinov2.py.
    def __init__(self, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, mlp_ratio=4,
                 hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 initializer_range=0.02, layer_norm_eps=1e-6, image_size=224, patch_size=14, num_channels=3,
                 qkv_bias=True, layerscale_value=1.0, drop_path_rate=0.0, use_swiglu_ffn=False,
                 out_features=None, out_indices=None, apply_layernorm=True, reshape_hidden_states=True,
                 use_mask_token=True, **kwargs):
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.mlp_ratio = mlp_ratio
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.qkv_bias = qkv_bias
        self.layerscale_value = layerscale_value
        self.drop_path_rate = drop_path_rate
        self.use_swiglu_ffn = use_swiglu_ffn
        self.stage_names = ["stem"] + [f"stage{i}" for i in range(1, num_hidden_layers + 1)]
        assert out_indices is not None and out_features is None
        self.out_indices = list(out_indices)
        self.out_features = [self.stage_names[i] for i in out_indices]
        self.apply_layernorm = apply_layernorm
        self.reshape_hidden_states = reshape_hidden_states
        self.use_mask_token = use_mask_token
        self._attn_implementation = "eager"
        self.use_return_dict = True
        self.output_hidden_states = False
        self.output_attentions = False
'''

_STUB_DA_CONFIG = r'''
from ..dinov2.configuration_dinov2 import Dinov2Config

class DepthAnythingConfig:
    model_type = "depth_anything"
    # Defaults of transformers' configuration_depth_anything.py.
    def __init__(self, backbone_config=None, patch_size=14, initializer_range=0.02, reassemble_hidden_size=384,
                 reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                 head_in_index=-1, head_hidden_size=32, depth_estimation_type="relative", max_depth=None, **kwargs):
        self.backbone_config = Dinov2Config(**backbone_config)
        self.reassemble_hidden_size = reassemble_hidden_size
        self.patch_size = patch_size
        self.initializer_range = initializer_range
        self.reassemble_factors = reassemble_factors
        self.neck_hidden_sizes = neck_hidden_sizes
        self.fusion_hidden_size = fusion_hidden_size
        self.head_in_index = head_in_index
        self.head_hidden_size = head_hidden_size
        assert depth_estimation_type in ["relative", "metric"]
        self.depth_estimation_type = depth_estimation_type
        self.max_depth = max_depth if max_depth else 1
        self.use_return_dict = True
        self.output_hidden_states = False
        self.output_attentions = False
'''


def build_package(tf_src, root):
    """Lays out a package `transformers` under `root`: official modeling files + plumbing stand-ins."""
    pkg = os.path.join(root, "transformers")

    def write(rel, text):
        path = os.path.join(pkg, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def copy(rel):
        src = os.path.join(tf_src, rel)
        if not os.path.exists(src):
            sys.exit(f"missing {src}: --transformers-src must point at transformers' src/transformers folder")
        dst = os.path.join(pkg, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)

    write("__init__.py", "")
    write("utils/__init__.py", _STUB_UTILS)
    write("utils/backbone_utils.py", _STUB_BACKBONE_UTILS)
    write("modeling_utils.py", _STUB_MODELING_UTILS)
    write("pytorch_utils.py", _STUB_PYTORCH_UTILS)
    write("file_utils.py", _STUB_FILE_UTILS)
    write("models/__init__.py", "")
    write("models/dinov2/__init__.py", "")
    write("models/dinov2/configuration_dinov2.py", _STUB_DINOV2_CONFIG)
    write("models/depth_anything/__init__.py", "")
    write("models/depth_anything/configuration_depth_anything.py", _STUB_DA_CONFIG)
    for rel in ("activations.py", "modeling_outputs.py", "models/dinov2/modeling_dinov2.py",
                "models/depth_anything/modeling_depth_anything.py"):
        copy(rel)


def extract_functions(path, names, namespace):
    """Executes the named top-level functions / class methods of an official file in `namespace`."""
    tree = ast.parse(open(path).read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names and node.name not in found:
            node.decorator_list = []
            node.returns = None
            for a in node.args.args + node.args.kwonlyargs:
                a.annotation = None
            found[node.name] = node
    missing = set(names) - set(found)
    if missing:
        sys.exit(f"{path}: functions not found: {sorted(missing)}")
    module = ast.Module(body=list(found.values()), type_ignores=[])
    exec(compile(module, path, "exec"), namespace)
    return {n: namespace[n] for n in names}


# ----------------------------------------------------------------------------------------------------------------
# Safetensors writer (format: u64 header length, JSON header, raw little-endian data).

_DT = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _DT:
            raise ValueError(f"{name}: dtype {a.dtype}")
        b = a.tobytes()
        header[name] = {"dtype": _DT[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


# ----------------------------------------------------------------------------------------------------------------


def randomize(model, seed):
    """Random weights that keep activations in a sensible range and make every parameter matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lambda1"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith("mask_token"):
                p.copy_(torch.randn(p.shape, generator=g))  # present in the checkpoint, unused at inference
            elif p.dim() <= 3:  # cls_token, position_embeddings
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
        # Keep most of the final ReLU/sigmoid input positive so the outputs are not mostly zeros.
        model.head.conv3.bias.fill_(0.3)


def make_model(tf, config_dict, seed):
    cfg = tf.DepthAnythingConfig(**config_dict)
    model = tf.DepthAnythingForDepthEstimation(cfg).eval()
    randomize(model, seed)
    return model


def state_dict_arrays(model):
    return {f"weights.{k}": v.detach().numpy().copy() for k, v in model.state_dict().items()}


def preprocess(image_u8, pre, fns):
    """DPTImageProcessor (slow) on one uint8 HxWx3 image, as the depth-estimation pipeline calls it."""
    size = (pre["size"]["height"], pre["size"]["width"])
    new_h, new_w = fns["get_resize_output_image_size"](
        image_u8, output_size=size, keep_aspect_ratio=pre["keep_aspect_ratio"], multiple=pre["ensure_multiple_of"],
        input_data_format=None)
    # image_transforms.resize: uint8 array -> PIL (no rescale) -> PIL resize((w, h), resample) -> numpy
    resized = np.array(Image.fromarray(image_u8).resize((new_w, new_h), resample=pre["resample"]))
    # image_transforms.rescale: float64 multiply, then float32; normalize: float32 (x - mean) / std
    x = (resized.astype(np.float64) * pre["rescale_factor"]).astype(np.float32)
    mean = np.array(pre["image_mean"], dtype=np.float32)
    std = np.array(pre["image_std"], dtype=np.float32)
    x = (x - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None], resized


def test_image(h, w, seed):
    """Smooth colour gradients plus noise and a few saturated blocks (exercises PIL's clipping)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / 7.0 + c) * np.cos(yy / 5.0 - c) for c in range(3)], axis=-1)
    img += rng.normal(0, 25, size=img.shape)
    img[h // 4:h // 2, w // 4:w // 2] = [255, 0, 255]
    img[h // 2:h // 2 + 3, :] = 0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transformers-src", required=True,
                    help="path to a transformers source tree's src/transformers folder (4.51.x)")
    ap.add_argument("--reference-label", default="",
                    help="how to name the transformers tree in the files' metadata (default: its __version__)")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "depth"))
    args = ap.parse_args()
    tf_src = os.path.abspath(args.transformers_src)
    out_dir = os.path.abspath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)

    tmp = tempfile.mkdtemp(prefix="mf_depth_ref_")
    try:
        build_package(tf_src, tmp)
        sys.path.insert(0, tmp)
        mda = importlib.import_module("transformers.models.depth_anything.modeling_depth_anything")
        cfg_mod = importlib.import_module("transformers.models.depth_anything.configuration_depth_anything")
        tf = types.SimpleNamespace(DepthAnythingForDepthEstimation=mda.DepthAnythingForDepthEstimation,
                                   DepthAnythingConfig=cfg_mod.DepthAnythingConfig)
        ns = {"math": math, "np": np, "torch": torch,
              "get_image_size": lambda image, channel_dim=None: (image.shape[0], image.shape[1]),
              "requires_backends": lambda *a, **k: None}
        fns = extract_functions(os.path.join(tf_src, "models", "dpt", "image_processing_dpt.py"),
                                ["get_resize_output_image_size", "post_process_depth_estimation"], ns)
        version = "unknown"
        for line in open(os.path.join(tf_src, "__init__.py")):
            if line.startswith("__version__"):
                version = line.split("=", 1)[1].strip().strip('"')
        label = args.reference_label or f"transformers {version}"
        source = (f"{label}: official modeling_depth_anything.py + modeling_dinov2.py (DepthAnythingForDepthEstimation,"
                  f" Dinov2Backbone), torch {torch.__version__}, CPU float32, eager attention; "
                  "tests/tools/gen_depth_parity.py")

        tiny = {
            "backbone_config": {"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 5,
                                "num_attention_heads": 2, "patch_size": 14, "image_size": 518,
                                "out_indices": [1, 2, 4, 5], "apply_layernorm": True,
                                "reshape_hidden_states": False, "layerscale_value": 1.0},
            "patch_size": 14, "reassemble_hidden_size": 32, "reassemble_factors": [4, 2, 1, 0.5],
            "neck_hidden_sizes": [8, 16, 24, 32], "fusion_hidden_size": 16, "head_in_index": -1,
            "head_hidden_size": 8, "depth_estimation_type": "relative", "max_depth": None,
            "model_type": "depth_anything",
        }
        # The released preprocessor_config.json of Depth-Anything-V2-Small-hf.
        pre = {"do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True,
               "ensure_multiple_of": 14, "image_mean": [0.485, 0.456, 0.406],
               "image_processor_type": "DPTImageProcessor", "image_std": [0.229, 0.224, 0.225],
               "keep_aspect_ratio": True, "resample": 3, "rescale_factor": 0.00392156862745098,
               "size": {"height": 518, "width": 518}, "size_divisor": None}

        # --- A: model only, non-square grid 9x13 from the 37x37 trained grid -------------------------------------
        model = make_model(tf, tiny, seed=1)
        g = torch.Generator().manual_seed(11)
        px = torch.randn(1, 3, 126, 182, generator=g)
        with torch.no_grad():
            out = model(pixel_values=px).predicted_depth
        assert (out > 0).float().mean() > 0.5, "too many zeros in the reference output"
        t = state_dict_arrays(model)
        t["in.pixel_values"] = px.numpy()
        t["out.predicted_depth"] = out.numpy()
        save_safetensors(os.path.join(out_dir, "depth_anything_tiny.safetensors"), t,
                         {"config": json.dumps(tiny), "component": "depth", "source": source})

        # --- B: metric head, trained grid 9x9: square input (no interpolation) and a non-square one ---------------
        metric = json.loads(json.dumps(tiny))
        metric["backbone_config"].update({"hidden_size": 16, "num_hidden_layers": 4, "image_size": 126,
                                          "out_indices": [1, 2, 3, 4]})
        metric.update({"reassemble_hidden_size": 16, "neck_hidden_sizes": [4, 8, 12, 16], "fusion_hidden_size": 8,
                       "head_hidden_size": 4, "depth_estimation_type": "metric", "max_depth": 20})
        model = make_model(tf, metric, seed=2)
        t = state_dict_arrays(model)
        for key, (h, w) in {"": (126, 126), "_wide": (70, 168)}.items():
            px = torch.randn(1, 3, h, w, generator=g)
            with torch.no_grad():
                out = model(pixel_values=px).predicted_depth
            t[f"in.pixel_values{key}"] = px.numpy()
            t[f"out.predicted_depth{key}"] = out.numpy()
        save_safetensors(os.path.join(out_dir, "depth_anything_tiny_metric.safetensors"), t,
                         {"config": json.dumps(metric), "component": "depth", "source": source})

        # --- C: the full pipeline path: uint8 image -> DPT preprocessing -> model -> bicubic resize back ----------
        model = make_model(tf, tiny, seed=3)
        t = state_dict_arrays(model)
        sizes = {}
        # a: 176x320 -> 280x518 (the 20x37 grid of a 352x640 frame); b: 74x148 -> 252x518 (259/14 = 18.5 rounds
        # half-to-even to 18); c: 100x100 -> 518x518 (the trained 37x37 grid: no position interpolation).
        for key, (h, w) in {"a": (176, 320), "b": (74, 148), "c": (100, 100)}.items():
            img = test_image(h, w, seed=ord(key))
            px, resized = preprocess(img, pre, fns)
            with torch.no_grad():
                raw = model(pixel_values=px)
            post = fns["post_process_depth_estimation"](None, raw, [(h, w)])[0]["predicted_depth"]
            t[f"in.image_{key}"] = img
            t[f"out.depth_{key}"] = post.numpy().astype(np.float32)
            sizes[key] = {"image": [h, w], "network": list(px.shape[2:])}
        save_safetensors(os.path.join(out_dir, "depth_anything_tiny_predict.safetensors"), t,
                         {"config": json.dumps(tiny), "preprocessor_config": json.dumps(pre), "component": "depth",
                          "sizes": json.dumps(sizes),
                          "source": source + "; DPTImageProcessor path with Pillow " + Image.__version__})

        # --- D: PIL bicubic resizes (up, down, mixed, identity on one axis) --------------------------------------
        t = {}
        cases = [((48, 64), (20, 30)), ((30, 40), (77, 91)), ((37, 53), (101, 19)), ((88, 160), (140, 259)),
                 ((61, 45), (61, 17)), ((25, 33), (9, 33)), ((200, 120), (14, 42))]
        for k, ((h, w), (oh, ow)) in enumerate(cases):
            img = test_image(h, w, seed=100 + k)
            t[f"in.image_{k}"] = img
            t[f"out.resized_{k}"] = np.array(Image.fromarray(img).resize((ow, oh), resample=Image.BICUBIC))
        save_safetensors(os.path.join(out_dir, "pil_bicubic.safetensors"), t,
                         {"component": "pil_bicubic", "cases": json.dumps(cases),
                          "source": f"Pillow {Image.__version__} Image.resize(resample=BICUBIC) on RGB uint8; "
                                    "tests/tools/gen_depth_parity.py"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
