#!/usr/bin/env python3
"""Tests of bench/peer's scripts without llama.cpp: run.sh refuses bad arguments with a message
naming the argument (and creates nothing in the tree), summarize.py takes medians over rounds,
skips failed runs, computes the ratios and fractions of the triad it prints, and run.sh is
shellcheck-clean where shellcheck is installed. Run: test_peer.py (ctest: bench_peer_scripts)."""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUN = HERE / "run.sh"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run(["bash", str(RUN), *args], capture_output=True, text=True, timeout=60)


def test_arguments(tmp):
    p = run()
    check(p.returncode == 2 and "usage" in p.stderr, "no LLAMA_SRC: exit 2 with the usage")
    p = run(str(tmp / "missing"))
    check(p.returncode == 2 and "missing" in p.stderr, "a missing LLAMA_SRC is named, exit 2")
    p = run(str(tmp))
    check(p.returncode == 2 and "not a llama.cpp source tree" in p.stderr,
          "a folder without convert_hf_to_gguf.py is refused")
    fake = tmp / "llama.cpp"
    (fake / "tools" / "llama-bench").mkdir(parents=True)
    (fake / "convert_hf_to_gguf.py").write_text("")
    inside = REPO / "build" / "peer-test-should-not-exist"
    p = run(str(fake), "--work", str(inside))
    check(p.returncode == 2 and "inside the mmd tree" in p.stderr and not inside.exists(),
          "--work inside the tree is refused before anything is made there")
    for flag, value in (("--rounds", "0"), ("--threads", "two"), ("--autogroup-nice", "-30")):
        p = run(str(fake), flag, value, "--work", str(tmp / "w"))
        check(p.returncode == 2 and flag in p.stderr, f"{flag} {value} is refused, naming {flag}")
    p = run(str(fake), "--bogus")
    check(p.returncode == 2 and "--bogus" in p.stderr, "an unknown option is named")


def write_round(out, r, w_dec, b_dec, q4_dec, bf_dec, triad, failed_c16=False):
    (out / f"r{r}-runner.log").write_text(f"isa avx512, 2 threads, triad bandwidth {triad} GB/s\n")
    bench = []
    for name, rate in (("mid-w4a16-fp8", w_dec), ("mid-bf16", b_dec)):
        step = 130e6 if name == "mid-w4a16-fp8" else 320e6
        bench.append({"name": f"decode/{name}/1/real_time", "tok/s": rate,
                      "weightGB/s": rate * step / 1e9})
        bench.append({"name": f"decode/{name}/16/real_time", "tok/s": rate * 2})
        bench.append({"name": f"prefill128/{name}/real_time", "tok/s": rate * 3})
    (out / f"r{r}-runner.json").write_text(json.dumps({"benchmarks": bench}))
    for q, rate in (("Q4_0", q4_dec), ("BF16", bf_dec)):
        tests = [{"model_filename": f"/x/mid-{q}.gguf", "n_prompt": 0, "n_gen": 128, "avg_ts": rate},
                 {"model_filename": f"/x/mid-{q}.gguf", "n_prompt": 128, "n_gen": 0, "avg_ts": rate * 4},
                 {"model_filename": f"/x/mid-{q}.gguf", "n_prompt": 512, "n_gen": 0, "avg_ts": rate * 5}]
        (out / f"r{r}-llama-bench-{q}.json").write_text(json.dumps(tests))
        (out / f"r{r}-batched-{q}.jsonl").write_text(
            "main: log line\n" + json.dumps({"n_kv_max": 2048, "pp": 32, "tg": 64, "pl": 16,
                                             "speed_tg": rate * 3, "t": 16 * 64 / (rate * 2)}) + "\n")
    for name, rate in (("mid-w4a16-fp8", w_dec), ("mid-bf16", b_dec)):
        lat = {"p50_ms": 1000.0 / rate}
        (out / f"r{r}-mmd-{name}-dec1.json").write_text(json.dumps(
            {"num_failed": 0, "inter_token_latency": lat}))
        (out / f"r{r}-mmd-{name}-pp512.json").write_text(json.dumps(
            {"num_failed": 0, "prompt_tokens": 512, "time_to_first_token": {"p50_ms": 512.0}}))
        (out / f"r{r}-mmd-{name}-c16.json").write_text(json.dumps(
            {"num_failed": 3 if failed_c16 else 0, "concurrency": 16,
             "inter_token_latency": {"p50_ms": 16000.0 / (rate * 4)},
             "output_tokens_per_second": rate * 2.5}))


def test_summary(tmp):
    out = tmp / "results"
    out.mkdir()
    (out / "meta.txt").write_text("cpu=Test CPU\ncores=2\nthreads=2\ndate_utc=2026-12-01 23:00\n")
    (out / "load.txt").write_text("r1-runner 1.50\nr2-runner 2.50\nend 0.50\n")
    (out / "gguf.json").write_text(json.dumps({"mid-Q4_0.gguf": {"step_bytes": 100e6},
                                               "mid-BF16.gguf": {"step_bytes": 320e6}}))
    (out / "w4a16-convert.txt").write_text("NotImplementedError: two groups\n")
    # medians: W4A16 100, BF16 60, Q4_0 50, BF16 GGUF 40, triad 20 GB/s
    write_round(out, 1, 100, 60, 50, 40, 20.0)
    write_round(out, 2, 90, 50, 45, 30, 10.0, failed_c16=True)
    write_round(out, 3, 130, 70, 55, 50, 30.0)
    p = subprocess.run([sys.executable, str(HERE / "summarize.py"), str(out)],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "summarize.py exits 0 on a complete folder")
    text = p.stdout
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}
    check(rows.get("decode b1: W4A16+FP8 (runner) / Q4_0", [""])[0] == "**2.00**",
          "ratio of medians: 100 / 50 = 2.00")
    check(rows.get("decode b1: W4A16+FP8 (runner) / Q4_0", ["", ""])[1] == "2.00, 2.00, 2.36",
          "per-round ratios listed")
    check(rows.get("decode b1: BF16 (runner) / BF16", [""])[0] == "**1.50**", "BF16 60 / 40")
    check(rows.get("decode b1: W4A16+FP8 (runner) / mmd BF16 (runner)", [""])[0] == "**1.67**",
          "W4A16 over its own BF16 twin")
    # of triad: 100 tok/s x 130 MB over 20 GB/s = 0.65
    check(rows.get("W4A16+FP8 decode b1 (runner), fraction of the triad", [""])[0] == "**0.65**",
          "fraction of the median triad from mmd's own bytes per token")
    check("median 20.0" in text and "median 1.50, 0.50–2.50" in text,
          "the triad and load-average lines carry median and range")
    # round 2's 16-stream run had failures: its value is left out, median of 400 and 520 = 460
    check(rows.get("16 streams decode: W4A16+FP8 (daemon) / Q4_0 batched", [""])[0] == "**3.07**",
          "a failed mmctl bench run is left out (460 / 150)")
    check("NotImplementedError: two groups" in text, "the converter's refusal is quoted")
    (out / "r3-llama-bench-Q4_0.json").unlink()
    (out / "r2-llama-bench-Q4_0.json").write_text("not json")
    p = subprocess.run([sys.executable, str(HERE / "summarize.py"), str(out)],
                       capture_output=True, text=True, timeout=60)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in p.stdout.splitlines() if line.startswith("| ")}
    check(p.returncode == 0 and rows.get("decode b1: W4A16+FP8 (runner) / Q4_0", ["", ""])[1]
          == "2.00, –, –", "missing and unreadable llama-bench output leave gaps, not a crash")


def test_shellcheck():
    if not shutil.which("shellcheck"):
        print("skip shellcheck: not installed")
        return
    p = subprocess.run(["shellcheck", str(RUN)], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "run.sh is shellcheck-clean" + ("" if p.returncode == 0 else "\n" + p.stdout))


def main():
    with tempfile.TemporaryDirectory() as d:
        test_arguments(Path(d))
    with tempfile.TemporaryDirectory() as d:
        test_summary(Path(d))
    test_shellcheck()
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
