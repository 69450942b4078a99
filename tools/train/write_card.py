#!/usr/bin/env python3
"""Write models/minimax-m2-tiny/README.md (the model card) from the run's JSON reports."""
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent / "models" / "minimax-m2-tiny"
W = HERE / "work"

FORMAT_ROWS = [
    ("bf16", "BF16 (router F32)", "none (reference)", "—"),
    ("fp8", "official MiniMax FP8 (`quant_method: fp8`)",
     "attention + experts: F8_E4M3, 128×128 block `weight_scale_inv` F32; dynamic FP8 activations",
     "round-to-nearest (amax/448 per tile)"),
    ("fp8-w4a16-g32", "compressed-tensors mixed-precision",
     "attention FP8 block (copied from `fp8/`, `weight_scale`); experts INT4 W4A16 group 32 pack-quantized",
     "llm-compressor AWQ, seed cards 000/001 recipe"),
    ("fp8-w4a16-g128-kvfp8", "compressed-tensors mixed-precision + `kv_cache_scheme`",
     "attention FP8 block; experts INT4 W4A16 group 128; FP8 KV cache with calibrated `self_attn.k_scale/v_scale`",
     "llm-compressor AWQ (g128), seed card 003 layout; KV scales amax/448"),
    ("bf16-w4a16-g32-lastbf16", "compressed-tensors pack-quantized",
     "attention BF16; experts INT4 W4A16 group 32 except the last layer's experts (BF16)",
     "llm-compressor AWQ, seed card 004 recipe (last 1 of 4 layers kept, as its last 4 of 62)"),
    ("w8a8-int8", "AMD Quark `ptpc_int8` (`quant_method: quark`)",
     "attention + experts: I8 `weight`, F32 per-channel `weight_scale` [N], I8 `weight_zero_point` [N]; dynamic per-token INT8 activations",
     "round-to-nearest (amax/127 per channel)"),
]


def size(p):
    return sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file())


def main():
    cfg = json.loads((ROOT / "bf16" / "config.json").read_text())
    ts = json.loads((W / "ckpt" / "train_summary.json").read_text())
    # eval.json plus eval_<format>.json from concurrent per-format runs
    ev = {"formats": {}}
    for p in sorted(W.glob("eval*.json")):
        e = json.loads(p.read_text())
        ev["formats"].update(e.pop("formats"))
        ev.update(e)
    ex = json.loads((W / "export_report.json").read_text())
    log = [json.loads(l) for l in open(W / "ckpt" / "train_log.jsonl")]
    f = ev["formats"]
    bf = f["bf16"]
    L = []
    a = L.append
    a("# minimax-m2-tiny\n")
    a("A tiny `MiniMaxM2ForCausalLM` trained from scratch on this project's build machine (CPU) to "
      "speak the MiniMax-M2 chat grammar: `]~b]` role blocks, a `<think>` reasoning block, and "
      "`<minimax:tool_call>` / `<invoke>` / `<parameter>` tool calls with typed arguments. Same "
      "architecture, config keys and on-disk tensor names as MiniMaxAI/MiniMax-M2, just small; "
      "it is mmd's default model and the model of its end-to-end tests. It is a test article: "
      "it knows a handful of tools and a fortune-cookie's worth of English, nothing more.\n")
    a("Everything here is produced by `tools/train/run_all.sh` (see tools/train/README.md).\n")
    a("## Architecture\n")
    a("| field | value | real M2 |\n|---|---|---|")
    for k, real in [("hidden_size", 3072), ("num_hidden_layers", 62), ("num_attention_heads", 48),
                    ("num_key_value_heads", 8), ("head_dim", 128), ("rotary_dim", 64),
                    ("intermediate_size", 1536), ("num_local_experts", 256),
                    ("num_experts_per_tok", 8), ("vocab_size", 200064)]:
        a(f"| `{k}` | {cfg[k]} | {real} |")
    a("")
    a(f"Parameters: {ts['params']:,}. Partial NeoX RoPE over the first `rotary_dim` dims of each "
      "head (theta 5e6), full-width q/k RMSNorm (`qk_norm_type: per_layer`), sigmoid router with "
      "`e_score_correction_bias` used for expert selection only, top-k weights renormalised, no "
      "shared expert, untied `lm_head`. The tokenizer has 1984 byte-level BPE tokens plus the 54 "
      "MiniMax special tokens at ids 1984–2037 (in the real model's order); the config's vocab of "
      "2048 leaves 10 padding rows, as 200064 does for the real 200054 tokens. "
      f"`]~!b[` = {cfg['bos_token_id']} (BOS, emitted by the template), `[e~[` = "
      f"{cfg['eos_token_id']} (EOS / stop).\n")
    a("Router weights and `e_score_correction_bias` are F32 in every format. The bias is a buffer "
      "(not a gradient parameter, as in transformers) trained by the auxiliary-loss-free rule: "
      "after each step every layer's bias moves ±1e-3 towards equal expert load.\n")
    a("transformers v5 loads this layout only through a name mapping (its MiniMaxM2 fuses "
      "experts into `mlp.experts.gate_up_proj/down_proj` and renames the router to `mlp.gate`): "
      "`tools/train/tiny_m2.py:to_hf_state_dict`. With this config (`rotary_dim` → "
      "`rope_parameters.partial_rotary_factor` = "
      f"{cfg['rotary_dim'] / cfg['head_dim']}) transformers applies the same partial RoPE and "
      "full-width q/k norm: logits of transformers and of the training module on the shipped BF16 "
      f"weights differ by at most {bf.get('hf_vs_tiny_max_abs_logit_diff', float('nan')):.2g}.\n")
    a("## Data\n")
    a("Generated by `tools/train/gen_data.py` (seed 1234), rendered with the real MiniMax-M2 chat "
      "template (`chat_template.jinja`, sha256 967ff7e3…, byte-identical to shared/specs/data) in "
      "transformers' Jinja environment:\n")
    a("* 55 % single-tool conversations: system prompt (+ optional `current_date`), 1–3 tool "
      "declarations (the needed tool + distractors, shuffled), a user request, an assistant turn "
      "with reasoning and one `<invoke>` with typed parameters (string / integer / number / "
      "boolean / enum), the tool's JSON result, and a final answer with reasoning. Tools: "
      "`get_weather`, `calculate`, `convert_units`, `get_time`, `read_file`, `search_files`, "
      "`set_reminder`.")
    a("* 5 % parallel calls (two `<invoke>` blocks in one `<minimax:tool_call>`).")
    a("* 22 % chat without a fitting tool (tools offered half of the time): quotes from "
      "fortunes, small talk, mental arithmetic; 15 % of them multi-turn (the template drops the "
      "earlier turn's reasoning).")
    a("* 18 % plain English: three fortunes from the Debian `fortunes` package (non-offensive "
      "databases, printable ASCII, 40–400 characters), no chat markup; 10 % of fortunes are held "
      "out.\n")
    a(f"Training corpus: {ts['train_tokens_in_corpus']:,} tokens (14,000 documents). Held-out "
      f"perplexity set: 400 documents from a different seed ({bf['ppl_tokens']:,} tokens).\n")
    a("## Training\n")
    ta = ts["args"]
    schedule = (f"cosine to 10 % over {ta['steps']} steps (step-based, reproducible)"
                if ta.get("steps", 0) > 0 else
                f"cosine to 10 % over a wall-clock budget of {ta['minutes']:g} min")
    a(f"`tools/train/train.py`: AdamW (β 0.9/0.95, wd 0.05), peak LR {ta['lr']:g}, 40 warm-up steps "
      f"then {schedule}, batch {ta['batch']} × {ta['seq']} tokens (whole documents packed, "
      f"block-diagonal attention mask), loss on every token, {ta['threads']} torch threads on the "
      f"2-core build machine: {ts['steps']} steps, "
      f"{ts['steps'] * ts['tokens_per_step']:,} tokens seen (≈ "
      f"{ts['steps'] * ts['tokens_per_step'] / ts['train_tokens_in_corpus']:.2f} epochs), "
      f"{ts['train_seconds'] / 60:.1f} min of wall clock (≈ 0.65 s per step when the machine is "
      f"otherwise idle).")
    last = log[-5:]
    a(f"Training loss (last logged batches): {', '.join(str(r['loss']) for r in last)}; held-out "
      f"perplexity {bf['ppl']:.3f} (mean NLL {__import__('math').log(bf['ppl']):.3f} nats/token).\n")
    a("## Formats\n")
    a("Each folder is a complete checkpoint: `config.json` (with the format's "
      "`quantization_config`), `model.safetensors` (official tensor names), `tokenizer.json`, "
      "`tokenizer_config.json`, `chat_template.jinja`, `generation_config.json` (eos "
      f"{cfg['eos_token_id']}, temperature 1.0, top_p 0.95, top_k 40).\n")
    a("| folder | format | what is quantized | method | size |\n|---|---|---|---|---|")
    for name, fmt, what, how in FORMAT_ROWS:
        a(f"| `{name}/` | {fmt} | {what} | {how} | {size(ROOT / name) / 1e6:.2f} MB |")
    a(f"\nAll formats together: {sum(size(ROOT / r[0]) for r in FORMAT_ROWS) / 1e6:.2f} MB.\n")
    a("### AWQ (llm-compressor)\n")
    a("The three W4A16 folders were produced by llm-compressor 0.14.0.1 `oneshot` + "
      "`AWQModifier` with the seed cards' recipe: targets "
      "`re:.*block_sparse_moe\\.experts\\.\\d+\\.(w1|w2|w3)$` (all experts), 4-bit symmetric "
      "int, `strategy: group`, group 32 or 128, mappings `post_attention_layernorm → [w1, w3]` "
      "and `w3 → w2`, `duo_scaling: true` (observer `memoryless_minmax` as in card 000 for "
      "`fp8-w4a16-g32`, `minmax` otherwise); `bf16-w4a16-g32-lastbf16` adds seed card 004's "
      "ignore list (lm_head, embed_tokens, self_attn, router, the last layer's experts). It ran "
      "on CPU on `tools/train/tiny_m2.py`, whose module names are the checkpoint names, so the "
      "recipe regexes match verbatim. Two adaptations, both in `export.py`: llm-compressor's "
      "activation cache calls `Tensor.pin_memory()`, which requires an NVIDIA driver, so it is "
      "made a no-op on this CPU-only machine; and the router is compensated for the smoothing "
      "of `post_attention_layernorm` (its F32 columns multiplied by the AWQ scales), which the "
      "recipe's mapping otherwise leaves uncompensated (quant-formats.md §5 item 7, fixed "
      "upstream by llm-compressor PR #2451). Search grid: "
      f"`n_grid: {ex.get('n_grid', 20)}` (llm-compressor's default is 20; the cards do not set "
      f"it); calibration set below. Scales are BF16. `export.py --rtn` is a "
      "round-to-nearest fallback (compressed-tensors `quantize` + `pack_to_int32`) for machines "
      "where llm-compressor cannot run; it was not used for the shipped folders.\n")
    a(f"Calibration set (AWQ and the FP8 KV scales): {ex['n_calib_samples']} documents "
      f"({ex['n_calib_tokens']:,} tokens) from the training distribution. In the AWQ path every "
      "expert runs on every token (its output is used only where it is routed), so every expert "
      f"receives all {ex['n_calib_tokens']:,} calibration tokens — the point of llm-compressor "
      "PR #2171 that the seed cards insist on. Tokens *routed* to each expert (top-2 with the "
      "selection bias):\n")
    tables = [("calibration set", ex["n_calib_tokens"], ex["routed_tokens_per_expert"])]
    if "routed_tokens_per_expert_routing_docs" in ex:
        tables.append((f"{ex['n_routing_docs']} documents of the same distribution",
                       ex["n_routing_tokens"], ex["routed_tokens_per_expert_routing_docs"]))
    for title, ntok, rt in tables:
        a(f"Routed tokens, {title} ({ntok:,} tokens × top-{cfg['num_experts_per_tok']}):\n")
        a("| layer | " + " | ".join(f"e{e}" for e in range(len(rt[0]))) + " |")
        a("|---|" + "---|" * len(rt[0]))
        for i, row in enumerate(rt):
            a(f"| {i} | " + " | ".join(str(x) for x in row) + " |")
        a("")
    if "kv_scales" in ex:
        a("FP8 KV scales (amax/448 of k after q/k-norm + RoPE and of v, over the calibration set): "
          + "; ".join(f"layer {i}: k {k:.4g}, v {v:.4g}" for i, (k, v) in ex["kv_scales"].items())
          + ".\n")
    a("## Accuracy recovery (held-out perplexity)\n")
    a("Perplexity on the held-out set with each format's runtime numerics simulated in fp32 "
      "(dynamic per-token-group-128 FP8 activations for FP8 linears, dynamic per-token INT8 "
      "activations for W8A8, FP8 KV cache with the calibrated scales); the weight-only column "
      "dequantizes weights and keeps activations in fp32.\n")
    a("| format | PPL | Δ vs BF16 | weight-only PPL |\n|---|---|---|---|")
    for name, *_ in FORMAT_ROWS:
        if name not in f:
            continue
        r = f[name]
        wo = r.get("ppl_weight_only")
        a(f"| `{name}` | {r['ppl']:.4f} | {100 * (r['ppl'] / bf['ppl'] - 1):+.2f} % | "
          f"{wo:.4f} |" if wo else f"| `{name}` | {r['ppl']:.4f} | "
          f"{100 * (r['ppl'] / bf['ppl'] - 1):+.2f} % | = |")
    a("")
    a("## Grammar and tool-call evaluation (greedy)\n")
    a("Greedy decoding with transformers' `MiniMaxM2ForCausalLM` (weights dequantized), prompt = "
      "the official template with `add_generation_prompt` (ends `]~b]ai\\n<think>\\n`), up to "
      "120 new tokens, stop at `[e~[`. *think ok*: exactly one `</think>`, non-empty reasoning, no "
      "stray `<think>`, ends with `[e~[`. *tool name*: exactly one `<invoke>` with the expected "
      "name inside a closed `<minimax:tool_call>` block. *typed args*: parameters coerced by the "
      "declared JSON-schema types equal the expected arguments exactly. *no call when none "
      "fits*: chat prompts (tools offered or not) answered without a tool call. Held-in = the "
      "system/tools/user of training conversations; held-out = new prompts (never in training) "
      "from the same generators; unseen = tool requests with cities, time zones and file names "
      "that never occur in training.\n")
    a("| format | prompt set | n | think ok | tool name | typed args | no call when none fits |")
    a("|---|---|---|---|---|---|---|")
    for name, *_ in FORMAT_ROWS:
        if name not in f:
            continue
        for k in ["heldin", "heldout", "unseen"]:
            s = f[name].get(f"gen_{k}")
            if not s:
                continue
            pct = lambda v: "—" if v is None else f"{v} %"
            a(f"| `{name}` | {k} | {s['n']} | {pct(s['think_ok_pct'])} | {pct(s['tool_name_ok_pct'])} "
              f"({s['tool_n']}) | {pct(s['tool_args_ok_pct'])} | {pct(s['chat_no_call_ok_pct'])} "
              f"({s['chat_n']}) |")
    a("")
    if bf.get("samples_heldout"):
        a("Sample (BF16, held-out prompt):\n")
        smp = bf["samples_heldout"][0]
        a("```\nuser: " + smp["prompt_user"] + "\n]~b]ai\n<think>\n" + smp["output"] + "\n```\n")
    a("## Fixtures\n")
    a("`fixtures/<format>.safetensors`: `input_ids` (I32) of the prompt in `fixtures/<format>.json` "
      "(the minimal template rendering of the user message \"What is 7 + 5?\"), `positions` "
      "(the last 2), and F32 logits at those positions: `logits` = dequantized weights with fp32 "
      "activations, `logits_runtime_sim` (formats with activation or KV quantization only) = "
      "with that quantization simulated as above. "
      "`fixtures/<format>.json` holds the prompt text and ids and each format's greedy "
      "continuation of a held-out tool prompt (transformers, dequantized weights).\n")
    a("## Limitations\n")
    held = bf.get("gen_heldout", {}).get("tool_args_ok_pct")
    unseen = bf.get("gen_unseen", {}).get("tool_args_ok_pct")
    a(f"* A 2.5 M-parameter model trained for well under an hour of a 2-core CPU: it copies "
      f"tool arguments correctly in {held} % of held-out tool prompts and {unseen} % of prompts "
      f"with unseen entities (table above); its English is fortune-cookie pastiche. Use it to "
      f"test engines, not to answer questions.")
    a("* Quantization figures are for a 2.5 M-parameter model with 128-wide matrices: one "
      "group-128 scale covers a whole row of an expert, so they say little about the real M2.")
    a(f"* Chat template check: the shipped tokenizer's `apply_chat_template` reproduced the "
      f"generator's rendering with {ev['chat_template_mismatches']} mismatches; exactly "
      f"{ev['bos_count_first_prompt']} BOS per rendered prompt.")
    (ROOT / "README.md").write_text("\n".join(L) + "\n")
    print((ROOT / "README.md").read_text()[:500])


if __name__ == "__main__":
    main()
