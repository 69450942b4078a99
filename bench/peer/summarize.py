#!/usr/bin/env python3
"""Medians and ratios of one bench/peer/run.sh results folder, as Markdown tables.

    summarize.py RESULTS_DIR

Reads what run.sh wrote there (runner_bench JSON, llama-bench JSON, llama-batched-bench JSON
lines, mmctl bench JSON, load.txt, gguf.json, meta.txt); standard library only.
"""
import json
import re
import statistics
import sys
from pathlib import Path

GGUFS = ["BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q4_0-matched"]
MMD = ["mid-w4a16-fp8", "mid-bf16"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def rounds_of(out):
    return sorted({int(m.group(1)) for p in out.iterdir() if (m := re.match(r"r(\d+)-", p.name))})


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def runner_round(out, r):
    """runner_bench: tok/s, weight bytes per token and the triad of that run."""
    data = read_json(out / f"r{r}-runner.json")
    res, triad = {}, None
    log = out / f"r{r}-runner.log"
    if log.exists():
        m = re.search(r"triad bandwidth ([\d.]+) GB/s", log.read_text())
        triad = float(m.group(1)) if m else None
    for b in (data or {}).get("benchmarks", []):
        parts = b["name"].split("/")
        if parts[0] == "decode":
            rate = b.get("tok/s")
            gbs = b.get("weightGB/s")
            res[(parts[1], f"dec{parts[2]}")] = rate
            if parts[2] == "1" and rate and gbs:
                res[(parts[1], "step_bytes")] = gbs * 1e9 / rate
        elif parts[0] in ("prefill128", "prefill512"):  # prefill512: runner_bench since bcc609f
            res[(parts[1], parts[0].replace("prefill", "pp"))] = b.get("tok/s")
    return res, triad


def llama_bench_round(out, r):
    res = {}
    tests = []
    for path in sorted(out.glob(f"r{r}-llama-bench-*.json")):
        tests += read_json(path) or []
    for t in tests:
        q = Path(t["model_filename"]).name.removeprefix("mid-").removesuffix(".gguf")
        if t["n_gen"] > 0 and t["n_prompt"] == 0:
            res[(q, "dec1")] = t["avg_ts"]
        elif t["n_prompt"] > 0 and t["n_gen"] == 0:
            res[(q, f"pp{t['n_prompt']}")] = t["avg_ts"]
    return res


def batched_round(out, r):
    res = {}
    for q in GGUFS:
        for name in (f"r{r}-batched-{q}.jsonl", f"r{r}-batched-{q}.log"):
            path = out / name
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                if line.startswith('{"n_kv_max"'):
                    row = json.loads(line)
                    res[(q, "c16_decode")] = row["speed_tg"]
                    res[(q, "c16_e2e")] = row["pl"] * row["tg"] / row["t"]
    return res


def daemon_round(out, r):
    res = {}
    for name in MMD:
        dec = read_json(out / f"r{r}-mmd-{name}-dec1.json")
        if dec and not dec["num_failed"]:
            res[(name, "d_dec1")] = 1000.0 / dec["inter_token_latency"]["p50_ms"]
        pp = read_json(out / f"r{r}-mmd-{name}-pp512.json")
        if pp and not pp["num_failed"]:
            res[(name, "d_pp512")] = pp["prompt_tokens"] * 1000.0 / pp["time_to_first_token"]["p50_ms"]
        c16 = read_json(out / f"r{r}-mmd-{name}-c16.json")
        if c16 and not c16["num_failed"]:
            res[(name, "c16_decode")] = c16["concurrency"] * 1000.0 / c16["inter_token_latency"]["p50_ms"]
            res[(name, "c16_e2e")] = c16["output_tokens_per_second"]
    return res


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    meta = dict(line.split("=", 1) for line in (out / "meta.txt").read_text().splitlines() if "=" in line)
    gguf = read_json(out / "gguf.json") or {}
    per_round, triads = [], []
    for r in rounds_of(out):
        res, triad = runner_round(out, r)
        res.update(llama_bench_round(out, r))
        res.update(batched_round(out, r))
        res.update(daemon_round(out, r))
        per_round.append(res)
        triads.append(triad)
    keys = {k for res in per_round for k in res}
    med = {k: median([res.get(k) for res in per_round]) for k in keys}
    triad = median(triads)
    loads = [float(line.split()[1]) for line in (out / "load.txt").read_text().splitlines()]

    print(f"Machine: {meta.get('cpu')}, {meta.get('cores')} cores; {meta.get('threads')} threads "
          f"each side. Date (UTC): {meta.get('date_utc')}. Rounds: {len(per_round)} (medians).")
    print(f"mmd {meta.get('mmd_commit')} (\"{meta.get('mmd_last_commit')}\"), binaries built "
          f"{meta.get('mmd_binaries_built')}; runner_bench `{meta.get('runner_bench')}`, mmd flags "
          f"`{meta.get('mmd_flags') or '(none)'}`; autogroup nice {meta.get('autogroup_nice', '0')}; llama.cpp "
          f"{meta.get('llama_version', '').strip()} from {meta.get('llama_src')}.")
    print(f"Triad bandwidth (runner_bench, each round): {', '.join(fmt(t) for t in triads)} GB/s, "
          f"median {fmt(triad)}. Load average (1 min) at each step: median {fmt(median(loads), 2)}, "
          f"{fmt(min(loads), 2)}–{fmt(max(loads), 2)}.")
    w4a16_note = (out / "w4a16-convert.txt").read_text().strip() if (out / "w4a16-convert.txt").exists() else ""
    if w4a16_note:
        print(f"convert_hf_to_gguf.py on mid-w4a16-fp8 itself: `{w4a16_note}`; the GGUF files are "
              "converted from its BF16 twin mid-bf16 and quantized with llama-quantize.")
    print()

    def frac(rate, step_bytes):
        return None if rate is None or step_bytes is None or not triad else rate * step_bytes / (triad * 1e9)

    print("| engine | model | MB read per token | decode b1 tok/s | of triad | prefill 128 tok/s "
          "| prefill 512 tok/s | 16 streams decode tok/s | 16 streams end-to-end tok/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in MMD:
        sb = med.get((name, "step_bytes"))
        print(f"| mmd runner_bench | {name} | {fmt(sb / 1e6 if sb else None)} | {fmt(med.get((name, 'dec1')))} "
              f"| {fmt(frac(med.get((name, 'dec1')), sb), 2)} | {fmt(med.get((name, 'pp128')))} "
              f"| {fmt(med.get((name, 'pp512')))} "
              f"| {fmt(med.get((name, 'dec16')))} (one batch) | – |")
        print(f"| mmd daemon (mmctl bench) | {name} | | {fmt(med.get((name, 'd_dec1')))} "
              f"| {fmt(frac(med.get((name, 'd_dec1')), sb), 2)} | – | {fmt(med.get((name, 'd_pp512')))} "
              f"| {fmt(med.get((name, 'c16_decode')))} | {fmt(med.get((name, 'c16_e2e')))} |")
    for q in GGUFS:
        sb = gguf.get(f"mid-{q}.gguf", {}).get("step_bytes")
        print(f"| llama.cpp | {q} | {fmt(sb / 1e6 if sb else None)} | {fmt(med.get((q, 'dec1')))} "
              f"| {fmt(frac(med.get((q, 'dec1')), sb), 2)} | {fmt(med.get((q, 'pp128')))} "
              f"| {fmt(med.get((q, 'pp512')))} | {fmt(med.get((q, 'c16_decode')))} "
              f"| {fmt(med.get((q, 'c16_e2e')))} |")
    print()

    w, b = "mid-w4a16-fp8", "mid-bf16"
    rows = [
        ("decode b1: W4A16+FP8 (runner) / Q4_0", (w, "dec1"), ("Q4_0", "dec1"), "≥ 1.0"),
        ("decode b1: W4A16+FP8 (runner) / Q4_0-matched", (w, "dec1"), ("Q4_0-matched", "dec1"), "≥ 1.4"),
        ("decode b1: W4A16+FP8 (runner) / Q4_K_M", (w, "dec1"), ("Q4_K_M", "dec1"), ""),
        ("decode b1: W4A16+FP8 (runner) / Q8_0", (w, "dec1"), ("Q8_0", "dec1"), ""),
        ("decode b1: W4A16+FP8 (runner) / mmd BF16 (runner)", (w, "dec1"), (b, "dec1"), "≥ 2.0"),
        ("decode b1: BF16 (runner) / BF16", (b, "dec1"), ("BF16", "dec1"), "≥ 1.0"),
        ("decode b1: W4A16+FP8 (daemon) / Q4_0", (w, "d_dec1"), ("Q4_0", "dec1"), ""),
        ("decode b1: BF16 (daemon) / BF16", (b, "d_dec1"), ("BF16", "dec1"), ""),
        ("prefill 128: W4A16+FP8 (runner) / Q4_0", (w, "pp128"), ("Q4_0", "pp128"), "≥ 1.0"),
        ("prefill 128: BF16 (runner) / BF16", (b, "pp128"), ("BF16", "pp128"), "≥ 1.0"),
        ("prefill 512: W4A16+FP8 (runner) / Q4_0", (w, "pp512"), ("Q4_0", "pp512"), "≥ 1.0"),
        ("prefill 512: BF16 (runner) / BF16", (b, "pp512"), ("BF16", "pp512"), "≥ 1.0"),
        ("prefill 512: W4A16+FP8 (daemon) / Q4_0", (w, "d_pp512"), ("Q4_0", "pp512"), "≥ 1.0"),
        ("prefill 512: BF16 (daemon) / BF16", (b, "d_pp512"), ("BF16", "pp512"), "≥ 1.0"),
        ("16 streams decode: W4A16+FP8 (daemon) / Q4_0 batched", (w, "c16_decode"), ("Q4_0", "c16_decode"), "≥ 1.0"),
        ("16 streams decode: BF16 (daemon) / BF16 batched", (b, "c16_decode"), ("BF16", "c16_decode"), ""),
        ("16 streams end-to-end: W4A16+FP8 (daemon) / Q4_0 batched", (w, "c16_e2e"), ("Q4_0", "c16_e2e"), ""),
        ("16 streams end-to-end: BF16 (daemon) / BF16 batched", (b, "c16_e2e"), ("BF16", "c16_e2e"), ""),
    ]
    print("| ratio | median | per round | target |")
    print("| --- | --- | --- | --- |")
    for label, num, den, target in rows:
        per = [ratio(res.get(num), res.get(den)) for res in per_round]
        print(f"| {label} | **{fmt(ratio(med.get(num), med.get(den)), 2)}** "
              f"| {', '.join(fmt(p, 2) for p in per)} | {target} |")
    sb = med.get((w, "step_bytes"))
    print(f"| W4A16+FP8 decode b1 (runner), fraction of the triad | **{fmt(frac(med.get((w, 'dec1')), sb), 2)}** "
          "| | ≥ 0.6 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
