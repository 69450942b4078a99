#!/usr/bin/env python3
"""The accuracy table of models/minimax-m2-tiny/README.md: lm-eval through mmd on every bundled
format, the same small multiple-choice and generation tasks (tests/eval/tasks). Each format is
served as published (its own KV cache dtype: FP8 where the checkpoint calibrates it) by a fresh
mmd on a free loopback port, and scored by lm-eval's local-completions with mmd's tokenizer.

Run with .venv-lmeval's python (tools/setup-lmeval-venv.sh) from a build with mmd:
  .venv-lmeval/bin/python tools/eval/lm_eval_formats.py [--build build/default] [--batch-size 4]
Prints a Markdown table (accuracy ± standard error, and seconds per format).
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORMATS = ["bf16", "fp8", "fp8-w4a16-g32", "fp8-w4a16-g128-kvfp8", "bf16-w4a16-g32-lastbf16",
           "w8a8-int8"]
TASKS = [("tiny_tool_reasoning", "acc,none", "multiple choice (acc)"),
         ("tiny_tool_reasoning_gen", "exact_match,none", "generation (exact match)")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    os.environ["MMD_BINARY_DIR"] = os.path.abspath(args.build)
    os.environ["MMD_SOURCE_DIR"] = ROOT
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "http"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "eval"))
    from test_lm_eval import run_lm_eval  # noqa: E402
    from test_openai_api import Daemon  # noqa: E402

    rows = []
    for fmt in FORMATS:
        model = os.path.join(ROOT, "models", "minimax-m2-tiny", fmt)
        daemon = Daemon("--threads", args.threads, "--kv-cache-dtype", "auto", model=model)
        try:
            started = time.time()
            out = tempfile.mkdtemp(prefix=f"mmd-lm-eval-{fmt}-")
            results = run_lm_eval(daemon.url, out, ",".join(t for t, _, _ in TASKS),
                                  batch_size=args.batch_size, model=fmt)["results"]
            cells = []
            for task, metric, _ in TASKS:
                r = results[task]
                stderr = r.get(metric.replace(",", "_stderr,"), 0.0)
                cells.append(f"{r[metric]:.3f} ± {stderr:.3f}")
            rows.append((fmt, cells, time.time() - started))
            print(f"{fmt}: {cells} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        finally:
            daemon.stop()
    print("| format | " + " | ".join(label for _, _, label in TASKS) + " | seconds |")
    print("|---|" + "---|" * len(TASKS) + "---|")
    for fmt, cells, seconds in rows:
        print(f"| `{fmt}` | " + " | ".join(cells) + f" | {seconds:.0f} |")


if __name__ == "__main__":
    main()
