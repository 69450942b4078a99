"""Renders tests/fixtures/README.md from what make_fixtures.py measured (sizes, versions, checks),
so the README can never drift from the files beside it."""

import json

FORMAT_TEXT = {
    "tiny-bf16": "Plain BF16 (quant-formats §2.4): no quantization_config; every tensor BF16 except "
                 "`block_sparse_moe.gate.weight` and `e_score_correction_bias` (F32).",
    "tiny-fp8": "Official MiniMax FP8 (§2.1): every q/k/v/o_proj and expert w1/w2/w3 is `weight` F8_E4M3 + "
                "`weight_scale_inv` F32 [cdiv(N,128), cdiv(K,128)] (a dequant MULTIPLIER = block amax/448; codes = "
                "clamp(W/scale, ±448) cast with RNE). **Sharded like the release**: "
                "`model-00000-of-00003.safetensors` (embeddings + layer 0) and `model-00001-of-00003.safetensors` "
                "(layer 1 + final norm + lm_head) — zero-based, and the \"of\" count (3) is not the file count (2) — "
                "plus `model.safetensors.index.json` (`metadata.total_size` = sum of tensor data bytes, no headers).",
    "tiny-fp8-w4a16-g32": "compressed-tensors mixed precision (§2.2): attention FP8 128×128 block float-quantized "
                          "(`weight` F8_E4M3 + `weight_scale` BF16 [cdiv(N,128), cdiv(K,128)]), experts W4A16 "
                          "symmetric group 32 pack-quantized (`weight_packed` I32 [N, K/8], `weight_scale` BF16 "
                          "[N, K/32], `weight_shape` I64 [2]). Scales from CT `calculate_qparams` on per-block / "
                          "per-group min/max of the BF16 weight, codes and packing from CT's own compressors.",
    "tiny-fp8-w4a16-g128-kvfp8": "As tiny-fp8-w4a16-g32 with group 128 (`weight_scale` [N, 1]) plus a "
                                 "`kv_cache_scheme` (float, 8 bits, symmetric, strategy tensor) and calibrated "
                                 "`model.layers.L.self_attn.k_scale` / `v_scale` (BF16 [1]) = amax over 4 seeded "
                                 "calibration prompts (length 24) of the keys after q/k-norm + RoPE (values as "
                                 "projected) / 448, measured on the HF cache of this format's dequantized model.",
    "tiny-bf16-w4a16-g32-lastbf16": "BF16 attention; experts W4A16 symmetric g32 pack-quantized except the LAST "
                                    "layer's experts, which stay BF16 `weight` through the `ignore` entry "
                                    "`re:model\\.layers\\.1\\.block_sparse_moe\\.experts\\..*`. Only one config group, "
                                    "so the global `format` is `pack-quantized` (CT writes `mixed-precision` only "
                                    "when groups differ).",
    "tiny-w4a16-g32-asym-actorder": "BF16 attention; experts W4A16 group 32 **asymmetric** with `actorder: group`: "
                                    "`weight_packed` I32, `weight_scale` BF16 [N, K/32], `weight_zero_point` I32 "
                                    "[N/8, K/32] (zero points in [-8,7], +8 offset, packed down N), `weight_shape` I64, "
                                    "`weight_g_idx` I32 [K]. Columns stay in original order on disk; "
                                    "`g_idx[perm[i]] = i // 32` for a seeded random permutation per Linear (standing "
                                    "in for GPTQ's activation order), so every group is a scattered set of 32 columns. "
                                    "W[n,k] = ((u[n,k]-8) - (uz[n,g]-8)) · s[n,g] with g = g_idx[k].",
    "tiny-w8a8-int8": "AMD Quark `ptpc_int8` style (§2.3): `weight` I8 [N,K], `weight_scale` F32 [N] (1-D, = row "
                      "amax/127), `weight_zero_point` I8 [N] (zeros) on every q/k/v/o and expert Linear; lm_head and "
                      "router gates excluded. Activations are per-token dynamic int8 at run time (see "
                      "`logits_emulated`).",
}

EMULATED_TEXT = {
    "tiny-fp8-w4a16-g128-kvfp8": "K and V stored as FP8 e4m3: `sat(K / k_scale)` with RNE (f32 division by the "
                                 "stored BF16 scale, clamp ±448, torch cast), read back × k_scale; same for V with "
                                 "v_scale; every attention read uses the round-tripped K/V, including the prompt's own tokens during "
                                 "prefill (an engine that attends to unquantized K/V within a prefill chunk differs "
                                 "there); everything else as `logits`.",
    "tiny-w8a8-int8": "per-token dynamic int8 activations at the input of every quantized Linear "
                      "(q/k/v/o_proj, w1/w3, w2): amax = max|x| (f32), sa = amax/127, "
                      "xq = clamp(rint(x · (127/amax)), -128, 127), exact integer dot with the int8 weight, "
                      "y = (acc · sa) · sw in f32. Router gate and lm_head stay float.",
}


def _mb(n):
    return f"{n:,} B ({n / 1e6:.2f} MB)"


def render(results, sizes, logs, conv, versions, nsamples, dims, prompt_lens, steps, seed):
    total = sum(sizes.values())
    L = []
    a = L.append
    a("# Test fixtures (generated — do not edit by hand)")
    a("")
    a("Everything in this folder, this README included, is produced by `tools/reference/make_fixtures.py`.")
    a("Regenerate (from the repository root, venv set up as in `tools/reference/README.md`):")
    a("")
    a("```sh")
    a("python tools/reference/make_fixtures.py --out tests/fixtures")
    a("```")
    a("")
    a(f"The run is fully seeded (seed {seed}, `torch.set_num_threads(1)`) and re-running it gives byte-identical "
      "files (checked with sha256 over two runs on the build machine).")
    a("")
    a("Package versions used: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    a("")
    a("## Tiny MiniMax-M2 model")
    a("")
    a("| field | value |")
    a("|---|---|")
    for k, v in dims.items():
        a(f"| {k} | {v} |")
    a("")
    a("Other config.json keys mirror the official release (specs/minimax-m2.md §1.1): architectures "
      "`[\"MiniMaxM2ForCausalLM\"]`, model_type `minimax_m2`, `auto_map`, `attn_type_list` [1, 1], `use_qk_norm` "
      "true, `qk_norm_type` per_layer, `scoring_func` sigmoid, `use_routing_bias` true, "
      "`shared_intermediate_size` 0, `use_mtp` false (`num_mtp_modules` 0, `mtp_transformer_layers` 1), "
      "`tie_word_embeddings` false, `torch_dtype` bfloat16, `transformers_version` \"4.46.1\" (the official "
      "value), keys sorted. No bos/eos in config.json (like M2.5's); `generation_config.json` has bos_token_id 1, "
      "eos_token_id 2, do_sample true, temperature 1.0, top_p 0.95, top_k 40.")
    a("")
    a("rope_theta is 10000 rather than the official 5e6: with rotary_dim 32 the official base barely rotates most "
      "frequency pairs over the few dozen positions used here, so a RoPE layout bug would hardly change the logits.")
    a("")
    a("Master weights (shared by every format; tensor names are the official on-disk names of §2): seeded normals, "
      "Linear std 0.08 (lm_head 0.15 so the logits are not flat: their std across the vocab is ≈1.7), embeddings "
      "std 1, RMSNorm gains (input/post-attention/q_norm/k_norm/final) 1 + 0.2·N(0,1) so a dropped gain shows, "
      "router gate F32 std 0.25, `e_score_correction_bias` F32 std 0.15. The bias changes the selected expert "
      "set for about half of all (token, layer) pairs vs selection without bias (counts per format below), so "
      "using it for the weights, or ignoring it, is caught. All BF16 tensors are the master itself; every "
      "quantized format is quantized from those same BF16 values (round-to-nearest; no AWQ/GPTQ search).")
    a("")
    a("## Folders")
    a("")
    a("| folder | size | contents |")
    a("|---|---|---|")
    for r in results:
        a(f"| `{r['fmt']}/` | {_mb(sizes[r['fmt']])} | {FORMAT_TEXT[r['fmt']]} |")
    a(f"| `goldens/` | {_mb(sizes['goldens'])} | one `golden-<folder>.safetensors` per checkpoint folder |")
    a(f"| `numeric/` | {_mb(sizes['numeric'])} | `numeric.safetensors`: conversion and packing oracles |")
    a(f"| **total** (without this README) | **{_mb(total)}** | |")
    a("")
    a("Each checkpoint folder has `config.json`, `generation_config.json` and `model.safetensors` (tiny-fp8: two "
      "shards + index). Every Linear not named above (router gates, lm_head, embeddings, norms) is unquantized.")
    a("")
    a("### quantization_config of each folder (verbatim from its config.json)")
    a("")
    for r in results:
        a(f"`{r['fmt']}`:")
        a("")
        a("```json")
        a(json.dumps(r["quantization_config"], indent=2, sort_keys=True) if r["quantization_config"] is not None
          else "(no quantization_config)")
        a("```")
        a("")
    a("## Goldens: `goldens/golden-<folder>.safetensors`")
    a("")
    a("Reference = Hugging Face transformers `MiniMaxM2ForCausalLM`, float32, eager attention, eager experts, "
      "built from the folder's own config.json and loaded with the folder's weights **dequantized in float32** "
      "(FP8: code × scale; int4: CT `decompress` fed the scale as f32; int8: q × scale — each product is exact "
      "in f32), mapped from the official names to transformers v5's fused `mlp.experts.gate_up_proj` "
      "([w1; w3]) / `down_proj` (w2) and `mlp.gate` by an explicit table. Ids are I32, values F32. "
      "`__metadata__` has one key, `mmd_fixture`, a JSON string with the package versions, the folder and the "
      "seed (one key because safetensors writes metadata in hash-map order, which would break "
      "byte-identical regeneration).")
    a("")
    a("| tensor | shape | meaning |")
    a("|---|---|---|")
    a(f"| `prompt.N.ids` | [T] | N = 0,1,2; seeded random token ids, T = {', '.join(map(str, prompt_lens))} |")
    a("| `prompt.N.logits` | [T, vocab] | logits at every position of the prompt (causal, positions 0..T-1) |")
    a("| `prompt.N.logits_emulated` | [T, vocab] | only in the kvfp8 and int8 goldens: logits with runtime "
      "quantization emulated by the numpy reference (below) |")
    a("| `prompt.N.route_gap` | [2, T] | per layer and token: selection key (sigmoid + bias) of the k-th chosen "
      "expert minus that of the best unchosen one (numpy reference). Small values = routing near-tie: an engine "
      "with different rounding may legitimately pick another expert there |")
    a(f"| `greedy.N.ids` | [{steps}] | greedy continuation of prompt N from the HF model, full recomputation "
      "each step, no EOS stop |")
    a(f"| `greedy.N.margin` | [{steps}] | top-1 minus top-2 logit at each greedy step (near-ties are small) |")
    a("| `hidden.embed` | [5, 128] | prompt 0: embedding rows |")
    a("| `hidden.layer.L.attn_norm` | [5, 128] | input_layernorm output |")
    a("| `hidden.layer.L.attn_out` | [5, 128] | o_proj output (before the residual add) |")
    a("| `hidden.layer.L.moe_norm` | [5, 128] | post_attention_layernorm output |")
    a("| `hidden.layer.L.router_logits` | [5, 8] | router gate logits (before sigmoid and bias) |")
    a("| `hidden.layer.L.moe_out` | [5, 128] | MoE block output (before the residual add) |")
    a("| `hidden.layer.L.out` | [5, 128] | residual stream after layer L |")
    a("| `hidden.final_norm` | [5, 128] | final RMSNorm output (lm_head input) |")
    a("")
    a("Emulated variants:")
    a("")
    for k, v in EMULATED_TEXT.items():
        a(f"* `{k}`: {v}")
    a("")
    a("### How the goldens were checked (the run aborts otherwise)")
    a("")
    a("* An independent numpy float64 forward written from specs/minimax-m2.md §3 (embedding → per layer: "
      "RMSNorm, q/k/v, full-width q/k RMSNorm, partial NeoX RoPE on dims 0..31 with pairs (i, i+16), GQA causal "
      "softmax, o_proj, residual, RMSNorm, sigmoid router with the bias for selection only and renormalised "
      "unbiased weights, SwiGLU experts w2(silu(w1 x)·w3 x), residual → final norm → lm_head) agrees with HF "
      "to < 1e-4 relative (max |diff| / max |ref|) on every prompt logit, on the full prompt+continuation, "
      "and on every intermediate; greedy tokens agree wherever the margin > 1e-3.")
    a("* transformers 5.23 maps the legacy `rotary_dim` key to `rope_parameters.partial_rotary_factor = 0.5`; "
      "the generator asserts it and that `inv_freq` has 16 entries. Negative control: the same config "
      "without `rotary_dim` silently gives full-width RoPE and disagrees with the spec forward (logged below).")
    a("* Every int4 tensor is also decoded by numpy straight from quant-formats §2.2.3 (nibble k%8 of word k/8, "
      "+8 offset, zero points packed down N, g_idx) and must equal compressed-tensors' result bit for bit.")
    a("* FP8 KV calibration keys/values from the HF cache equal the numpy forward's post-RoPE keys.")
    a("* `AutoModelForCausalLM.from_pretrained(tiny-bf16)` — transformers' own conversion of the official "
      "names — reproduces the logits of the explicitly mapped model.")
    a("")
    a("Generator log of the run that produced these files:")
    a("")
    a("```")
    L.extend(logs)
    a("```")
    a("")
    a("Routing and greedy near-ties are real properties of a random tiny model: compare greedy tokens only up "
      "to the first step whose margin is below your tolerance, and expect large logit differences at positions "
      "whose `route_gap` is below your engine's router error (the emulated goldens show it: with FP8 KV or int8 "
      "activations a couple of (token, layer) pairs route differently and the logits there move a lot).")
    a("")
    a("## `numeric/numeric.safetensors`")
    a("")
    a("All values produced by torch (CPU) and compressed-tensors:")
    a("")
    a("| tensor | dtype / shape | meaning |")
    a("|---|---|---|")
    a("| `e4m3_decode` | F32 [256] | `torch.arange(256, uint8).view(float8_e4m3fn).float()` (NaN codes 0x7F/0xFF "
      "decode to f32 NaN 0x7FF00000/0xFFF00000: compare NaNs with isnan, not bits) |")
    a("| `e5m2_decode` | F32 [256] | same for float8_e5m2 (0x7C/0xFC = ±inf, 0x7D-0x7F/0xFD-0xFF NaN) |")
    a(f"| `samples` | F32 [{nsamples}] | every e4m3 and e5m2 value, every midpoint between neighbouring finite "
      "values (ties), ±448, (448,464), 464, (464,480), 480, 57344, 61440, 65504-65536, big values, ±inf, "
      "NaNs (incl. negative and payload NaNs), ±0, subnormal/normal boundaries of e4m3 (2^-9, 2^-6), e5m2 "
      "(2^-16, 2^-14), f16 (2^-24, 2^-14), bf16 (2^-133, 2^-126) with halves, 1.5×, 0.75× and f32 neighbours, "
      "bf16 ties (low 16 bits 0x8000, even and odd upper halves, ± one ulp), f16 ties, random normals at "
      "scales 1e-20 … 1e20 |")
    a("| `to_e4m3` / `to_e4m3_sat` | U8 [same] | `samples.to(float8_e4m3fn)` bits / after `clamp(-448, 448)` |")
    a("| `to_e5m2` / `to_e5m2_sat` | U8 [same] | `samples.to(float8_e5m2)` bits / after `clamp(-57344, 57344)` |")
    a("| `to_bf16`, `to_f16` | I16 [same] | bits of `samples.to(bfloat16)`, `samples.to(float16)` |")
    a("| `int4_values`, `int4_packed` | I8 [6, 20], I32 [6, 3] | CT `pack_to_int32(v, 4)` along dim 1 with K=20 "
      "(not a multiple of 8: padded with zero nibbles); row 0 starts with the spec's worked example "
      "[-8,7,0,1,-1,3,-3,2] → word 0xA5B798F0 |")
    a("| `int4_values_k64`, `int4_packed_k64` | I8 [4, 64], I32 [4, 8] | same, K a multiple of 8 |")
    a("| `zp_values`, `zp_packed` | I8 [13, 3], I32 [2, 3] | CT `pack_to_int32(zp, 4, packed_dim=0)`: zero points "
      "packed down N (nibble n%8 of word n/8), N=13 ragged |")
    a("")
    a("What torch 2.15 (CPU) does, as measured from these very tensors:")
    a("")
    for c in conv:
        a(f"* {c}")
    a("")
    a("In words: float→e4m3fn **saturates** (finite overflow and ±inf give ±448, 0x7E/0xFE), so `to_e4m3` and "
      "`to_e4m3_sat` are identical; float→e5m2 does **not** saturate (≥ 61440 — the midpoint to the next binade, "
      "rounded to even — and ±inf give ±inf 0x7C/0xFC), hence the clamped `to_e5m2_sat`; f16 overflows to ±inf "
      "from 65520 up. All conversions round to nearest, ties to even, including subnormals. NaN: e4m3/e5m2 give "
      "0x7F/0xFF keeping the sign; f16 keeps sign and the top payload bits (quiet); bf16 gives 0xFFFF for "
      "every NaN (the vectorised CPU path; the scalar c10 routine would give 0x7FC0) — C++ code should treat "
      "NaN bit patterns as unspecified and compare with isnan.")
    a("")
    return "\n".join(L) + "\n"
