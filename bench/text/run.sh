#!/bin/sh
# Runs mmd's tokenizer benchmark and Hugging Face tokenizers on the same corpus, in one run.
# Usage: bench/text/run.sh [build dir, default build/default] [python, default python3]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/default}
python=${2:-python3}
date -u
nproc
"$build/bench/bench_text_tokenizer" --benchmark_min_time=1
"$python" "$root/bench/text/hf_encode.py"
