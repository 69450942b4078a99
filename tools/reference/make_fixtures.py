#!/usr/bin/env python3
"""Reference fixture generator for mmd (the correctness oracle).

Writes, under --out (normally tests/fixtures):
  tiny-<format>/                 tiny MiniMax-M2 checkpoints, one folder per on-disk format,
                                 all quantized from the SAME float master weights
  goldens/golden-<format>.safetensors
                                 logits / greedy continuations / per-layer intermediates from the
                                 Hugging Face transformers MiniMaxM2ForCausalLM (float32, eager) run
                                 on the dequantized weights of that format, cross-checked against an
                                 independent numpy forward written from specs/minimax-m2.md §3
  numeric/numeric.safetensors    torch's fp8/bf16/f16 conversions and compressed-tensors' int4 packing
  README.md                      what every file is, how it was made, sizes

Everything is seeded; re-running gives byte-identical files.
Regenerate with:  python tools/reference/make_fixtures.py --out tests/fixtures
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import compressed_tensors
import safetensors
import transformers
from compressed_tensors.compressors.naive_quantized.base import FloatQuantizationCompressor
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32
from compressed_tensors.quantization import (
    QuantizationArgs,
    QuantizationConfig,
    QuantizationScheme,
)
from compressed_tensors.quantization.lifecycle.forward import dequantize, quantize
from compressed_tensors.quantization.utils.helpers import calculate_qparams
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, MiniMaxM2Config, MiniMaxM2ForCausalLM

torch.set_num_threads(1)  # determinism + the build machine is shared

# ----------------------------------------------------------------------------------------------
# Model dimensions (the brief fixes these; every format shares them)
# ----------------------------------------------------------------------------------------------
HIDDEN = 128
INTER = 128
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = 64
ROTARY_DIM = 32
EXPERTS = 8
TOPK = 2
VOCAB = 256
EPS = 1e-6
# rope_theta 1e4 instead of the official 5e6: with rotary_dim 32 the official base leaves most
# frequency pairs almost unrotated over the few dozen positions the fixtures cover, so a RoPE bug
# (wrong pairing, interleaved layout, full-width rotation) would barely move the logits.  With 1e4
# the lowest pair still turns by ~1e-2 rad at position 55 and the first pairs wrap many times.
ROPE_THETA = 10000.0
MAX_POS = 4096
BOS_ID, EOS_ID = 1, 2  # inside the tiny vocab (the real 200034/200020 would be out of range)

SEED = 20261122
PROMPT_LENS = (5, 11, 23)
GREEDY_STEPS = 32
CALIB_PROMPTS = 4  # prompts used to calibrate the FP8 KV scales
CALIB_LEN = 24

LINEAR_STD = 0.08   # -> projections of unit-RMS inputs have std ~0.9
LM_HEAD_STD = 0.15  # -> logits std ~1.7 across the vocab (0.08 gave 0.9: too flat)
EMBED_STD = 1.0
GATE_STD = 0.25     # router logits std ~2.8 -> sigmoid scores spread over (0, 1)
BIAS_STD = 0.15     # big enough to change the selected experts for a fair share of tokens
NORM_GAIN_STD = 0.2  # gains = 1 + 0.2 * randn, so a dropped gain is visible

FORMATS = [
    "tiny-bf16",
    "tiny-fp8",
    "tiny-fp8-w4a16-g32",
    "tiny-fp8-w4a16-g128-kvfp8",
    "tiny-bf16-w4a16-g32-lastbf16",
    "tiny-w4a16-g32-asym-actorder",
    "tiny-w8a8-int8",
]

ATTN_PROJ = ("q_proj", "k_proj", "v_proj", "o_proj")
EXPERT_PROJ = ("w1", "w2", "w3")
FP8_MAX = 448.0

# compressed-tensors target / ignore patterns, in the style of the published MiniMax cards
RE_EXPERTS = r"re:.*block_sparse_moe\.experts\.\d+\.w[123]$"
RE_ATTN = r"re:.*self_attn\.(q|k|v|o)_proj$"
RE_GATE = r"re:.*block_sparse_moe\.gate$"


def linear_names():
    """Official on-disk prefixes of every quantizable Linear, with its kind."""
    out = []
    for L in range(LAYERS):
        for p in ATTN_PROJ:
            out.append((f"model.layers.{L}.self_attn.{p}", "attn", L))
        for e in range(EXPERTS):
            for w in EXPERT_PROJ:
                out.append((f"model.layers.{L}.block_sparse_moe.experts.{e}.{w}", "expert", L))
    return out


# ----------------------------------------------------------------------------------------------
# 1. Float master weights (official names).  BF16 except router gate and routing bias (F32),
#    exactly the dtypes of the official checkpoint (specs/minimax-m2.md §2).
# ----------------------------------------------------------------------------------------------
def make_master() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    def gain(n):
        return (1.0 + NORM_GAIN_STD * randn(n)).to(torch.bfloat16)

    W = {}
    W["model.embed_tokens.weight"] = randn(VOCAB, HIDDEN, std=EMBED_STD).to(torch.bfloat16)
    for L in range(LAYERS):
        p = f"model.layers.{L}"
        W[f"{p}.input_layernorm.weight"] = gain(HIDDEN)
        W[f"{p}.self_attn.q_proj.weight"] = randn(HEADS * HEAD_DIM, HIDDEN, std=LINEAR_STD).to(torch.bfloat16)
        W[f"{p}.self_attn.k_proj.weight"] = randn(KV_HEADS * HEAD_DIM, HIDDEN, std=LINEAR_STD).to(torch.bfloat16)
        W[f"{p}.self_attn.v_proj.weight"] = randn(KV_HEADS * HEAD_DIM, HIDDEN, std=LINEAR_STD).to(torch.bfloat16)
        W[f"{p}.self_attn.o_proj.weight"] = randn(HIDDEN, HEADS * HEAD_DIM, std=LINEAR_STD).to(torch.bfloat16)
        W[f"{p}.self_attn.q_norm.weight"] = gain(HEADS * HEAD_DIM)
        W[f"{p}.self_attn.k_norm.weight"] = gain(KV_HEADS * HEAD_DIM)
        W[f"{p}.post_attention_layernorm.weight"] = gain(HIDDEN)
        W[f"{p}.block_sparse_moe.gate.weight"] = randn(EXPERTS, HIDDEN, std=GATE_STD)  # F32
        W[f"{p}.block_sparse_moe.e_score_correction_bias"] = randn(EXPERTS, std=BIAS_STD)  # F32
        for e in range(EXPERTS):
            q = f"{p}.block_sparse_moe.experts.{e}"
            W[f"{q}.w1.weight"] = randn(INTER, HIDDEN, std=LINEAR_STD).to(torch.bfloat16)
            W[f"{q}.w2.weight"] = randn(HIDDEN, INTER, std=LINEAR_STD).to(torch.bfloat16)
            W[f"{q}.w3.weight"] = randn(INTER, HIDDEN, std=LINEAR_STD).to(torch.bfloat16)
    W["model.norm.weight"] = gain(HIDDEN)
    W["lm_head.weight"] = randn(VOCAB, HIDDEN, std=LM_HEAD_STD).to(torch.bfloat16)
    return W


# ----------------------------------------------------------------------------------------------
# 2. Quantizers.  All start from the bf16 master weight of one Linear ([N, K]).
# ----------------------------------------------------------------------------------------------
def cdiv(a, b):
    return -(-a // b)


def quant_fp8_official(w: torch.Tensor) -> dict[str, torch.Tensor]:
    """Official MiniMax FP8 (quant-formats §2.1): e4m3 codes + F32 128x128 `weight_scale_inv`
    (a dequant multiplier = block amax / 448).  Codes: RNE with saturation (clamp then cast)."""
    N, K = w.shape
    wf = w.float()
    scale = torch.empty(cdiv(N, 128), cdiv(K, 128), dtype=torch.float32)
    codes = torch.empty(N, K, dtype=torch.float8_e4m3fn)
    for bi in range(scale.shape[0]):
        for bj in range(scale.shape[1]):
            blk = wf[bi * 128:(bi + 1) * 128, bj * 128:(bj + 1) * 128]
            s = blk.abs().max() / FP8_MAX
            s = torch.where(s == 0, torch.tensor(1.0), s)  # all-zero block: any scale works
            scale[bi, bj] = s
            codes[bi * 128:(bi + 1) * 128, bj * 128:(bj + 1) * 128] = \
                (blk / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return {"weight": codes, "weight_scale_inv": scale}


def ct_fp8_block_scheme() -> QuantizationScheme:
    # FP8 block weights + dynamic per-token-group FP8 activations, like the published hybrids
    return QuantizationScheme(
        targets=[RE_ATTN],
        weights=QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="block",
                                 block_structure=[128, 128], dynamic=False),
        input_activations=QuantizationArgs(num_bits=8, type="float", symmetric=True,
                                           strategy="group", group_size=128, dynamic=True),
        format="float-quantized",
    )


def ct_w4_scheme(group: int, symmetric: bool = True) -> QuantizationScheme:
    return QuantizationScheme(
        targets=[RE_EXPERTS],
        weights=QuantizationArgs(num_bits=4, type="int", symmetric=symmetric, strategy="group",
                                 group_size=group, dynamic=False),
        format="pack-quantized",
    )


def quant_ct_fp8_block(w: torch.Tensor, scheme: QuantizationScheme) -> dict[str, torch.Tensor]:
    """compressed-tensors float-quantized FP8 block: min/max per 128x128 block (what the min-max
    observer sees), CT's calculate_qparams for the scale (computed in the weight dtype, BF16, as
    llm-compressor does on a BF16 model), CT's compressor for the e4m3 codes."""
    N, K = w.shape
    assert N % 128 == 0 and K % 128 == 0
    blocks = w.reshape(N // 128, 128, K // 128, 128)
    mn = blocks.amin(dim=(1, 3))
    mx = blocks.amax(dim=(1, 3))
    scale, zp = calculate_qparams(mn, mx, scheme.weights)
    out = FloatQuantizationCompressor.compress(
        {"weight": w, "weight_scale": scale, "weight_zero_point": zp}, scheme)
    assert set(out) == {"weight", "weight_scale"}, out.keys()
    assert out["weight"].dtype == torch.float8_e4m3fn and out["weight_scale"].dtype == torch.bfloat16
    return dict(out)


def quant_ct_w4_sym(w: torch.Tensor, scheme: QuantizationScheme) -> dict[str, torch.Tensor]:
    """compressed-tensors pack-quantized W4A16 symmetric group: per-group min/max -> CT
    calculate_qparams (scale = amax / 7.5, BF16) -> CT PackedQuantizationCompressor."""
    N, K = w.shape
    G = scheme.weights.group_size
    grp = w.reshape(N, K // G, G)
    scale, zp = calculate_qparams(grp.amin(dim=-1), grp.amax(dim=-1), scheme.weights)
    out = PackedQuantizationCompressor.compress(
        {"weight": w, "weight_scale": scale, "weight_zero_point": zp}, scheme)
    assert set(out) == {"weight_packed", "weight_scale", "weight_shape"}, out.keys()
    return dict(out)


def quant_ct_w4_asym_actorder(w: torch.Tensor, scheme: QuantizationScheme, perm: torch.Tensor):
    """W4A16 asymmetric group quantization with activation ordering "group" (GPTQ-style g_idx).

    compressed-tensors 0.20 REJECTS actorder="group" in QuantizationArgs (it was removed from the
    library), but published checkpoints still carry it, so we build the layout from CT's own
    primitives: the columns are visited in `perm` order (GPTQ's activation order), consecutive runs
    of G permuted columns form the groups (so g_idx[perm[i]] = i // G), scales/zero points come
    from CT calculate_qparams on those runs, the codes from CT quantize; the codes are then put back
    in the original column order (that is what is on disk) and packed with CT pack_to_int32;
    zero points packed along N (packed_dim=0) exactly as CT's compressor does."""
    N, K = w.shape
    G = scheme.weights.group_size
    wp = w[:, perm]
    grp = wp.reshape(N, K // G, G)
    scale, zp = calculate_qparams(grp.amin(dim=-1), grp.amax(dim=-1), scheme.weights)
    assert zp.dtype == torch.int8
    q_perm = quantize(x=wp, scale=scale, zero_point=zp, args=scheme.weights, dtype=torch.int8)
    q = torch.empty_like(q_perm)
    q[:, perm] = q_perm
    g_idx = torch.empty(K, dtype=torch.int32)
    g_idx[perm] = (torch.arange(K) // G).to(torch.int32)
    return {
        "weight_packed": pack_to_int32(q, 4),
        "weight_scale": scale,
        "weight_zero_point": pack_to_int32(zp, 4, packed_dim=0),
        "weight_shape": torch.tensor([N, K], dtype=torch.int64),
        "weight_g_idx": g_idx,
    }


def quant_int8_per_channel(w: torch.Tensor) -> dict[str, torch.Tensor]:
    """Quark ptpc_int8 weights: per-output-channel symmetric int8, scale = amax/127 (F32, 1-D),
    codes = clamp(rne(w/scale)), zero point I8 zeros (Quark exports it even when symmetric)."""
    wf = w.float()
    s = wf.abs().amax(dim=1) / 127.0
    s = torch.where(s == 0, torch.ones_like(s), s)
    q = torch.round(wf / s[:, None]).clamp(-128, 127).to(torch.int8)
    return {"weight": q, "weight_scale": s, "weight_zero_point": torch.zeros(w.shape[0], dtype=torch.int8)}


# ----------------------------------------------------------------------------------------------
# 3. Per-format checkpoint assembly: tensors + quantization_config
# ----------------------------------------------------------------------------------------------
def ct_config(groups: dict, ignore: list, kv=None) -> dict:
    """Serialize through compressed-tensors' own QuantizationConfig so field names/defaults are
    what CT writes.  Global `format` = mixed-precision when groups differ, else the group format
    (CT's ModelCompressor rule)."""
    fmts = {s.format for s in groups.values()}
    qc = QuantizationConfig(
        config_groups=groups, quant_method="compressed-tensors",
        format="mixed-precision" if len(fmts) > 1 else fmts.pop(),
        quantization_status="compressed", ignore=ignore, kv_cache_scheme=kv)
    d = qc.model_dump()
    d["version"] = compressed_tensors.__version__
    return d


def build_format(fmt: str, master: dict, extra: dict) -> tuple[dict, dict | None]:
    """Returns (tensors on disk, quantization_config or None)."""
    T = {k: v.clone() for k, v in master.items()}

    def replace(prefix, newt):
        del T[prefix + ".weight"]
        for k, v in newt.items():
            T[f"{prefix}.{k}"] = v.contiguous()

    if fmt == "tiny-bf16":
        return T, None

    if fmt == "tiny-fp8":
        for prefix, _, _ in linear_names():
            replace(prefix, quant_fp8_official(master[prefix + ".weight"]))
        return T, {
            "quant_method": "fp8", "fmt": "float8_e4m3fn", "activation_scheme": "dynamic",
            "weight_block_size": [128, 128],
            "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"],
        }

    if fmt in ("tiny-fp8-w4a16-g32", "tiny-fp8-w4a16-g128-kvfp8"):
        G = 32 if "g32" in fmt else 128
        s_exp, s_att = ct_w4_scheme(G), ct_fp8_block_scheme()
        for prefix, kind, _ in linear_names():
            w = master[prefix + ".weight"]
            replace(prefix, quant_ct_w4_sym(w, s_exp) if kind == "expert" else quant_ct_fp8_block(w, s_att))
        kv = None
        if fmt.endswith("kvfp8"):
            kv = QuantizationArgs(num_bits=8, type="float", symmetric=True, strategy="tensor", dynamic=False)
            for L in range(LAYERS):  # calibrated scales are filled in by the caller (need a forward)
                T[f"model.layers.{L}.self_attn.k_scale"] = extra["k_scale"][L]
                T[f"model.layers.{L}.self_attn.v_scale"] = extra["v_scale"][L]
        return T, ct_config({"group_0": s_exp, "group_1": s_att}, ["lm_head", RE_GATE], kv)

    if fmt == "tiny-bf16-w4a16-g32-lastbf16":
        s_exp = ct_w4_scheme(32)
        last = LAYERS - 1
        for prefix, kind, L in linear_names():
            if kind == "expert" and L != last:
                replace(prefix, quant_ct_w4_sym(master[prefix + ".weight"], s_exp))
        ignore = ["lm_head", RE_GATE, rf"re:model\.layers\.{last}\.block_sparse_moe\.experts\..*"]
        return T, ct_config({"group_0": s_exp}, ignore)

    if fmt == "tiny-w4a16-g32-asym-actorder":
        s_exp = ct_w4_scheme(32, symmetric=False)
        g = torch.Generator().manual_seed(SEED + 7)
        for prefix, kind, _ in linear_names():
            if kind == "expert":
                w = master[prefix + ".weight"]
                perm = torch.randperm(w.shape[1], generator=g)  # stands in for GPTQ's H-diag order
                replace(prefix, quant_ct_w4_asym_actorder(w, s_exp, perm))
        qc = ct_config({"group_0": s_exp}, ["lm_head", RE_GATE])
        # CT 0.20 cannot express it (see quant_ct_w4_asym_actorder); published configs say "group"
        qc["config_groups"]["group_0"]["weights"]["actorder"] = "group"
        return T, qc

    if fmt == "tiny-w8a8-int8":
        # keys as in quant-formats §2.3 (what vLLM's QuarkConfig reads); int8 done with torch, since
        # per-channel symmetric RNE int8 is a one-liner and amd-quark is not in the venv
        for prefix, _, _ in linear_names():
            replace(prefix, quant_int8_per_channel(master[prefix + ".weight"]))
        spec_w = {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 0, "symmetric": True,
                  "is_dynamic": False, "group_size": None, "round_method": "half_even",
                  "scale_type": "float"}
        spec_a = {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 1, "symmetric": True,
                  "is_dynamic": True, "group_size": None, "round_method": "half_even",
                  "scale_type": "float"}
        return T, {
            "quant_method": "quark",
            "global_quant_config": {"weight": spec_w, "input_tensors": spec_a,
                                    "output_tensors": None, "bias": None},
            "layer_quant_config": {}, "layer_type_quant_config": {}, "kv_cache_quant_config": {},
            "exclude": ["lm_head", RE_GATE],
            "export": {"kv_cache_group": [], "pack_method": "reorder",
                       "weight_format": "real_quantized", "min_kv_scale": 0.0,
                       "weight_merge_groups": None},
            "quant_mode": "eager_mode", "version": "0.11.1",  # Quark version of the published card
        }
    raise ValueError(fmt)


def official_config(qc: dict | None) -> dict:
    """config.json shaped like the official MiniMax-M2 one (specs/minimax-m2.md §1.1)."""
    c = {
        "architectures": ["MiniMaxM2ForCausalLM"],
        "attn_type_list": [1] * LAYERS,
        "auto_map": {
            "AutoConfig": "configuration_minimax_m2.MiniMaxM2Config",
            "AutoModelForCausalLM": "modeling_minimax_m2.MiniMaxM2ForCausalLM",
        },
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "max_position_embeddings": MAX_POS,
        "model_type": "minimax_m2",
        "mtp_transformer_layers": 1,
        "num_attention_heads": HEADS,
        "num_experts_per_tok": TOPK,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "num_local_experts": EXPERTS,
        "num_mtp_modules": 0,
        "qk_norm_type": "per_layer",
        "rms_norm_eps": EPS,
        "rope_theta": ROPE_THETA,
        "rotary_dim": ROTARY_DIM,
        "scoring_func": "sigmoid",
        "shared_intermediate_size": 0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.1",  # the value the official release carries
        "use_cache": True,
        "use_mtp": False,
        "use_qk_norm": True,
        "use_routing_bias": True,
        "vocab_size": VOCAB,
    }
    if qc is not None:
        c["quantization_config"] = qc
    return c


def dump_json(obj, path: Path):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_checkpoint(folder: Path, fmt: str, T: dict, qc: dict | None):
    folder.mkdir(parents=True, exist_ok=True)
    dump_json(official_config(qc), folder / "config.json")
    dump_json({"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "do_sample": True, "temperature": 1.0,
               "top_p": 0.95, "top_k": 40, "transformers_version": "4.46.1"},
              folder / "generation_config.json")
    meta = {"format": "pt"}
    if fmt != "tiny-fp8":
        save_file(T, str(folder / "model.safetensors"), metadata=meta)
        return
    # Official release layout: zero-based shard numbers and an "of" count that is NOT the file
    # count (the real one is model-00000-of-00130 ... model-00124-of-00130), plus the index.
    shards = {"model-00000-of-00003.safetensors": {}, "model-00001-of-00003.safetensors": {}}
    names = list(shards)
    for k, v in T.items():
        # embeddings + layer 0 in the first file, layer 1 + final norm + lm_head in the second
        first = k.startswith("model.embed_tokens") or k.startswith("model.layers.0.")
        shards[names[0] if first else names[1]][k] = v
    weight_map, total = {}, 0
    for fn, part in shards.items():
        save_file(part, str(folder / fn), metadata=meta)
        for k, v in part.items():
            weight_map[k] = fn
            total += v.numel() * v.element_size()
    dump_json({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
              folder / "model.safetensors.index.json")


def read_checkpoint(folder: Path) -> dict[str, torch.Tensor]:
    """Read back what is on disk (through the index when sharded)."""
    idx = folder / "model.safetensors.index.json"
    if idx.exists():
        wm = json.loads(idx.read_text())["weight_map"]
        out = {}
        for fn in sorted(set(wm.values())):
            part = load_file(str(folder / fn))
            assert set(part) == {k for k, f in wm.items() if f == fn}, "index/shard mismatch"
            out.update(part)
        return out
    return load_file(str(folder / "model.safetensors"))


# ----------------------------------------------------------------------------------------------
# 4. Dequantization of what is on disk -> float32 weights under official names
# ----------------------------------------------------------------------------------------------
def dequant_checkpoint(T: dict, qc: dict | None) -> dict[str, torch.Tensor]:
    """The golden is computed on these.  Products code x scale are formed in float32 (exact: a
    4-bit/8-bit code times a BF16/F32 scale fits in f32), i.e. what a C++ loader should do.
    compressed-tensors' decompress is used for the CT formats, fed with the scale upcast to f32
    (with the BF16 scale it would round the product back to BF16)."""
    F = {}
    prefixes = {k.rsplit(".", 1)[0] for k in T if k.endswith((".weight", ".weight_packed"))}
    groups = (qc or {}).get("config_groups", {})
    for prefix in sorted(prefixes):
        if prefix + ".weight_scale_inv" in T:  # official FP8
            q, s = T[prefix + ".weight"], T[prefix + ".weight_scale_inv"]
            assert q.dtype == torch.float8_e4m3fn and s.dtype == torch.float32
            full = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[: q.shape[0], : q.shape[1]]
            F[prefix + ".weight"] = q.float() * full
        elif prefix + ".weight_packed" in T:  # CT pack-quantized int4
            wargs = dict(groups["group_0"]["weights"])
            actorder = wargs.pop("actorder", None)
            scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**wargs),
                                        format="pack-quantized")
            sd = {k: T[f"{prefix}.{k}"] for k in ("weight_packed", "weight_shape", "weight_zero_point")
                  if f"{prefix}.{k}" in T}
            sd["weight_scale"] = T[prefix + ".weight_scale"].float()
            if actorder == "group":
                F[prefix + ".weight"] = dequant_actorder(sd, T[prefix + ".weight_g_idx"], scheme)
            else:
                F[prefix + ".weight"] = PackedQuantizationCompressor.decompress(sd, scheme)["weight"]
        elif T[prefix + ".weight"].dtype == torch.float8_e4m3fn:  # CT float-quantized
            scheme = ct_fp8_block_scheme()
            sd = {"weight": T[prefix + ".weight"], "weight_scale": T[prefix + ".weight_scale"].float()}
            F[prefix + ".weight"] = FloatQuantizationCompressor.decompress(sd, scheme)["weight"]
        elif T[prefix + ".weight"].dtype == torch.int8:  # Quark int8 per channel
            assert torch.all(T[prefix + ".weight_zero_point"] == 0)
            F[prefix + ".weight"] = T[prefix + ".weight"].float() * T[prefix + ".weight_scale"][:, None]
        else:
            F[prefix + ".weight"] = T[prefix + ".weight"].float()
        assert F[prefix + ".weight"].dtype == torch.float32
    for k, v in T.items():  # biases, k/v scales
        if not k.rsplit(".", 1)[0] in prefixes:
            F[k] = v.float()
    return F


def dequant_actorder(sd: dict, g_idx: torch.Tensor, scheme: QuantizationScheme) -> torch.Tensor:
    """CT 0.20 has no g_idx path any more: unpack with CT, gather each group's columns into a
    contiguous run (stable sort of g_idx), CT-dequantize as plain groups, scatter back."""
    N, K = [int(x) for x in sd["weight_shape"]]
    G = scheme.weights.group_size
    q = unpack_from_int32(sd["weight_packed"], 4, torch.Size([N, K]))
    zp = unpack_from_int32(sd["weight_zero_point"], 4, torch.Size([N, K // G]), packed_dim=0)
    order = torch.argsort(g_idx.long(), stable=True)
    assert torch.equal(g_idx[order].long(), torch.arange(K) // G), "g_idx groups must have G columns"
    wp = dequantize(x_q=q[:, order], scale=sd["weight_scale"], zero_point=zp, args=scheme.weights)
    w = torch.empty_like(wp)
    w[:, order] = wp
    return w


def numpy_dequant_check(T: dict, F: dict):
    """Independent numpy decoding of the int4 layouts straight from quant-formats §2.2.3 (nibble
    k%8 of word k/8, +8 offset, zero points packed down N, g_idx column->group) compared
    bit-exactly with compressed-tensors' result."""
    n = 0
    for k in T:
        if not k.endswith(".weight_packed"):
            continue
        p = k[: -len(".weight_packed")]
        N, K = T[p + ".weight_shape"].tolist()
        b = T[k].numpy().view(np.uint8).reshape(N, -1)  # little-endian words -> bytes
        u = np.stack([b & 0xF, b >> 4], axis=-1).reshape(N, -1)[:, :K].astype(np.int32)
        s = T[p + ".weight_scale"].float().numpy()
        G = K // s.shape[1]
        gi = T[p + ".weight_g_idx"].numpy() if p + ".weight_g_idx" in T else np.arange(K) // G
        if p + ".weight_zero_point" in T:
            zw = T[p + ".weight_zero_point"].numpy().view(np.uint32)  # [N/8, ngroups]
            zn = np.stack([(zw >> (4 * j)) & 0xF for j in range(8)], axis=1)  # [N/8, 8, ngroups]
            zp = zn.reshape(-1, zw.shape[1])[:N].astype(np.int32) - 8
        else:
            zp = np.zeros_like(s, dtype=np.int32)
        w = ((u - 8) - zp[:, gi]).astype(np.float32) * s[:, gi]
        assert np.array_equal(w, F[p + ".weight"].numpy()), f"int4 decode mismatch at {p}"
        n += 1
    return n


# ----------------------------------------------------------------------------------------------
# 5. Hugging Face reference model
# ----------------------------------------------------------------------------------------------
def hf_config_from_disk(folder: Path) -> MiniMaxM2Config:
    """Build the transformers config from the fixture's own config.json (the legacy official keys:
    rotary_dim, rope_theta).  transformers 5.23's MiniMaxM2Config maps rotary_dim -> 
    rope_parameters.partial_rotary_factor = rotary_dim/head_dim; we assert it did."""
    d = json.loads((folder / "config.json").read_text())
    d.pop("quantization_config", None)  # we feed dequantized weights ourselves
    d.pop("auto_map", None)
    d.update(bos_token_id=BOS_ID, eos_token_id=EOS_ID)
    cfg = MiniMaxM2Config.from_dict(d)
    rp = cfg.rope_parameters
    assert rp["rope_type"] == "default" and rp["rope_theta"] == ROPE_THETA, rp
    assert abs(rp.get("partial_rotary_factor", 1.0) - ROTARY_DIM / HEAD_DIM) < 1e-12, rp
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"  # default would be grouped_mm
    return cfg


def hf_state_dict(F: dict) -> dict[str, torch.Tensor]:
    """Official on-disk names -> transformers v5 module names (experts fused, router renamed)."""
    sd = {}
    for k, v in F.items():
        if ".block_sparse_moe." in k or k.endswith(("k_scale", "v_scale")):
            continue
        sd[k] = v
    for L in range(LAYERS):
        p, m = f"model.layers.{L}.block_sparse_moe", f"model.layers.{L}.mlp"
        sd[f"{m}.gate.weight"] = F[f"{p}.gate.weight"]
        sd[f"{m}.e_score_correction_bias"] = F[f"{p}.e_score_correction_bias"]
        # gate_up_proj[e] = [w1 (gate) rows ; w3 (up) rows]; down_proj[e] = w2
        sd[f"{m}.experts.gate_up_proj"] = torch.stack(
            [torch.cat([F[f"{p}.experts.{e}.w1.weight"], F[f"{p}.experts.{e}.w3.weight"]], 0)
             for e in range(EXPERTS)])
        sd[f"{m}.experts.down_proj"] = torch.stack(
            [F[f"{p}.experts.{e}.w2.weight"] for e in range(EXPERTS)])
    return sd


def build_hf(folder: Path, F: dict) -> MiniMaxM2ForCausalLM:
    cfg = hf_config_from_disk(folder)
    torch.manual_seed(0)
    model = MiniMaxM2ForCausalLM(cfg).float().eval()
    assert model.config._experts_implementation == "eager"
    assert model.model.rotary_emb.inv_freq.numel() == ROTARY_DIM // 2
    assert model.model.layers[0].self_attn.q_norm.weight.numel() == HEADS * HEAD_DIM  # full width
    missing, unexpected = model.load_state_dict(hf_state_dict(F), strict=False)
    assert not unexpected and all("rotary_emb" in m for m in missing), (missing, unexpected)
    return model


@torch.no_grad()
def hf_logits(model, ids: list[int]) -> np.ndarray:
    out = model(torch.tensor([ids]), use_cache=False)
    return out.logits[0].float().numpy()


@torch.no_grad()
def hf_greedy(model, ids: list[int], steps: int):
    """Greedy continuation by full recomputation each step (no cache, no EOS stop)."""
    seq, toks, margins = list(ids), [], []
    for _ in range(steps):
        last = hf_logits(model, seq)[-1]
        order = np.argsort(-last, kind="stable")
        toks.append(int(order[0]))
        margins.append(float(last[order[0]] - last[order[1]]))
        seq.append(int(order[0]))
    return np.array(toks, np.int32), np.array(margins, np.float32), seq


@torch.no_grad()
def hf_intermediates(model, ids: list[int]) -> dict[str, np.ndarray]:
    rec, hooks = {}, []

    def hook(name, pick=lambda o: o):
        def fn(_m, _i, o):
            rec[name] = pick(o).detach().reshape(-1, pick(o).shape[-1]).float().numpy().copy()
        return fn

    mm = model.model
    hooks.append(mm.embed_tokens.register_forward_hook(hook("hidden.embed")))
    for L, layer in enumerate(mm.layers):
        hooks += [
            layer.input_layernorm.register_forward_hook(hook(f"hidden.layer.{L}.attn_norm")),
            layer.self_attn.o_proj.register_forward_hook(hook(f"hidden.layer.{L}.attn_out")),
            layer.post_attention_layernorm.register_forward_hook(hook(f"hidden.layer.{L}.moe_norm")),
            layer.mlp.gate.register_forward_hook(hook(f"hidden.layer.{L}.router_logits", lambda o: o[0])),
            layer.mlp.register_forward_hook(hook(f"hidden.layer.{L}.moe_out")),
            layer.register_forward_hook(hook(f"hidden.layer.{L}.out",
                                             lambda o: o[0] if isinstance(o, tuple) else o)),
        ]
    hooks.append(mm.norm.register_forward_hook(hook("hidden.final_norm")))
    model(torch.tensor([ids]), use_cache=False)
    for h in hooks:
        h.remove()
    return rec


@torch.no_grad()
def hf_kv(model, ids: list[int]):
    """Keys (after q/k-norm and RoPE) and values as the KV cache stores them."""
    out = model(torch.tensor([ids]), use_cache=True)
    cache = out.past_key_values
    return [(cache.layers[L].keys[0].numpy(), cache.layers[L].values[0].numpy()) for L in range(LAYERS)]


# ----------------------------------------------------------------------------------------------
# 6. Independent numpy forward (specs/minimax-m2.md §3), float64
# ----------------------------------------------------------------------------------------------
def fp8_e4m3_roundtrip_f32(x: np.ndarray) -> np.ndarray:
    """sat_fp8: RNE to e4m3fn with saturation to +-448 (conversion done by torch)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return t.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).float().numpy()


class NumpyMiniMaxM2:
    def __init__(self, F: dict, int8_codes: dict | None = None, kv_scales: dict | None = None):
        self.W = {k: v.double().numpy() for k, v in F.items()}
        self.int8 = int8_codes  # prefix -> (q int8 [N,K], sw f32 [N]) for the W8A8 emulation
        self.kv = kv_scales     # layer -> (k_scale f32, v_scale f32) for the FP8 KV emulation
        half = ROTARY_DIM // 2
        self.inv_freq = (1.0 / (ROPE_THETA ** (np.arange(half, dtype=np.float64) * 2 / ROTARY_DIM)))

    @staticmethod
    def rms(x, g):
        return g * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS))

    def lin(self, x, prefix):
        if self.int8 is not None and prefix in self.int8:
            # per-token dynamic int8 activations (quant-formats §2.3): sa = amax/127,
            # xq = clamp(rne(x * (127/amax))), exact integer dot, * sa * sw, all scalars in f32
            q, sw = self.int8[prefix]
            x32 = x.astype(np.float32)
            amax = np.abs(x32).max(axis=-1, keepdims=True)
            safe = np.where(amax == 0, np.float32(1), amax)
            inv = np.float32(127) / safe
            sa = np.where(amax == 0, np.float32(1), safe / np.float32(127))
            xq = np.clip(np.rint(x32 * inv), -128, 127).astype(np.int64)
            xq[(amax == 0)[:, 0]] = 0
            acc = xq @ q.astype(np.int64).T
            return ((acc.astype(np.float32) * sa) * sw[None, :]).astype(np.float64)
        return x @ self.W[prefix + ".weight"].T

    def rope(self, x, T):  # x [T, H, D]; NeoX pairs (i, i+16) on the first 32 dims
        ang = np.arange(T, dtype=np.float64)[:, None] * self.inv_freq[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        half = ROTARY_DIM // 2
        a, b = x[..., :half], x[..., half:ROTARY_DIM]
        out = x.copy()
        out[..., :half] = a * c - b * s
        out[..., half:ROTARY_DIM] = b * c + a * s
        return out

    def forward(self, ids, capture: dict | None = None):
        W, T = self.W, len(ids)
        cap = capture if capture is not None else {}
        x = W["model.embed_tokens.weight"][np.asarray(ids)]
        cap["hidden.embed"] = x
        mask = np.triu(np.ones((T, T), bool), 1)
        for L in range(LAYERS):
            p = f"model.layers.{L}"
            h = self.rms(x, W[f"{p}.input_layernorm.weight"])
            cap[f"hidden.layer.{L}.attn_norm"] = h
            q = self.rms(self.lin(h, f"{p}.self_attn.q_proj"), W[f"{p}.self_attn.q_norm.weight"])
            k = self.rms(self.lin(h, f"{p}.self_attn.k_proj"), W[f"{p}.self_attn.k_norm.weight"])
            v = self.lin(h, f"{p}.self_attn.v_proj")
            q = self.rope(q.reshape(T, HEADS, HEAD_DIM), T)
            k = self.rope(k.reshape(T, KV_HEADS, HEAD_DIM), T)
            v = v.reshape(T, KV_HEADS, HEAD_DIM)
            cap[f"kv.{L}.k"], cap[f"kv.{L}.v"] = k, v
            if self.kv is not None:  # FP8 KV cache: store sat(K/ks) in e4m3, read back * ks
                ks, vs = self.kv[L]
                k = fp8_e4m3_roundtrip_f32(k.astype(np.float32) / ks).astype(np.float64) * float(ks)
                v = fp8_e4m3_roundtrip_f32(v.astype(np.float32) / vs).astype(np.float64) * float(vs)
            att = np.empty((T, HEADS, HEAD_DIM))
            grp = HEADS // KV_HEADS
            for hh in range(HEADS):
                kv_h = hh // grp  # GQA: q heads [0,grp) -> kv head 0, ...
                sc = q[:, hh, :] @ k[:, kv_h, :].T / np.sqrt(HEAD_DIM)
                sc[mask] = -np.inf
                sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
                sc /= sc.sum(axis=-1, keepdims=True)
                att[:, hh, :] = sc @ v[:, kv_h, :]
            o = self.lin(att.reshape(T, HEADS * HEAD_DIM), f"{p}.self_attn.o_proj")
            cap[f"hidden.layer.{L}.attn_out"] = o
            x = x + o
            g = self.rms(x, W[f"{p}.post_attention_layernorm.weight"])
            cap[f"hidden.layer.{L}.moe_norm"] = g
            logits = g @ W[f"{p}.block_sparse_moe.gate.weight"].T
            cap[f"hidden.layer.{L}.router_logits"] = logits
            s = 1.0 / (1.0 + np.exp(-logits))
            key = s + W[f"{p}.block_sparse_moe.e_score_correction_bias"][None, :]
            y = np.zeros_like(g)
            sel_all = []
            for t in range(T):
                sel = np.argsort(-key[t], kind="stable")[:TOPK]  # bias only for the choice
                sel_all.append(sorted(sel.tolist()))
                wts = s[t, sel] / s[t, sel].sum()                # unbiased, renormalised
                for wi, e in zip(wts, sel):
                    ep = f"{p}.block_sparse_moe.experts.{e}"
                    a = self.lin(g[t:t + 1], f"{ep}.w1")
                    b = self.lin(g[t:t + 1], f"{ep}.w3")
                    y[t] += wi * self.lin((a / (1.0 + np.exp(-a))) * b, f"{ep}.w2")[0]
            cap[f"sel.{L}"] = sel_all
            srt = -np.sort(-key, axis=-1)
            cap[f"route_gaps.{L}"] = srt[:, TOPK - 1] - srt[:, TOPK]  # near-tie check per token
            cap[f"route_gap.{L}"] = float(cap[f"route_gaps.{L}"].min())
            cap[f"sel_nobias.{L}"] = [sorted(np.argsort(-s[t], kind="stable")[:TOPK].tolist()) for t in range(T)]
            cap[f"hidden.layer.{L}.moe_out"] = y
            x = x + y
            cap[f"hidden.layer.{L}.out"] = x
        x = self.rms(x, W["model.norm.weight"])
        cap["hidden.final_norm"] = x
        return x @ W["lm_head.weight"].T


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# ----------------------------------------------------------------------------------------------
# 7. Numeric conversion fixture
# ----------------------------------------------------------------------------------------------
def f32_from_bits(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def numeric_fixture() -> dict[str, torch.Tensor]:
    e4 = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(torch.float8_e4m3fn).float()
    e5 = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(torch.float8_e5m2).float()
    parts = [e4.numpy(), e5.numpy()]
    for table in (e4.numpy(), e5.numpy()):  # midpoints of neighbours: the RNE ties
        fin = np.unique(table[np.isfinite(table)].astype(np.float64))
        mids = (fin[:-1] + fin[1:]) / 2
        parts.append(mids.astype(np.float32))
        assert np.array_equal(mids.astype(np.float32).astype(np.float64), mids)  # exact in f32
    special = [448, -448, 449, 450, 455.99, 456, 460, 463.99, 464, -464, 464.01, 470, 479.99, 480, -480,
               481, 500, 512, 1000, 57343, 57344, -57344, 57345, 59000, 61439, 61440, -61440, 61441,
               65504, 65519, 65520, -65520, 65536, 1e5, 1e6, 1e10, 1e30, 3.4e38, -3.4e38,
               np.inf, -np.inf, np.nan, 0.0, -0.0]
    parts.append(np.array(special, np.float32))
    # the canonical NaN plus a negative and a payload NaN
    parts.append(f32_from_bits([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF]))
    # subnormal / normal boundaries of e4m3 (2^-9, 2^-6), e5m2 (2^-16, 2^-14),
    # f16 (2^-24, 2^-14), bf16 (2^-133, 2^-126); each with half, 1.5x, and f32 neighbours
    for e in (-9, -10, -6, -7, -16, -17, -14, -15, -24, -25, -133, -134, -126, -127, -149):
        v = np.float32(2.0 ** e)
        for m in (v, v * np.float32(0.5), v * np.float32(1.5), v * np.float32(0.75),
                  np.nextafter(v, np.float32(0)), np.nextafter(v, np.float32(np.inf))):
            parts.append(np.array([m, -m], np.float32))
    # bf16 ties: low 16 bits exactly 0x8000 with even and odd upper halves, and neighbours
    uppers = [0x3F80, 0x3F81, 0x4000, 0x4001, 0x7F7F, 0x7F7E, 0x0000, 0x0001, 0x0080, 0x0081,
              0xBF80, 0xBF81, 0x447F, 0x4480]
    for u in uppers:
        parts.append(f32_from_bits([(u << 16) | lo for lo in (0x8000, 0x7FFF, 0x8001)]))
    # f16 ties: 1 + 2^-11 (tie, even), 1 + 3*2^-11 (tie, odd), and at the top of the range
    parts.append(np.array([1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 2048 + 1, 2048 + 3, 65504 + 8, 65504 + 16,
                           -(1 + 2.0 ** -11)], np.float32))
    # random normals at many scales
    rs = np.random.default_rng(SEED + 3)
    for e in range(-20, 21, 2):
        parts.append((rs.standard_normal(24) * 10.0 ** e).astype(np.float32))
    samples = torch.from_numpy(np.concatenate(parts).astype(np.float32))

    def u8(t):
        return t.view(torch.uint8)

    res = {
        "e4m3_decode": e4,
        "e5m2_decode": e5,
        "samples": samples,
        "to_e4m3": u8(samples.to(torch.float8_e4m3fn)),
        "to_e4m3_sat": u8(samples.clamp(-448, 448).to(torch.float8_e4m3fn)),
        "to_e5m2": u8(samples.to(torch.float8_e5m2)),
        "to_e5m2_sat": u8(samples.clamp(-57344, 57344).to(torch.float8_e5m2)),
        "to_bf16": samples.to(torch.bfloat16).view(torch.int16),
        "to_f16": samples.to(torch.float16).view(torch.int16),
    }
    # compressed-tensors int4 packing (pack along dim 1; K=20 is not a multiple of 8)
    g = torch.Generator().manual_seed(SEED + 5)
    v = torch.randint(-8, 8, (6, 20), generator=g, dtype=torch.int32).to(torch.int8)
    v[0, :8] = torch.tensor([-8, 7, 0, 1, -1, 3, -3, 2], dtype=torch.int8)  # spec worked example
    res["int4_values"], res["int4_packed"] = v, pack_to_int32(v, 4)
    v64 = torch.randint(-8, 8, (4, 64), generator=g, dtype=torch.int32).to(torch.int8)
    res["int4_values_k64"], res["int4_packed_k64"] = v64, pack_to_int32(v64, 4)
    zp = torch.randint(-8, 8, (13, 3), generator=g, dtype=torch.int32).to(torch.int8)  # N=13: ragged
    res["zp_values"], res["zp_packed"] = zp, pack_to_int32(zp, 4, packed_dim=0)
    assert res["int4_packed"].shape == (6, 3) and res["zp_packed"].shape == (2, 3)
    assert int(res["int4_packed"][0, 0]) == -1514694416  # 0xA5B798F0, quant-formats §2.2.3
    for a, b, dim in ((v, res["int4_packed"], 1), (v64, res["int4_packed_k64"], 1), (zp, res["zp_packed"], 0)):
        assert torch.equal(unpack_from_int32(b, 4, a.shape, packed_dim=dim), a)
    return {k: t.contiguous() for k, t in res.items()}


def describe_torch_conversions(num: dict) -> list[str]:
    """Observed (not assumed) torch conventions, for the README."""
    s = num["samples"]
    lines = []

    def show(vals, key, fmt_bits):
        out = []
        for x in vals:
            hit = torch.isnan(s) if np.isnan(x) else (s == x)
            i = int(torch.nonzero(hit).flatten()[0])
            out.append(f"{x!r}->0x{int(num[key][i]) & fmt_bits:0{2 if fmt_bits == 0xFF else 4}X}")
        return ", ".join(out)

    lines.append("to_e4m3 (plain .to): " + show([448.0, 464.0, 464.01, 480.0, 1e6, float("inf"), float("-inf"), float("nan")], "to_e4m3", 0xFF))
    lines.append("to_e4m3_sat (clamp first): " + show([464.01, 1e6, float("inf"), float("nan")], "to_e4m3_sat", 0xFF))
    lines.append("to_e5m2 (plain .to): " + show([57344.0, 61439.0, 61440.0, 1e6, float("inf"), float("nan")], "to_e5m2", 0xFF))
    lines.append("to_e5m2_sat (clamp first): " + show([61440.0, 1e6, float("inf")], "to_e5m2_sat", 0xFF))
    lines.append("to_f16: " + show([65519.0, 65520.0, 1e6, float("nan")], "to_f16", 0xFFFF))
    lines.append("to_bf16: " + show([3.4e38, float("inf"), float("nan")], "to_bf16", 0xFFFF))
    # rounding of exact ties (midpoints between neighbouring representable values)
    for key, table, dt in (("to_e4m3", num["e4m3_decode"], torch.float8_e4m3fn),
                           ("to_e5m2", num["e5m2_decode"], torch.float8_e5m2)):
        fin = torch.unique(table[torch.isfinite(table)].double())
        mids = ((fin[:-1] + fin[1:]) / 2).float()
        codes = mids.to(dt).view(torch.uint8).int()
        even = int(((codes & 1) == 0).sum())
        lines.append(f"{key}: {even}/{len(mids)} exact midpoints round to the even code (RNE)")
    b = s.numpy().view(np.uint32)
    ties = (b & 0xFFFF) == 0x8000
    ties &= np.isfinite(s.numpy())
    up = (b[ties] >> 16).astype(np.int64)
    got = num["to_bf16"].numpy().view(np.uint16)[ties].astype(np.int64)
    rne = np.where(up & 1, up + 1, up)
    lines.append(f"to_bf16: {int((got == rne).sum())}/{int(ties.sum())} f32 values with low half 0x8000 "
                 "round to the even upper half (RNE)")
    nan_rows = torch.isnan(s)
    for key in ("to_e4m3", "to_e5m2", "to_bf16", "to_f16"):
        mask = 0xFF if key in ("to_e4m3", "to_e5m2") else 0xFFFF
        codes = sorted({int(c) & mask for c in num[key][nan_rows].tolist()})
        lines.append(f"{key}: NaN inputs (incl. sign/payload variants) give codes {[hex(c) for c in codes]}")
    return lines


# ----------------------------------------------------------------------------------------------
# 8. Driver
# ----------------------------------------------------------------------------------------------
def prompts():
    g = torch.Generator().manual_seed(SEED + 1)
    return [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in PROMPT_LENS]


def calib_prompts():
    g = torch.Generator().manual_seed(SEED + 2)
    return [torch.randint(0, VOCAB, (CALIB_LEN,), generator=g).tolist() for _ in range(CALIB_PROMPTS)]


def versions() -> dict[str, str]:
    return {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
            "compressed_tensors": compressed_tensors.__version__, "safetensors": safetensors.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}


def single_key_metadata(**extra) -> dict[str, str]:
    """safetensors writes __metadata__ in hash-map order, so several keys would make the header
    (and the file) differ between runs: keep one key holding sorted JSON."""
    return {"mmd_fixture": json.dumps({"versions": versions(), **extra}, sort_keys=True)}


def calibrate_kv(master: dict, out: Path, log) -> dict:
    """FP8 KV scales for the kvfp8 format: amax over calibration prompts of the post-norm,
    post-RoPE keys (and values) of the HF model running that format's own dequantized weights,
    / 448, stored BF16 [1] (CT kv_cache_scheme strategy tensor)."""
    T0, qc0 = build_format("tiny-fp8-w4a16-g128-kvfp8", master,
                           {"k_scale": [torch.ones(1, dtype=torch.bfloat16)] * LAYERS,
                            "v_scale": [torch.ones(1, dtype=torch.bfloat16)] * LAYERS})
    F0 = dequant_checkpoint(T0, qc0)
    tmp = out / ".calib"
    tmp.mkdir(parents=True, exist_ok=True)
    dump_json(official_config(None), tmp / "config.json")
    model = build_hf(tmp, F0)
    shutil.rmtree(tmp)
    npm = NumpyMiniMaxM2(F0)
    kmax, vmax = np.zeros(LAYERS), np.zeros(LAYERS)
    for ids in calib_prompts():
        cap = {}
        npm.forward(ids, cap)
        for L, (k, v) in enumerate(hf_kv(model, ids)):
            # HF cache layout [kv_heads, T, D]; numpy [T, kv_heads, D]
            assert rel_err(k.transpose(1, 0, 2), cap[f"kv.{L}.k"]) < 1e-4
            assert rel_err(v.transpose(1, 0, 2), cap[f"kv.{L}.v"]) < 1e-4
            kmax[L] = max(kmax[L], np.abs(k).max())
            vmax[L] = max(vmax[L], np.abs(v).max())
    ks = [torch.tensor([kmax[L] / FP8_MAX], dtype=torch.float32).to(torch.bfloat16) for L in range(LAYERS)]
    vs = [torch.tensor([vmax[L] / FP8_MAX], dtype=torch.float32).to(torch.bfloat16) for L in range(LAYERS)]
    for L in range(LAYERS):
        log(f"  kv calib layer {L}: amax K {kmax[L]:.4f} V {vmax[L]:.4f} -> k_scale {float(ks[L]):.6g} "
            f"v_scale {float(vs[L]):.6g}")
    return {"k_scale": ks, "v_scale": vs}


def run_format(fmt: str, master: dict, extra: dict, out: Path, log) -> dict:
    folder = out / fmt
    if folder.exists():
        shutil.rmtree(folder)
    T, qc = build_format(fmt, master, extra)
    write_checkpoint(folder, fmt, T, qc)
    T = read_checkpoint(folder)  # everything below uses what is on disk
    F = dequant_checkpoint(T, qc)
    n_int4 = numpy_dequant_check(T, F)
    model = build_hf(folder, F)

    if fmt == "tiny-bf16":
        # Independent check of our name mapping: transformers' own loader (its conversion of the
        # official block_sparse_moe/w1/w2/w3 names) must give the same model.
        transformers.logging.set_verbosity_error()  # config.json has no bos/eos, like the release
        transformers.logging.disable_progress_bar()
        ref = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation="eager",
            experts_implementation="eager", bos_token_id=BOS_ID, eos_token_id=EOS_ID).eval()
        for ids in prompts():
            e = rel_err(hf_logits(ref, ids), hf_logits(model, ids))
            assert e < 1e-6, f"from_pretrained disagrees with the explicit mapping: {e}"
        log("tiny-bf16: transformers from_pretrained(folder) reproduces the explicit-mapping model's logits")
        del ref

    int8 = None
    if fmt == "tiny-w8a8-int8":
        int8 = {k[: -len(".weight")]: (T[k].numpy(), T[k[: -len("weight")] + "weight_scale"].numpy())
                for k in T if k.endswith(".weight") and T[k].dtype == torch.int8}
    kv = None
    if fmt.endswith("kvfp8"):
        kv = {L: (np.float32(T[f"model.layers.{L}.self_attn.k_scale"].float().item()),
                  np.float32(T[f"model.layers.{L}.self_attn.v_scale"].float().item())) for L in range(LAYERS)}
    npm = NumpyMiniMaxM2(F)
    npm_emul = NumpyMiniMaxM2(F, int8_codes=int8, kv_scales=kv) if (int8 or kv) else None

    G = {}
    stats = {"fmt": fmt, "int4_checked": n_int4}
    worst = 0.0
    for n, ids in enumerate(prompts()):
        G[f"prompt.{n}.ids"] = torch.tensor(ids, dtype=torch.int32)
        lg = hf_logits(model, ids)
        cap = {}
        ref = npm.forward(ids, cap)
        worst = max(worst, rel_err(lg, ref))
        G[f"prompt.{n}.logits"] = torch.from_numpy(lg.astype(np.float32))
        G[f"prompt.{n}.route_gap"] = torch.from_numpy(
            np.stack([cap[f"route_gaps.{L}"] for L in range(LAYERS)]).astype(np.float32))
        stats["route_gap"] = min(stats.get("route_gap", np.inf),
                                 *(cap[f"route_gap.{L}"] for L in range(LAYERS)))
        if npm_emul is not None:
            ecap = {}
            em = npm_emul.forward(ids, ecap)
            G[f"prompt.{n}.logits_emulated"] = torch.from_numpy(em.astype(np.float32))
            stats[f"emul_delta.{n}"] = rel_err(em, ref)
            stats["emul_route_flips"] = stats.get("emul_route_flips", 0) + sum(
                a != b for L in range(LAYERS) for a, b in zip(cap[f"sel.{L}"], ecap[f"sel.{L}"]))
        toks, margin, seq = hf_greedy(model, ids, GREEDY_STEPS)
        G[f"greedy.{n}.ids"] = torch.from_numpy(toks)
        G[f"greedy.{n}.margin"] = torch.from_numpy(margin)
        # the whole prompt+continuation through both implementations
        full_hf, full_np = hf_logits(model, seq[:-1]), npm.forward(seq[:-1])
        worst = max(worst, rel_err(full_hf, full_np))
        np_choice = full_np[len(ids) - 1:].argmax(-1)
        assert np.array_equal(np_choice[margin > 1e-3], toks[margin > 1e-3]), f"{fmt}: greedy mismatch"
        stats[f"min_margin.{n}"] = float(margin.min())
        if n == 0:
            stats["logit_std"] = float(lg.std(axis=-1).mean())
        for L in range(LAYERS):
            stats.setdefault("bias_changed", 0)
            stats.setdefault("tokens", 0)
            stats["bias_changed"] += sum(a != b for a, b in zip(cap[f"sel.{L}"], cap[f"sel_nobias.{L}"]))
            stats["tokens"] += len(ids)
    # per-layer intermediates for prompt 0
    ids0 = prompts()[0]
    inter = hf_intermediates(model, ids0)
    cap = {}
    npm.forward(ids0, cap)
    for k, v in inter.items():
        e = rel_err(v, cap[k])
        assert e < 1e-4, f"{fmt}: {k} rel err {e}"
        G[k] = torch.from_numpy(v.astype(np.float32))
    expected = {"hidden.embed", "hidden.final_norm"} | {
        f"hidden.layer.{L}.{n}" for L in range(LAYERS)
        for n in ("attn_norm", "attn_out", "moe_norm", "router_logits", "moe_out", "out")}
    assert set(inter) == expected, set(inter) ^ expected
    assert worst < 1e-4, f"{fmt}: HF vs numpy rel err {worst}"
    stats["hf_vs_numpy"] = worst
    gdir = out / "goldens"
    gdir.mkdir(parents=True, exist_ok=True)
    meta = single_key_metadata(folder=fmt, seed=SEED,
                               reference="transformers MiniMaxM2ForCausalLM float32 eager on dequantized weights")
    save_file({k: v.contiguous() for k, v in sorted(G.items())},
              str(gdir / f"golden-{fmt}.safetensors"), metadata=meta)
    log(f"{fmt}: HF vs numpy max rel err {worst:.2e}; logits std {stats['logit_std']:.2f}; "
        f"bias changed expert set for {stats['bias_changed']}/{stats['tokens']} token-layers; "
        f"min greedy margins {[round(stats[f'min_margin.{n}'], 4) for n in range(len(PROMPT_LENS))]}"
        + (f"; int4 tensors decoded independently: {n_int4}" if n_int4 else "")
        + f"; min routing gap (k-th vs k+1-th selection key) {stats['route_gap']:.4f}"
        + ("; emulated vs plain rel diff " + ", ".join(f"{stats[f'emul_delta.{n}']:.2e}" for n in range(3))
           + f" ({stats['emul_route_flips']} token-layers route differently)" if npm_emul is not None else ""))
    stats["quantization_config"] = qc
    return stats


def rope_negative_control(out: Path, master: dict, log):
    """Shows the transformers pitfall: a config without rotary_dim (or partial_rotary_factor)
    silently rotates the full head_dim; the numpy spec forward then disagrees."""
    F = dequant_checkpoint(master, None)
    tmp = out / ".ropecheck"
    tmp.mkdir(parents=True, exist_ok=True)
    c = official_config(None)
    del c["rotary_dim"]
    dump_json(c, tmp / "config.json")
    d = json.loads((tmp / "config.json").read_text())
    d.update(bos_token_id=BOS_ID, eos_token_id=EOS_ID)
    d.pop("auto_map")
    shutil.rmtree(tmp)
    cfg = MiniMaxM2Config.from_dict(d)
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"
    m = MiniMaxM2ForCausalLM(cfg).float().eval()
    m.load_state_dict(hf_state_dict(F), strict=False)
    ids = prompts()[2]
    e = rel_err(hf_logits(m, ids), NumpyMiniMaxM2(F).forward(ids))
    log(f"negative control: config without rotary_dim -> rope_parameters {cfg.rope_parameters}, "
        f"inv_freq {m.model.rotary_emb.inv_freq.numel()} (full-width RoPE), HF vs spec rel err {e:.3f}")
    assert e > 1e-2


def make_readable(path: Path):
    for f in path.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures", type=Path)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    logs = []

    def log(msg):
        print(msg, flush=True)
        logs.append(msg)

    log("versions: " + json.dumps(versions()))
    master = make_master()
    extra = calibrate_kv(master, out, log)
    rope_negative_control(out, master, log)
    results = [run_format(f, master, extra, out, log) for f in FORMATS]

    ndir = out / "numeric"
    ndir.mkdir(parents=True, exist_ok=True)
    num = numeric_fixture()
    save_file(num, str(ndir / "numeric.safetensors"),
              metadata=single_key_metadata())
    conv = describe_torch_conversions(num)
    for line in conv:
        log("  " + line)

    make_readable(out)
    sizes = {p.name: du(p) for p in sorted(out.iterdir()) if p.is_dir()}
    write_readme(out, results, sizes, logs, conv, len(num["samples"]))
    total = du(out)
    log(f"total bytes under {out}: {total}")


def write_readme(out: Path, results, sizes, logs, conv, nsamples):
    from readme_template import render  # kept beside this script
    (out / "README.md").write_text(render(results=results, sizes=sizes, logs=logs, conv=conv,
                                          versions=versions(), nsamples=nsamples, dims=dict(
                                              hidden_size=HIDDEN, intermediate_size=INTER,
                                              num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                              num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                                              rotary_dim=ROTARY_DIM, num_local_experts=EXPERTS,
                                              num_experts_per_tok=TOPK, vocab_size=VOCAB,
                                              rms_norm_eps=EPS, rope_theta=ROPE_THETA,
                                              max_position_embeddings=MAX_POS),
                                          prompt_lens=PROMPT_LENS, steps=GREEDY_STEPS, seed=SEED))


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # no __pycache__ beside the script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
