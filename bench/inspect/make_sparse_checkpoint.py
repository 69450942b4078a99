#!/usr/bin/env python3
"""Writes a full-size MiniMax-M2 checkpoint layout as sparse files, for timing `mmctl inspect`.

Every header is real (the tensor names, dtypes, shapes and offsets of the published
checkpoints: minimax-m2.md section 2, quant-formats.md section 2) and each shard is truncated to
its full size, so the files have the real sizes (~230 GB) but occupy almost no disk: the data
is holes, except the few small tensors a loader reads (weight_shape). Only the standard library
is used.

    python3 bench/inspect/make_sparse_checkpoint.py --format fp8 /tmp/m2-fp8
    python3 bench/inspect/make_sparse_checkpoint.py --format hybrid-g128 /tmp/m2-hybrid
"""
import argparse
import json
import os
import struct

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 3072, 62, 48, 8, 128
EXPERTS, INTER, VOCAB = 256, 1536, 200064
BITS = {"BF16": 16, "F32": 32, "F8_E4M3": 8, "I32": 32, "I64": 64}


def cdiv(a, b):
    return -(-a // b)


def config(quant):
    out = {
        "architectures": ["MiniMaxM2ForCausalLM"], "model_type": "minimax_m2",
        "attn_type_list": [1] * LAYERS, "head_dim": HEAD_DIM, "hidden_act": "silu",
        "hidden_size": HIDDEN, "intermediate_size": INTER, "max_position_embeddings": 196608,
        "num_attention_heads": HEADS, "num_experts_per_tok": 8, "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS, "num_local_experts": EXPERTS, "qk_norm_type": "per_layer",
        "rms_norm_eps": 1e-06, "rope_theta": 5000000, "rotary_dim": 64, "scoring_func": "sigmoid",
        "shared_intermediate_size": 0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "use_mtp": True, "num_mtp_modules": 3, "use_qk_norm": True, "use_routing_bias": True,
        "vocab_size": VOCAB,
    }
    if quant:
        out["quantization_config"] = quant
    return out


def tensors(fmt):
    """Yields (name, dtype, shape, payload-or-None) in checkpoint order."""
    yield "model.embed_tokens.weight", "BF16", [VOCAB, HIDDEN], None
    linears = []
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        yield p + "input_layernorm.weight", "BF16", [HIDDEN], None
        yield p + "post_attention_layernorm.weight", "BF16", [HIDDEN], None
        yield p + "self_attn.q_norm.weight", "BF16", [HEADS * HEAD_DIM], None
        yield p + "self_attn.k_norm.weight", "BF16", [KV_HEADS * HEAD_DIM], None
        yield p + "block_sparse_moe.gate.weight", "F32", [EXPERTS, HIDDEN], None
        yield p + "block_sparse_moe.e_score_correction_bias", "F32", [EXPERTS], None
        if fmt == "hybrid-g128":
            yield p + "self_attn.k_scale", "BF16", [1], None
            yield p + "self_attn.v_scale", "BF16", [1], None
        for name, n, k in (("q_proj", HEADS * HEAD_DIM, HIDDEN), ("k_proj", KV_HEADS * HEAD_DIM, HIDDEN),
                           ("v_proj", KV_HEADS * HEAD_DIM, HIDDEN), ("o_proj", HIDDEN, HEADS * HEAD_DIM)):
            scale = "weight_scale_inv" if fmt == "fp8" else "weight_scale"
            yield p + f"self_attn.{name}.weight", "F8_E4M3", [n, k], None
            yield p + f"self_attn.{name}.{scale}", "F32", [cdiv(n, 128), cdiv(k, 128)], None
        for e in range(EXPERTS):
            for w, n, k in (("w1", INTER, HIDDEN), ("w2", HIDDEN, INTER), ("w3", INTER, HIDDEN)):
                m = p + f"block_sparse_moe.experts.{e}.{w}."
                if fmt == "fp8":
                    yield m + "weight", "F8_E4M3", [n, k], None
                    yield m + "weight_scale_inv", "F32", [cdiv(n, 128), cdiv(k, 128)], None
                else:
                    yield m + "weight_packed", "I32", [n, k // 8], None
                    yield m + "weight_scale", "BF16", [n, k // 128], None
                    yield m + "weight_shape", "I64", [2], struct.pack("<qq", n, k)
    yield "model.norm.weight", "BF16", [HIDDEN], None
    yield "lm_head.weight", "BF16", [VOCAB, HIDDEN], None


def quant_config(fmt):
    if fmt == "fp8":
        return {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "float8_e4m3fn",
                "weight_block_size": [128, 128],
                "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]}
    return {
        "quant_method": "compressed-tensors", "format": "mixed-precision",
        "config_groups": {
            "group_0": {"targets": ["re:.*block_sparse_moe\\.experts\\.\\d+\\.w[123]$"],
                        "format": "pack-quantized",
                        "weights": {"num_bits": 4, "type": "int", "symmetric": True,
                                    "strategy": "group", "group_size": 128}},
            "group_1": {"targets": ["re:.*self_attn\\.(q|k|v|o)_proj$"], "format": "float-quantized",
                        "weights": {"num_bits": 8, "type": "float", "symmetric": True,
                                    "strategy": "block", "block_structure": [128, 128]}}},
        "ignore": ["lm_head", "re:.*block_sparse_moe\\.gate$"],
        "kv_cache_scheme": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor"}}


def write_shard(path, entries):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, _ in entries:
        size = BITS[dtype] // 8
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        base = 8 + len(text)
        for name, _, _, payload in entries:
            if payload is not None:
                f.seek(base + header[name]["data_offsets"][0])
                f.write(payload)
        f.truncate(base + offset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", choices=["fp8", "hybrid-g128"], default="fp8")
    parser.add_argument("--shards", type=int, default=125)
    parser.add_argument("out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    everything = list(tensors(args.format))
    per_shard = cdiv(len(everything), args.shards)
    weight_map = {}
    for s in range(args.shards):
        # Zero-based names with an "of" count that is not the file count, as MiniMax ships them.
        name = f"model-{s:05d}-of-{args.shards + 5:05d}.safetensors"
        chunk = everything[s * per_shard:(s + 1) * per_shard]
        write_shard(os.path.join(args.out, name), chunk)
        weight_map.update({t[0]: name for t in chunk})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config(quant_config(args.format)), f, indent=2)
    print(f"{args.out}: {len(everything)} tensors in {args.shards} shards")


if __name__ == "__main__":
    main()
