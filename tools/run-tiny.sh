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

port="${MMD_PORT:-8000}"  # the OpenAI API, for other clients while the chat runs
port_hint="MMD_PORT=8001 tools/run-tiny.sh picks another port (MMD_PORT=0: no HTTP API)"
# Something already answering on the port would make mmd fail at start: say so first.
if [ "$port" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "run-tiny: port $port is taken (something listens on 127.0.0.1:$port); $port_hint" >&2
  exit 1
fi

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/mmd-tiny.XXXXXX")"
daemon=""
# Runs under set -e: the daemon may be gone already (Ctrl-C reached it too, or it failed), so
# neither kill nor wait may stop the clean-up before the folder is removed.
trap '[ -z "$daemon" ] || { kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; }; rm -rf "$run_dir"' EXIT
export MMD_SOCKET="$run_dir/mmd.sock"
"$build/daemon/mmd" --model "$model" --socket "$MMD_SOCKET" --bus none --port "$port" \
  --reasoning-parser minimax_m2 --enable-auto-tool-choice --tool-call-parser minimax_m2 \
  >"$run_dir/mmd.log" 2>&1 &
daemon=$!

# mmd stopped: its log, and the port hint when the port was its problem.
daemon_failed() {
  cat "$run_dir/mmd.log" >&2
  if grep -q "cannot listen on" "$run_dir/mmd.log"; then echo "run-tiny: $port_hint" >&2; fi
  exit 1
}

# The socket appears once mmd listens; mmctl then waits for the model with a progress bar.
for _ in $(seq 100); do
  [ -S "$MMD_SOCKET" ] && break
  kill -0 "$daemon" 2>/dev/null || daemon_failed
  sleep 0.1
done
"$build/client/mmctl/mmctl" status || { kill -0 "$daemon" 2>/dev/null || daemon_failed; exit 1; }
echo "mmd serves $model (also at http://127.0.0.1:$port/v1); type a message (/exit to leave)."
"$build/client/mmctl/mmctl" chat "$@"
