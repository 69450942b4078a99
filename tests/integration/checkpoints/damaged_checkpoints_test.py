#!/usr/bin/env python3
"""Every damaged checkpoint of tools/damaged_checkpoints.py is refused cleanly, by both
`mmctl inspect` and a real `mmd`: a non-zero exit (not a signal), within TIME_BOUND_S seconds,
with a message holding every substring the variant expects (the file, tensor or field at
fault). Control variants must pass inspect. Variants are written one at a time into a temp
folder and removed after their run.

    damaged_checkpoints_test.py MMD MMCTL [--only SUBSTRING] [--no-mmd]

As root, the mode-000 variants run the tools under `setpriv` without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (root reads any file otherwise); without setpriv they are skipped, saying so.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(SOURCE_DIR / "tools"))
import damaged_checkpoints  # noqa: E402

# Generous for a 2-core machine shared with other builds; a hang (the FIFO) runs into it.
TIME_BOUND_S = 20.0
MIN_VARIANTS = 60


def drop_dac_prefix():
    """A command prefix under which root is subject to file permissions, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    probe = subprocess.run([setpriv, "--inh-caps=-dac_override,-dac_read_search",
                            "--bounding-set=-dac_override,-dac_read_search", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return [setpriv, "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]


def run(argv, timeout):
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    return code, (out + err).decode(errors="replace"), time.monotonic() - start


def check(tool, variant, code, text, elapsed):
    """The problems with one refusal, as a list of strings."""
    problems = []
    if code is None:
        problems.append(f"{tool} did not finish within {TIME_BOUND_S:.0f} s (hang)")
        return problems
    if code < 0:
        problems.append(f"{tool} died of signal {-code} ({signal.Signals(-code).name})")
    elif code == 0:
        problems.append(f"{tool} exited 0: the damage was not noticed")
    if elapsed > TIME_BOUND_S:
        problems.append(f"{tool} took {elapsed:.1f} s (bound {TIME_BOUND_S:.0f} s)")
    for needle in variant["expect"]:
        if needle not in text:
            problems.append(f"{tool}'s message lacks {needle!r}")
    if "AddressSanitizer" in text or "runtime error:" in text:
        problems.append(f"{tool} reported a sanitizer error")
    return problems


def main(argv):
    mmd, mmctl = argv[1], argv[2]
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    with_mmd = "--no-mmd" not in argv
    work = Path(tempfile.mkdtemp(prefix="mmd-damaged-"))
    corpus = damaged_checkpoints.corpus(work / "corpus")
    damaged = [v for v in corpus.variants if not v["control"]]
    if len(damaged) < MIN_VARIANTS and only is None:
        print(f"FAIL: only {len(damaged)} damaged variants (at least {MIN_VARIANTS})")
        return 1
    unreadable_prefix = drop_dac_prefix()
    failures, skipped, ran = [], [], 0
    try:
        for variant in corpus.variants:
            name = variant["name"]
            if only and only not in name:
                continue
            prefix = []
            if variant["needs_unreadable"]:
                if unreadable_prefix is None:
                    skipped.append(f"{name}: running as root without setpriv, mode 000 is readable")
                    continue
                prefix = unreadable_prefix
            folder = corpus.write(variant)
            try:
                code, text, elapsed = run(prefix + [mmctl, "inspect", str(folder)], TIME_BOUND_S)
                if variant["control"]:
                    problems = [] if code == 0 else [f"control failed inspect (exit {code}): {text[-400:]}"]
                else:
                    problems = check("mmctl inspect", variant, code, text, elapsed)
                if with_mmd and not variant["control"]:
                    sock = work / "mmd.sock"
                    argv_mmd = prefix + [mmd, "--model", str(folder), "--socket", str(sock),
                                         "--bus", "none", "--port", "0", "--threads", "1",
                                         "--kv-cache-dtype", "float32", "--kv-block-size", "4",
                                         "--num-kv-blocks", "64", "--max-model-len", "256"]
                    code_d, text_d, elapsed_d = run(argv_mmd, TIME_BOUND_S)
                    problems += check("mmd", variant, code_d, text_d, elapsed_d)
                    if problems:
                        text += "\n--- mmd ---\n" + text_d
                ran += 1
                status = "ok" if not problems else "FAIL"
                print(f"{status:4} {name:36} {variant['what']}", flush=True)
                if problems:
                    failures.append((name, problems, text))
            finally:
                damaged_checkpoints.remove_variant(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in skipped:
        print(f"SKIP {line}")
    for name, problems, text in failures:
        print(f"\n=== {name}")
        for p in problems:
            print(f"  - {p}")
        print("  output: " + text.strip().replace("\n", "\n          ")[-1500:])
    print(f"\n{ran} variants run ({len(damaged)} damaged in the corpus), {len(failures)} failed, "
          f"{len(skipped)} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
