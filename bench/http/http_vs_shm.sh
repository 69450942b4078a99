#!/usr/bin/env bash
# The OpenAI HTTP path against the shared-memory path: the same `mmctl bench` load (random
# token-id prompts, greedy, ignore_eos) on one mmd, once over shm and once with --http, at 1
# and 64 concurrent streams, for 1-token requests (round trip) and 128-token streams.
#   bench/http/http_vs_shm.sh [BUILD_DIR] [MODEL_DIR]
# Prints one JSON object per run (mmctl bench --json) prefixed by its label.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/default}"
model="${2:-models/minimax-m2-tiny/bf16}"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/mmd-httpbench.XXXXXX")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/daemon/mmd" --model "$model" --socket "$run_dir/mmd.sock" --bus none --port "$port" \
  --threads 1 --kv-cache-dtype bfloat16 --kv-block-size 16 --max-num-seqs 64 \
  --log-level warning >"$run_dir/mmd.log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$run_dir"' EXIT
export MMD_SOCKET="$run_dir/mmd.sock"
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

mmctl="$build/client/mmctl/mmctl"
for concurrency in 1 64; do
  requests=$((concurrency == 1 ? 40 : 128))
  for output in 1 128; do
    for path in shm http; do
      extra=()
      [ "$path" = http ] && extra=(--http "http://127.0.0.1:$port")
      "$mmctl" bench --json --concurrency "$concurrency" --num-requests "$requests" \
        --prompt-tokens 4 --output-tokens "$output" "${extra[@]}" >/dev/null  # warm-up
      echo "== $path concurrency=$concurrency output=$output"
      "$mmctl" bench --json --concurrency "$concurrency" --num-requests "$requests" \
        --prompt-tokens 4 --output-tokens "$output" "${extra[@]}"
    done
  done
done
