#!/usr/bin/env python3
"""Evaluate every exported format of the tiny MiniMax-M2.

* Loads each folder from its safetensors with an independent dequantizer written from
  quant-formats.md (fp8 block, compressed-tensors pack-quantized / float-quantized, Quark int8);
  the INT4 unpacking is cross-checked against compressed-tensors' own unpack_from_int32.
* Perplexity on the held-out set (TinyM2, fp32 activations) with the format's runtime numerics
  simulated: dynamic per-token-group FP8 activations for FP8 linears, per-token dynamic INT8
  activations for Quark W8A8, FP8 KV cache with the calibrated scales.
* Greedy decoding with transformers' MiniMaxM2ForCausalLM (weights dequantized, loaded through
  the official->HF name mapping): well-formed <think> rate, tool-call name / typed-argument
  accuracy, on held-in, held-out and unseen-entity prompts.
* Checks that the shipped tokenizer's apply_chat_template reproduces the generator's renderings.
* Writes golden-logit fixtures for each format.
"""
import argparse
import json
import os
import math
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from tiny_m2 import TinyM2, load_hf

HERE = Path(__file__).resolve().parent
LAST_POSITIONS = 2
FORMATS = ["bf16", "fp8", "fp8-w4a16-g32", "fp8-w4a16-g128-kvfp8", "bf16-w4a16-g32-lastbf16",
           "w8a8-int8"]


# ----------------------------------------------------------------------------- loading
def unpack_int4(packed, n, k):
    """[N, K/8] int32 -> [N, K] signed int4 values (element 0 in the low nibble, offset 8)."""
    w = packed.to(torch.int64) & 0xFFFFFFFF
    shifts = torch.arange(8, dtype=torch.int64) * 4
    u = (w[:, :, None] >> shifts) & 0xF
    return (u.reshape(n, -1)[:, :k] - 8).to(torch.int8)


def expand(scale, rows, cols, rb, cb):
    return scale.float().repeat_interleave(rb, 0).repeat_interleave(cb, 1)[:rows, :cols]


def load_format(folder):
    """Returns (config, official-name float32 state dict, runtime info)."""
    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    t = load_file(str(folder / "model.safetensors"))
    qc = cfg.get("quantization_config") or {}
    method = qc.get("quant_method")
    sd, info = {}, {"fp8_act": set(), "int8_act": set(), "kv": None, "method": method}
    for name, v in t.items():
        if name.endswith((".weight_scale_inv", ".weight_scale", ".weight_zero_point",
                          ".weight_shape", ".k_scale", ".v_scale")):
            continue
        if name.endswith(".weight_packed"):
            p = name[: -len(".weight_packed")]
            n, k = t[p + ".weight_shape"].tolist()
            q = unpack_int4(v, n, k)
            s = t[p + ".weight_scale"]
            g = k // s.shape[1]
            sd[p + ".weight"] = q.float() * expand(s, n, k, 1, g)
            continue
        if v.dtype == torch.float8_e4m3fn:
            p = name[: -len(".weight")]
            s = t.get(p + ".weight_scale_inv", t.get(p + ".weight_scale"))
            n, k = v.shape
            sd[name] = v.float() * expand(s, n, k, 128, 128)
            info["fp8_act"].add(p)  # activation_scheme dynamic / input_activations dynamic
            continue
        if v.dtype == torch.int8:
            p = name[: -len(".weight")]
            assert (t[p + ".weight_zero_point"] == 0).all()
            sd[name] = v.float() * t[p + ".weight_scale"].float()[:, None]
            info["int8_act"].add(p)
            continue
        sd[name] = v.float()
    if method == "compressed-tensors":
        g1 = qc["config_groups"].get("group_1")
        if not (g1 and g1.get("input_activations")):
            info["fp8_act"] = set()  # weight-only FP8 would be W8A16
    if qc.get("kv_cache_scheme"):
        L = cfg["num_hidden_layers"]
        info["kv"] = {i: (t[f"model.layers.{i}.self_attn.k_scale"].float().item(),
                          t[f"model.layers.{i}.self_attn.v_scale"].float().item()) for i in range(L)}
    return cfg, sd, info


def cross_check_ct(folder):
    """Our INT4 unpacking must agree with compressed-tensors' unpack_from_int32."""
    try:
        from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32
    except ImportError:
        return "compressed-tensors not installed"
    t = load_file(str(Path(folder) / "model.safetensors"))
    n_checked = 0
    for name, v in t.items():
        if name.endswith(".weight_packed"):
            shp = t[name[: -len("_packed")] + "_shape"].tolist()
            ref = unpack_from_int32(v, 4, torch.Size(shp))
            assert torch.equal(ref.to(torch.int8), unpack_int4(v, *shp)), name
            n_checked += 1
    return f"{n_checked} packed tensors identical to compressed-tensors unpack_from_int32"


# ----------------------------------------------------------------------------- runtime sim
def fp8_act_quant(x):
    """vLLM per-token-group (128) dynamic FP8: s = amax/448, x ~ fp8(x/s)*s."""
    shp = x.shape
    k = shp[-1]
    g = 128 if k % 128 == 0 else k
    xg = x.float().reshape(-1, k // g, g)
    s = xg.abs().amax(-1, keepdim=True).clamp(min=1e-10) / 448.0
    return ((xg / s).clamp(-448, 448).to(torch.float8_e4m3fn).float() * s).reshape(shp).to(x.dtype)


def int8_act_quant(x):
    """vLLM dynamic per-token INT8: multiply by 127/amax, round half-even, clamp."""
    xf = x.float()
    amax = xf.abs().amax(-1, keepdim=True)
    safe = torch.where(amax > 0, amax, torch.ones_like(amax))
    q = torch.round(xf * (127.0 / safe)).clamp(-128, 127)
    return (q * (safe / 127.0)).to(x.dtype)


def build_sim(cfg, sd, info, simulate=True):
    m = TinyM2(cfg)
    m.load_state_dict(sd)
    m.eval()
    if not simulate:
        return m
    for name, mod in m.named_modules():
        if name in info["fp8_act"]:
            mod.register_forward_pre_hook(lambda mod, a: (fp8_act_quant(a[0]),))
        elif name in info["int8_act"]:
            mod.register_forward_pre_hook(lambda mod, a: (int8_act_quant(a[0]),))
    if info["kv"]:
        for i, layer in enumerate(m.model.layers):
            layer.self_attn.kv_fp8_scales = info["kv"][i]
    return m


@torch.no_grad()
def perplexity(model, docs):
    nll, n = 0.0, 0
    for ids in docs:
        x = torch.tensor([ids])
        logits = model(x)[0, :-1].float()
        nll += F.cross_entropy(logits, x[0, 1:], reduction="sum").item()
        n += len(ids) - 1
    return math.exp(nll / n), n


# ----------------------------------------------------------------------------- grammar
def coerce(value, schema):
    """Schema-typed parameter value, as vLLM's minimax_m2 tool parser would produce it."""
    t = (schema or {}).get("type", "string")
    v = value.strip()
    if t == "integer":
        return int(v) if re.fullmatch(r"-?\d+", v) else ("<bad int>", v)
    if t == "number":
        try:
            f = float(v)
            return int(f) if f.is_integer() and re.fullmatch(r"-?\d+", v) else f
        except ValueError:
            return ("<bad number>", v)
    if t == "boolean":
        return {"true": True, "false": False}.get(v.lower(), ("<bad bool>", v))
    if t in ("object", "array"):
        try:
            return json.loads(v)
        except ValueError:
            return ("<bad json>", v)
    return v


def parse_output(text, tools):
    """Split a completion (generated after the `<think>\\n` prefill) per spec §6."""
    r = {"think_ok": False, "calls": None, "ended": text.endswith("[e~[")}
    body = text[: -len("[e~[")] if r["ended"] else text
    if body.count("</think>") == 1 and "<think>" not in body:
        reasoning, after = body.split("</think>")
        r["think_ok"] = bool(reasoning.strip()) and r["ended"]
    else:
        after = body.split("</think>")[-1]
    blocks = re.findall(r"<minimax:tool_call>(.*?)</minimax:tool_call>", after, re.S)
    if "<minimax:tool_call>" in after:
        schemas = {t["function"]["name"]: t["function"]["parameters"]["properties"] for t in tools or []}
        calls = []
        for b in blocks:
            for name, inner in re.findall(r'<invoke name="([^"]*)">(.*?)</invoke>', b, re.S):
                props = schemas.get(name, {})
                args = {k: coerce(v, props.get(k)) for k, v in
                        re.findall(r'<parameter name="([^"]*)">(.*?)</parameter>', inner, re.S)}
                calls.append({"name": name, "arguments": args})
        r["calls"] = calls
        r["tool_block_closed"] = bool(blocks)
    return r


def same_args(got, want):
    if set(got) != set(want):
        return False
    for k, w in want.items():
        g = got[k]
        if isinstance(w, bool) or isinstance(g, bool):
            if g is not w:
                return False
        elif isinstance(w, (int, float)):
            if not isinstance(g, (int, float)) or abs(g - w) > 1e-9:
                return False
        elif g != w:
            return False
    return True


def score(rows, outputs):
    s = {"n": len(rows), "think_ok": 0, "tool_n": 0, "tool_name_ok": 0, "tool_args_ok": 0,
         "chat_n": 0, "chat_no_call_ok": 0, "chat_with_tools_n": 0, "chat_with_tools_no_call": 0}
    for row, out in zip(rows, outputs):
        p = parse_output(out, row["tools"])
        s["think_ok"] += p["think_ok"]
        e = row["expect"]
        if e["kind"] == "tool":
            s["tool_n"] += 1
            calls = p["calls"] or []
            if len(calls) == 1 and calls[0]["name"] == e["name"] and p.get("tool_block_closed"):
                s["tool_name_ok"] += 1
                s["tool_args_ok"] += same_args(calls[0]["arguments"], e["arguments"])
        else:
            s["chat_n"] += 1
            s["chat_no_call_ok"] += p["calls"] is None
            if e.get("tools_offered"):
                s["chat_with_tools_n"] += 1
                s["chat_with_tools_no_call"] += p["calls"] is None
    rate = lambda a, b: round(100.0 * a / b, 1) if b else None
    s["think_ok_pct"] = rate(s["think_ok"], s["n"])
    s["tool_name_ok_pct"] = rate(s["tool_name_ok"], s["tool_n"])
    s["tool_args_ok_pct"] = rate(s["tool_args_ok"], s["tool_n"])
    s["chat_no_call_ok_pct"] = rate(s["chat_no_call_ok"], s["chat_n"])
    return s


@torch.no_grad()
def greedy(hf, tok, prompts, max_new, batch=1):
    # batch=1: no padding, so every prompt decodes exactly as it would alone.
    eos = tok.convert_tokens_to_ids("[e~[")
    outs = []
    tok.padding_side = "left"
    for i in range(0, len(prompts), batch):
        chunk = prompts[i:i + batch]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        g = hf.generate(**enc, max_new_tokens=max_new, do_sample=False, eos_token_id=eos,
                        pad_token_id=tok.pad_token_id)
        for row in g[:, enc["input_ids"].shape[1]:]:
            ids = row.tolist()
            if eos in ids:
                ids = ids[: ids.index(eos) + 1]
            outs.append(tok.decode(ids, skip_special_tokens=False))
    return outs


@torch.no_grad()
def sim_f64(cfg, sd, info):
    """The same simulation with every float in f64. Dynamic INT8 activation quantization is
    discontinuous: f32-rounding-level differences before it flip int8 codes next to a rounding
    tie, and one flipped code moves the logits visibly. The f32 and f64 runs of the *same*
    reference show how far that goes for this prompt; the engine test allows that much."""
    sd64 = {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}
    return build_sim(cfg, sd64, info, True).double()


def write_fixture(fx_dir, fmt, ids, plain, sim, sim64=None):
    """Golden logits (F32). `logits`: dequantized weights, fp32 activations; `*_runtime_sim`:
    with the format's activation / KV quantization simulated (omitted when identical). The last
    LAST_POSITIONS positions only: models/ must stay within 20 MB."""
    x = torch.tensor([ids])
    keep = slice(-LAST_POSITIONS, None)
    t = {"input_ids": x[0].to(torch.int32),
         "positions": torch.arange(len(ids), dtype=torch.int32)[keep].contiguous(),
         "logits": plain(x)[0, keep].float().contiguous()}
    ls = sim(x)[0, keep].float().contiguous()
    if not torch.equal(ls, t["logits"]):  # only formats with activation / KV quantization
        t["logits_runtime_sim"] = ls
        if sim64 is not None:
            t["logits_runtime_sim_f64"] = sim64(x)[0, keep].float().contiguous()
    save_file(t, str(fx_dir / f"{fmt}.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=str(HERE.parent.parent / "models" / "minimax-m2-tiny"))
    ap.add_argument("--data", default=str(HERE / "work" / "data"))
    ap.add_argument("--out", default=str(HERE / "work" / "eval.json"))
    ap.add_argument("--max-new", type=int, default=160)
    ap.add_argument("--n-prompts", type=int, default=100, help="prompts per set for BF16")
    ap.add_argument("--n-quant-prompts", type=int, default=100,
                    help="held-out prompts decoded for each quantized format")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--fixtures-only", action="store_true")
    ap.add_argument("--n-ppl-docs", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))  # 1 on a contended machine
    from transformers import AutoTokenizer
    root = Path(args.models)
    tok = AutoTokenizer.from_pretrained(str(root / "bf16"))
    # Results merge into an existing eval.json so formats can be evaluated in separate runs.
    res = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {"formats": {}}
    # 1. chat template of the shipped tokenizer == generator's rendering
    sets = {k: [json.loads(l) for l in open(Path(args.data) / f"prompts_{k}.jsonl")][: args.n_prompts]
            for k in ["heldin", "heldout", "unseen"]}
    mism = 0
    for rows in sets.values():
        for r in rows:
            p = tok.apply_chat_template(r["messages"], tools=r["tools"], tokenize=False,
                                        add_generation_prompt=True)
            mism += p != r["prompt"]
    res["chat_template_mismatches"] = mism
    ids = tok(sets["heldin"][0]["prompt"], add_special_tokens=False)["input_ids"]
    res["bos_count_first_prompt"] = ids.count(tok.convert_tokens_to_ids("]~!b["))

    docs = [tok(json.loads(l)["text"], add_special_tokens=False)["input_ids"][:1024]
            for l in open(Path(args.data) / "heldout.jsonl")][: args.n_ppl_docs]
    fixture_prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 7 + 5?"}], tokenize=False, add_generation_prompt=True)
    fx_ids = tok(fixture_prompt, add_special_tokens=False)["input_ids"]
    fx_dir = root / "fixtures"
    fx_dir.mkdir(exist_ok=True)
    fixtures = {"prompt": fixture_prompt, "input_ids": fx_ids, "greedy": {}}
    if (fx_dir / "fixtures.json").exists():
        fixtures["greedy"] = json.loads((fx_dir / "fixtures.json").read_text())["greedy"]
    tool_prompt = sets["heldout"][0]

    for fmt in args.formats.split(","):
        t0 = time.time()
        cfg, sd, info = load_format(root / fmt)
        if args.fixtures_only:
            write_fixture(fx_dir, fmt, fx_ids, build_sim(cfg, sd, info, False),
                          build_sim(cfg, sd, info, True),
                          sim_f64(cfg, sd, info) if info["int8_act"] else None)
            continue
        r = {"quant_method": info["method"]}
        if info["method"] == "compressed-tensors":
            r["ct_unpack_check"] = cross_check_ct(root / fmt)
        sim = build_sim(cfg, sd, info, simulate=True)
        r["ppl"], r["ppl_tokens"] = perplexity(sim, docs)
        plain = build_sim(cfg, sd, info, simulate=False)
        if info["fp8_act"] or info["int8_act"] or info["kv"]:
            r["ppl_weight_only"] = perplexity(plain, docs)[0]
        write_fixture(fx_dir, fmt, fx_ids, plain, sim,
                      sim_f64(cfg, sd, info) if info["int8_act"] else None)
        hf = load_hf(sd, cfg)
        if fmt == "bf16":
            # transformers must agree with TinyM2 on the shipped weights
            with torch.no_grad():
                d = (hf(input_ids=torch.tensor([fx_ids])).logits[0] - plain(torch.tensor([fx_ids]))[0]).abs().max()
            r["hf_vs_tiny_max_abs_logit_diff"] = d.item()
            r["ppl_hf_50docs"] = perplexity(lambda x: hf(input_ids=x).logits, docs[:50])[0]
            r["ppl_tiny_50docs"] = perplexity(plain, docs[:50])[0]
            for k, rows in sets.items():
                outs = greedy(hf, tok, [x["prompt"] for x in rows], args.max_new)
                r[f"gen_{k}"] = score(rows, outs)
                r[f"samples_{k}"] = [{"prompt_user": rr["messages"][-1]["content"], "output": o}
                                     for rr, o in list(zip(rows, outs))[:3]]
        else:
            rows = sets["heldout"][: args.n_quant_prompts]
            outs = greedy(hf, tok, [x["prompt"] for x in rows], args.max_new)
            r["gen_heldout"] = score(rows, outs)
        fixtures["greedy"][fmt] = greedy(hf, tok, [tool_prompt["prompt"]], args.max_new)[0]
        # one file per format so formats can be evaluated by concurrent runs
        (fx_dir / f"{fmt}.json").write_text(json.dumps(
            {"prompt": fixture_prompt, "input_ids": fx_ids, "tool_prompt": tool_prompt["prompt"],
             "tool_prompt_greedy": fixtures["greedy"][fmt]}, indent=1, ensure_ascii=False) + "\n")
        r["eval_seconds"] = round(time.time() - t0, 1)
        res["formats"][fmt] = r
        print(fmt, json.dumps({k: v for k, v in r.items() if not k.startswith("samples")}), flush=True)
        Path(args.out).write_text(json.dumps(res, indent=1, default=list))
    Path(args.out).write_text(json.dumps(res, indent=1, default=list))


if __name__ == "__main__":
    main()
