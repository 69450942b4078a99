#!/usr/bin/env bash
# Starts mmd on the bundled tiny MiniMax-M2 (models/minimax-m2-tiny) on a private socket,
# opens `mmctl chat` against it, and stops the daemon when the chat ends.
#   tools/run-tiny.sh [FORMAT]     FORMAT: a folder of models/minimax-m2-tiny (default
#                                  fp8-w4a16-g32, the FP8-attention + INT4-AWQ hybrid)
# Extra mmctl arguments can follow the format, e.g. tools/run-tiny.sh bf16 --system "Be brief."
# The OpenAI API listens on 127.0.0.1:$MMD_PORT (default 8000) while the chat runs.
set -euo pipefail
cd "$(dirname "$0")/.."

format="${1:-fp8-w4a16-g32}"
shift || true
build=build/default
for binary in "$build/daemon/mmd" "$build/client/mmctl/mmctl"; do
  [ -x "$binary" ] || { echo "run-tiny: $binary is missing; build first (README.md)" >&2; exit 1; }
done
model="models/minimax-m2-tiny/$format"
[ -f "$model/config.json" ] || { echo "run-tiny: no model at $model" >&2; exit 1; }

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/mmd-tiny.XXXXXX")"
export MMD_SOCKET="$run_dir/mmd.sock"
port="${MMD_PORT:-8000}"  # the OpenAI API, for other clients while the chat runs
"$build/daemon/mmd" --model "$model" --socket "$MMD_SOCKET" --bus none --port "$port" \
  --reasoning-parser minimax_m2 --enable-auto-tool-choice --tool-call-parser minimax_m2 \
  >"$run_dir/mmd.log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$run_dir"' EXIT

# The socket appears once mmd listens; mmctl then waits for the model with a progress bar.
for _ in $(seq 100); do
  [ -S "$MMD_SOCKET" ] && break
  kill -0 "$daemon" 2>/dev/null || { cat "$run_dir/mmd.log" >&2; exit 1; }
  sleep 0.1
done
"$build/client/mmctl/mmctl" status
echo "mmd serves $model (also at http://127.0.0.1:$port/v1); type a message (/exit to leave)."
"$build/client/mmctl/mmctl" chat "$@"
