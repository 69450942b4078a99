#!/usr/bin/env python3
"""Export the trained tiny MiniMax-M2 in every checkpoint format row of quant-formats.md.

Formats (folder under models/minimax-m2-tiny/):
  bf16                       plain BF16 (router gate + e_score_correction_bias F32)        §2.4
  fp8                        official MiniMax FP8: F8_E4M3 + weight_scale_inv 128x128      §2.1
  fp8-w4a16-g32              compressed-tensors: FP8-block attention (copied from fp8/) +
                             AWQ W4A16 g32 experts (llm-compressor)                        §2.2
  fp8-w4a16-g128-kvfp8       same with g128 experts + FP8 KV cache, calibrated k/v scales  §2.2, §3
  bf16-w4a16-g32-lastbf16    BF16 attention + AWQ W4A16 g32 experts, last layer's experts
                             BF16 (the M2.7 "STRIX" card's carve-out, scaled to 4 layers)  §2.5
  w8a8-int8                  AMD Quark ptpc_int8: I8 weight + F32 per-channel scale +
                             I8 zero point; per-token dynamic int8 activations             §2.3

The AWQ runs use llm-compressor's AWQModifier with the seed cards' recipe on TinyM2 (whose module
names are the checkpoint names, so the recipe regexes match verbatim), calibrated on texts from
the training distribution with every expert running on every calibration token.
"""
import argparse
import copy
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from tiny_m2 import TinyM2

HERE = Path(__file__).resolve().parent
FP8 = torch.float8_e4m3fn
N_GRID = 20  # AWQ scale-search grid points (llm-compressor default); --n-grid overrides
FP8_MAX = 448.0

ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
EXPERT_RE = r"re:.*block_sparse_moe\.experts\.\d+\.(w1|w2|w3)$"
ATTN_RE = r"re:.*self_attn\.(q|k|v|o)_proj$"


def is_attn_linear(name):
    return any(name.endswith(f"self_attn.{p}.weight") for p in ATTN)


def is_expert_linear(name):
    return ".experts." in name and name.endswith((".w1.weight", ".w2.weight", ".w3.weight"))


def keep_f32(name):
    # Router gate and selection bias are F32 on disk in the official checkpoint (spec §2).
    return name.endswith("block_sparse_moe.gate.weight") or name.endswith("e_score_correction_bias")


# ----------------------------------------------------------------------------- quantizers
def fp8_block(w, block=128):
    """Per 128x128 tile: scale = amax/448, codes = sat_fp8(w/scale). Returns (codes, F32 scale)."""
    N, K = w.shape
    nb, kb = -(-N // block), -(-K // block)
    w = w.float()
    pad = torch.zeros(nb * block, kb * block)
    pad[:N, :K] = w
    tiles = pad.view(nb, block, kb, block)
    amax = tiles.abs().amax(dim=(1, 3)).clamp(min=1e-12)
    scale = amax / FP8_MAX
    q = (tiles / scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return q.view(nb * block, kb * block)[:N, :K].contiguous(), scale.float().contiguous()


def int8_per_channel(w):
    """Symmetric per-output-channel INT8: scale = amax/127, q = rne(w/scale)."""
    w = w.float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q = torch.round(w / scale[:, None]).clamp(-128, 127).to(torch.int8)
    return q, scale.float()


def bf16_round(sd):
    """The BF16 model is the reference every format starts from (as in the seed cards)."""
    return {k: (v.float() if keep_f32(k) else v.to(torch.bfloat16).float()) for k, v in sd.items()}


# ----------------------------------------------------------------------------- AWQ
def run_awq(sd, cfg, calib_ids, group_size, ignore_last_layer, bf16_dir, tokenizer_dir):
    """llm-compressor AWQ with the seed cards' recipe. Returns (smoothed float state dict,
    {linear name: (weight_packed, weight_scale_bf16, weight_shape)}, per-expert token counts)."""
    from datasets import Dataset
    from transformers import AutoTokenizer, PretrainedConfig
    from llmcompressor import oneshot
    from llmcompressor.modifiers.awq import AWQModifier
    from llmcompressor.pipelines.cache import IntermediatesCache
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    from compressed_tensors.quantization.lifecycle.forward import quantize

    # llm-compressor pins calibration activations for faster host->GPU copies; pinning needs a
    # CUDA driver, and on a CPU-only machine there is nothing to copy to. Make it a no-op.
    IntermediatesCache.pin_memory = lambda self, *a, **k: None

    model = TinyM2(cfg)
    model.load_state_dict(sd)
    model.eval()
    # oneshot expects a transformers-like model: a config with name_or_path pointing at a
    # checkpoint (it re-reads config.json to refuse already-quantized models), save_pretrained.
    hfc = PretrainedConfig(**{k: v for k, v in cfg.items() if k != "rope_theta"})
    hfc._name_or_path = str(bf16_dir)
    model.config = hfc
    model.save_pretrained = (lambda self, *a, **k: None).__get__(model)
    for layer in model.model.layers:
        # Every expert computes on every calibration token (its output is discarded unless it
        # was routed), so AWQ statistics exist for all experts: the point of llm-compressor
        # PR #2171 that the seed cards insist on.
        layer.block_sparse_moe.force_all_experts = True

    L = cfg["num_hidden_layers"]
    ignore = ["lm_head", "re:.*embed_tokens$", "re:.*self_attn.*", r"re:.*block_sparse_moe\.gate$"]
    if ignore_last_layer:
        ignore.append(rf"re:.*\.layers\.{L - 1}\.block_sparse_moe\.experts\.[0-9]+\.(w1|w2|w3)$")
    recipe = AWQModifier(
        config_groups={"mlp_experts_projections": {
            "targets": [EXPERT_RE],
            "weights": {"num_bits": 4, "type": "int", "symmetric": True, "group_size": group_size,
                        "strategy": "group", "dynamic": False,
                        "observer": "memoryless_minmax" if group_size == 32 and not ignore_last_layer else "minmax"}}},
        mappings=[{"smooth_layer": "re:.*post_attention_layernorm$",
                   "balance_layers": ["re:.*w1$", "re:.*w3$"]},
                  {"smooth_layer": "re:.*w3$", "balance_layers": ["re:.*w2$"]}],
        ignore=ignore,
        duo_scaling=True,
        n_grid=N_GRID)
    ds = Dataset.from_dict({"input_ids": calib_ids, "attention_mask": [[1] * len(x) for x in calib_ids]})
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    oneshot(model=model, tokenizer=tok, dataset=ds, recipe=recipe,
            num_calibration_samples=len(calib_ids), max_seq_length=max(len(x) for x in calib_ids),
            shuffle_calibration_samples=False, pipeline="sequential")

    packed = {}
    for name, mod in model.named_modules():
        scheme = getattr(mod, "quantization_scheme", None)
        if scheme is None or not hasattr(mod, "weight_scale"):
            continue
        w = mod.weight.data.float()
        # Scales are stored in the model dtype (BF16), so quantize with the stored value.
        scale = mod.weight_scale.data.to(torch.bfloat16)
        zp = mod.weight_zero_point.data
        q = quantize(w, scale.float(), zp, scheme.weights, dtype=torch.int8)
        packed[name] = (pack_to_int32(q, 4), scale, torch.tensor(list(w.shape), dtype=torch.int64))
    # The smoothed float weights (norms divided, w1/w3/w2 scaled) are what remains unquantized.
    for layer in model.model.layers:
        layer.block_sparse_moe.force_all_experts = False
    out_sd = {k: v.detach().float().clone() for k, v in model.state_dict().items()
              if not k.endswith(("weight_scale", "weight_zero_point", "weight_g_idx"))}
    # The recipe's first mapping divides post_attention_layernorm by the AWQ scales s, but the
    # router (block_sparse_moe.gate) also reads that norm's output and is not a balance layer,
    # so routing would change (quant-formats.md §5 item 7; fixed upstream by llm-compressor
    # PR #2451, which balances the router too). Compensate exactly: the gate stays F32 and
    # unquantized, so multiplying its input columns by s restores the original logits.
    for i in range(L):
        p = f"model.layers.{i}."
        before = sd[p + "post_attention_layernorm.weight"].float()
        after = out_sd[p + "post_attention_layernorm.weight"].to(torch.bfloat16).float()
        out_sd[p + "post_attention_layernorm.weight"] = after
        out_sd[p + "block_sparse_moe.gate.weight"] = sd[p + "block_sparse_moe.gate.weight"] * (before / after)[None, :]
    return out_sd, packed


def run_rtn(sd, cfg, group_size, ignore_last_layer):
    """Fallback without llm-compressor: round-to-nearest group quantization with
    compressed-tensors' own quantize/pack (scale = amax / 7.5, its symmetric int4 convention)."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    from compressed_tensors.quantization import QuantizationArgs
    from compressed_tensors.quantization.lifecycle.forward import quantize
    qa = QuantizationArgs(num_bits=4, type="int", symmetric=True, strategy="group",
                          group_size=group_size)
    L = cfg["num_hidden_layers"]
    packed = {}
    for k, w in sd.items():
        if not is_expert_linear(k) or (ignore_last_layer and k.startswith(f"model.layers.{L - 1}.")):
            continue
        n, kk = w.shape
        g = w.float().view(n, kk // group_size, group_size)
        scale = (g.abs().amax(-1) / 7.5).clamp(min=torch.finfo(torch.bfloat16).eps).to(torch.bfloat16)
        q = quantize(w.float(), scale.float(), torch.zeros_like(scale, dtype=torch.int8), qa,
                     dtype=torch.int8)
        packed[k[: -len(".weight")]] = (pack_to_int32(q, 4), scale,
                                       torch.tensor([n, kk], dtype=torch.int64))
    return dict(sd), packed


def expert_token_counts(sd, cfg, calib_ids):
    """Tokens routed to each expert (top-k with the selection bias) over the calibration set."""
    model = TinyM2(cfg)
    model.load_state_dict(sd)
    model.eval()
    E = cfg["num_local_experts"]
    counts = torch.zeros(cfg["num_hidden_layers"], E, dtype=torch.long)
    with torch.no_grad():
        for ids in calib_ids:
            model(torch.tensor([ids]))
            for i, layer in enumerate(model.model.layers):
                counts[i] += layer.block_sparse_moe.last_load
    return counts


def kv_scales(sd, cfg, calib_ids):
    """k_scale / v_scale = amax / 448 over the calibration set, observed where the KV cache
    stores them (k after q/k-norm and RoPE, v as projected) -- compressed-tensors' definition."""
    model = TinyM2(cfg)
    model.load_state_dict(sd)
    model.eval()
    amax = {}
    for i, layer in enumerate(model.model.layers):
        amax[i] = [0.0, 0.0]

        def hook(k, v, i=i):
            amax[i][0] = max(amax[i][0], k.abs().max().item())
            amax[i][1] = max(amax[i][1], v.abs().max().item())
        layer.self_attn.kv_hook = hook
    with torch.no_grad():
        for ids in calib_ids:
            model(torch.tensor([ids]))
    return {i: (a[0] / FP8_MAX, a[1] / FP8_MAX) for i, a in amax.items()}


# ----------------------------------------------------------------------------- configs
def ct_group_weights(group_size):
    return {"num_bits": 4, "type": "int", "symmetric": True, "group_size": group_size,
            "strategy": "group", "block_structure": None, "dynamic": False, "actorder": None,
            "observer": "minmax", "observer_kwargs": {}, "scale_dtype": None, "zp_dtype": None}


FP8_ATTN_GROUP = {
    "targets": [ATTN_RE],
    "format": "float-quantized",
    "weights": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "block",
                "block_structure": [128, 128], "group_size": None, "dynamic": False,
                "actorder": None, "observer": "static_minmax", "observer_kwargs": {},
                "scale_dtype": None, "zp_dtype": None},
    "input_activations": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "group",
                          "group_size": 128, "dynamic": True, "block_structure": None,
                          "actorder": None, "observer": None, "observer_kwargs": {},
                          "scale_dtype": None, "zp_dtype": None},
    "output_activations": None,
}


def ct_config(group_size, fp8_attention, kv_fp8, ignore_last_layer, L):
    groups = {"group_0": {"targets": [EXPERT_RE], "format": "pack-quantized",
                          "weights": ct_group_weights(group_size),
                          "input_activations": None, "output_activations": None}}
    if fp8_attention:
        groups["group_1"] = copy.deepcopy(FP8_ATTN_GROUP)
    ignore = ["lm_head", r"re:.*block_sparse_moe\.gate$"]
    if not fp8_attention:
        ignore.append(r"re:.*self_attn\.(q|k|v|o)_proj$")
    if ignore_last_layer:
        ignore.append(rf"re:model\.layers\.{L - 1}\.block_sparse_moe\.experts\..*")
    return {
        "quant_method": "compressed-tensors",
        "format": "mixed-precision" if fp8_attention else "pack-quantized",
        "quantization_status": "compressed",
        "config_groups": groups,
        "ignore": ignore,
        "kv_cache_scheme": ({"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor",
                             "dynamic": False, "group_size": None, "block_structure": None,
                             "actorder": None, "observer": "minmax", "observer_kwargs": {},
                             "scale_dtype": None, "zp_dtype": None} if kv_fp8 else None),
        "global_compression_ratio": None,
        "sparsity_config": {},
        "transform_config": {},
        "version": "0.19.0",
    }


OFFICIAL_FP8 = {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "float8_e4m3fn",
                "weight_block_size": [128, 128],
                "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]}

QUARK_INT8 = {
    "quant_method": "quark",
    "global_quant_config": {
        "weight": {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 0, "symmetric": True,
                   "is_dynamic": False, "group_size": None, "round_method": "half_even",
                   "scale_type": "float", "observer_cls": "PerChannelMinMaxObserver"},
        "input_tensors": {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 1, "symmetric": True,
                          "is_dynamic": True, "group_size": None, "round_method": "half_even",
                          "scale_type": "float", "observer_cls": "PerChannelMinMaxObserver"},
        "output_tensors": None, "bias": None, "target_device": None},
    "layer_quant_config": {}, "layer_type_quant_config": {}, "kv_cache_quant_config": {},
    "exclude": ["lm_head", r"re:.*block_sparse_moe\.gate$"],
    "export": {"kv_cache_group": [], "pack_method": "reorder", "weight_format": "real_quantized",
               "min_kv_scale": 0.0, "weight_merge_groups": None},
    "quant_mode": "eager_mode", "version": "0.11.1",
}


# ----------------------------------------------------------------------------- writers
def write_folder(dst, cfg, tensors, tokenizer_dir, quant_cfg=None, note=None):
    dst.mkdir(parents=True, exist_ok=True)
    c = dict(cfg)
    if quant_cfg is not None:
        c["quantization_config"] = quant_cfg
    (dst / "config.json").write_text(json.dumps(dict(sorted(c.items())), indent=2) + "\n")
    meta = {"format": "pt"}
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())},
              str(dst / "model.safetensors"), metadata=meta)
    for f in ["tokenizer_config.json", "chat_template.jinja"]:
        shutil.copy(Path(tokenizer_dir) / f, dst / f)
    # Compact JSON: the six folders share the 20 MB budget.
    from tokenizers import Tokenizer
    Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json")).save(
        str(dst / "tokenizer.json"), pretty=False)
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
           "do_sample": True, "temperature": 1.0, "top_p": 0.95, "top_k": 40,
           "transformers_version": "4.46.1"}
    (dst / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")


def bf16_tensors(sd):
    return {k: (v.float() if keep_f32(k) else v.to(torch.bfloat16)) for k, v in sd.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=str(HERE / "work" / "ckpt"))
    ap.add_argument("--tokenizer", default=str(HERE / "work" / "tokenizer"))
    ap.add_argument("--data", default=str(HERE / "work" / "data"))
    ap.add_argument("--out", default=str(HERE.parent.parent / "models" / "minimax-m2-tiny"))
    ap.add_argument("--n-calib", type=int, default=64)
    ap.add_argument("--only", default=None, help="comma-separated subset of formats")
    ap.add_argument("--n-grid", type=int, default=20)
    ap.add_argument("--rtn", action="store_true",
                    help="round-to-nearest fallback instead of llm-compressor AWQ")
    ap.add_argument("--n-routing-docs", type=int, default=64,
                    help="documents over which routed tokens per expert are counted")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))  # 1 on a contended machine
    out = Path(args.out)
    cfg = json.loads((Path(args.ckpt) / "config.json").read_text())
    sd = bf16_round(torch.load(Path(args.ckpt) / "model_fp32.pt"))
    L = cfg["num_hidden_layers"]
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(Path(args.tokenizer) / "tokenizer.json"))
    texts = [json.loads(l)["text"] for l in open(Path(args.data) / "calib.jsonl")][: args.n_calib]
    calib_ids = [e.ids[:512] for e in tok.encode_batch(texts)]
    global N_GRID
    N_GRID = args.n_grid
    routing_texts = [json.loads(l)["text"] for l in open(Path(args.data) / "calib.jsonl")][: args.n_routing_docs]
    routing_ids = [e.ids[:512] for e in tok.encode_batch(routing_texts)]
    only = set(args.only.split(",")) if args.only else None
    want = lambda f: only is None or f in only
    report = {"n_calib_samples": len(calib_ids), "n_calib_tokens": sum(map(len, calib_ids))}

    # BF16 --------------------------------------------------------------------------------
    bf16_dir = out / "bf16"
    if want("bf16"):
        write_folder(bf16_dir, cfg, bf16_tensors(sd), args.tokenizer)

    # Official FP8 -------------------------------------------------------------------------
    fp8_attn = {}
    t = {}
    for k, v in sd.items():
        if is_attn_linear(k) or is_expert_linear(k):
            q, s = fp8_block(v)
            t[k] = q
            t[k[: -len("weight")] + "weight_scale_inv"] = s
            if is_attn_linear(k):
                fp8_attn[k] = (q, s)
        else:
            t[k] = v.float() if keep_f32(k) else v.to(torch.bfloat16)
    if want("fp8"):
        write_folder(out / "fp8", cfg, t, args.tokenizer, OFFICIAL_FP8)

    report["routed_tokens_per_expert"] = expert_token_counts(sd, cfg, calib_ids).tolist()
    report["n_grid"] = N_GRID
    if routing_ids:  # larger sample for the per-expert routing table (done by one run only)
        report["n_routing_docs"] = len(routing_ids)
        report["n_routing_tokens"] = sum(map(len, routing_ids))
        report["routed_tokens_per_expert_routing_docs"] = expert_token_counts(sd, cfg, routing_ids).tolist()

    # AWQ W4A16 hybrids ----------------------------------------------------------------------
    def hybrid(name, group_size, fp8_attention, kv_fp8, ignore_last):
        if args.rtn:
            smoothed, packed = run_rtn(sd, cfg, group_size, ignore_last)
        else:
            smoothed, packed = run_awq(sd, cfg, calib_ids, group_size, ignore_last, bf16_dir,
                                       args.tokenizer)
        report.setdefault("method", {})[name] = "rtn" if args.rtn else "awq"
        t = {}
        for k, v in smoothed.items():
            mod = k[: -len(".weight")] if k.endswith(".weight") else None
            if mod in packed:
                wp, sc, shp = packed[mod]
                t[mod + ".weight_packed"] = wp
                t[mod + ".weight_scale"] = sc
                t[mod + ".weight_shape"] = shp
            elif fp8_attention and is_attn_linear(k):
                # Attention copied from the official-format FP8 export (the seed cards'
                # "FrankenQuant"); compressed-tensors calls weight_scale_inv `weight_scale`.
                q, s = fp8_attn[k]
                t[k] = q
                t[mod + ".weight_scale"] = s
            else:
                t[k] = v.float() if keep_f32(k) else v.to(torch.bfloat16)
        if kv_fp8:
            scales = kv_scales(smoothed, cfg, calib_ids)
            report["kv_scales"] = {str(i): s for i, s in scales.items()}
            for i, (ks, vs) in scales.items():
                t[f"model.layers.{i}.self_attn.k_scale"] = torch.tensor([ks], dtype=torch.bfloat16)
                t[f"model.layers.{i}.self_attn.v_scale"] = torch.tensor([vs], dtype=torch.bfloat16)
        n_q = sum(1 for k in t if k.endswith("weight_packed"))
        report.setdefault("awq_quantized_linears", {})[name] = n_q
        write_folder(out / name, cfg, t, args.tokenizer,
                     ct_config(group_size, fp8_attention, kv_fp8, ignore_last, L))

    if want("fp8-w4a16-g32"):
        hybrid("fp8-w4a16-g32", 32, True, False, False)
    if want("fp8-w4a16-g128-kvfp8"):
        hybrid("fp8-w4a16-g128-kvfp8", 128, True, True, False)
    if want("bf16-w4a16-g32-lastbf16"):
        hybrid("bf16-w4a16-g32-lastbf16", 32, False, False, True)

    # Quark W8A8 INT8 ----------------------------------------------------------------------
    if want("w8a8-int8"):
        t = {}
        for k, v in sd.items():
            if is_attn_linear(k) or is_expert_linear(k):
                q, s = int8_per_channel(v)
                p = k[: -len("weight")]
                t[k] = q
                t[p + "weight_scale"] = s
                t[p + "weight_zero_point"] = torch.zeros_like(s, dtype=torch.int8)
            else:
                t[k] = v.float() if keep_f32(k) else v.to(torch.bfloat16)
        write_folder(out / "w8a8-int8", cfg, t, args.tokenizer, QUARK_INT8)

    rp = HERE / "work" / "export_report.json"
    old = json.loads(rp.read_text()) if rp.exists() else {}
    for k, v in report.items():  # merge: formats may be exported by separate runs
        if isinstance(v, dict) and isinstance(old.get(k), dict):
            old[k].update(v)
        else:
            old[k] = v
    rp.write_text(json.dumps(old, indent=2))
    print(json.dumps({k: v for k, v in report.items()}, indent=1)[:3000])


if __name__ == "__main__":
    main()
