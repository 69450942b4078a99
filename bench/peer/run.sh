#!/usr/bin/env bash
# mmd side by side with llama.cpp on mmd's mid-size bench checkpoints, in one run.
# usage: bench/peer/run.sh LLAMA_SRC [--work DIR] [--mmd-build DIR] [--ckpt-dir DIR] [--rounds N]
#          [--threads N] [--no-mmd-build] [--runner-bench PATH] [--mmd-flags "FLAGS"]
#          [--llama-amx] [--autogroup-nice N] [--tag TEXT]
# LLAMA_SRC is a llama.cpp source tree, e.g. the one PyPI's llama-cpp-python sdist vendors:
#   pip download --no-deps --no-binary :all: llama-cpp-python -d /tmp/peer
#   tar -xzf /tmp/peer/llama_cpp_python-*.tar.gz -C /tmp/peer
#   bench/peer/run.sh /tmp/peer/llama_cpp_python-*/vendor/llama.cpp
# Everything it makes (llama.cpp build, Python venv, GGUF files, results) goes under --work
# (default /tmp/peer/work), never into this tree. Steps whose output exists are skipped.
# See bench/peer/README.md for what each figure is.
set -euo pipefail

usage() {
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repo="$(cd "$(dirname "$0")/../.." && pwd)"
peer="$repo/bench/peer"
src=""
work="/tmp/peer/work"
mmd_build="$repo/build/default"
ckpt_dir="/tmp/mmd-bench"
rounds=3
threads=2
build_mmd=1
llama_amx=0
autogroup_nice=""
runner_bench=""
mmd_flags=""
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --mmd-build) mmd_build="$2"; shift 2 ;;
    --ckpt-dir) ckpt_dir="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --no-mmd-build) build_mmd=0; shift ;;
    --llama-amx) llama_amx=1; shift ;;
    --autogroup-nice) autogroup_nice="$2"; shift 2 ;;
    --runner-bench) runner_bench="$2"; shift 2 ;;
    --mmd-flags) mmd_flags="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "run.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$src" ] || { echo "run.sh: one LLAMA_SRC only (got $src and $1)" >&2; exit 2; }
       src="$1"; shift ;;
  esac
done
[ -n "$src" ] || usage
[ -d "$src" ] || { echo "run.sh: LLAMA_SRC $src: no such folder" >&2; exit 2; }
src="$(cd "$src" && pwd)"
if [ ! -f "$src/convert_hf_to_gguf.py" ] || [ ! -d "$src/tools/llama-bench" ]; then
  echo "run.sh: $src is not a llama.cpp source tree (no convert_hf_to_gguf.py, tools/llama-bench)" >&2
  exit 2
fi
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --threads must be a positive integer" >&2; exit 2; }
if [ -n "$autogroup_nice" ] && ! [[ "$autogroup_nice" =~ ^-?[0-9]+$ && "$autogroup_nice" -ge -20 && "$autogroup_nice" -le 19 ]]; then
  echo "run.sh: --autogroup-nice must be an integer from -20 to 19" >&2
  exit 2
fi
work="$(realpath -m "$work")"
case "$work/" in
  "$repo"/*) echo "run.sh: --work $work is inside the mmd tree; put it outside (e.g. /tmp/peer/work)" >&2
             exit 2 ;;
esac
mkdir -p "$work"
mmd_build="$(cd "$mmd_build" && pwd)"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- mmd's bench binaries (under the project's shared build lock) -------------------------
mmd_targets=(runner_bench make_checkpoint mmd mmctl)
if [ "$build_mmd" = 1 ]; then
  log "building mmd targets ${mmd_targets[*]} in $mmd_build"
  flock /tmp/mmd-build.lock cmake --build "$mmd_build" --target "${mmd_targets[@]}" -j2 >&2
fi
runner_bench="${runner_bench:-$mmd_build/bench/runner_bench}"
make_checkpoint="$mmd_build/bench/make_checkpoint"
mmd="$mmd_build/daemon/mmd"
mmctl="$mmd_build/client/mmctl/mmctl"
for bin in "$runner_bench" "$make_checkpoint" "$mmd" "$mmctl"; do
  [ -x "$bin" ] || { echo "run.sh: $bin missing (build ${mmd_targets[*]})" >&2; exit 1; }
done

# --- llama.cpp, CPU only, native ISA, niced so it yields to other builds -------------------
# Without AMX: on this VM its AMX matmul (prefill of quantized weights) dies of SIGILL at its
# first tileloadd; --llama-amx keeps it where it works. Explicit -mno-* wins over -march=native.
lbuild="$work/llama-build"
ltools=(llama-bench llama-batched-bench llama-quantize)
amx_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
[ "$llama_amx" = 1 ] && amx_flags=""
log "configuring llama.cpp ($src) in $lbuild"
cmake -S "$src" -B "$lbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DCMAKE_C_FLAGS="$amx_flags" -DCMAKE_CXX_FLAGS="$amx_flags" \
  -DBUILD_SHARED_LIBS=OFF -DGGML_CCACHE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF \
  -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF >"$work/llama-configure.log"
log "building ${ltools[*]} (nice 19, -j2; a no-op when up to date)"
nice -n 19 cmake --build "$lbuild" --target "${ltools[@]}" -j2 >"$work/llama-build.log" ||
  { tail -20 "$work/llama-build.log" >&2; exit 1; }

# --- the converter's Python environment ----------------------------------------------------
venv="$work/venv"
py="$venv/bin/python"
if ! [ -x "$py" ] || ! "$py" -c 'import torch, transformers, numpy, sentencepiece' 2>/dev/null; then
  log "creating $venv with llama.cpp's converter requirements (torch: the converter imports it)"
  python3 -m venv "$venv"
  # The requirements file names llama.cpp's CPU-wheel index; where it is unreachable pip warns
  # and takes PyPI's wheel.
  "$py" -m pip install -r "$src/requirements/requirements-convert_hf_to_gguf.txt" >&2
fi

# --- checkpoints: mmd's, and GGUF files converted from the BF16 twin -----------------------
for name in mid-w4a16-fp8 mid-bf16; do
  if [ ! -f "$ckpt_dir/$name/config.json" ]; then
    log "writing $ckpt_dir/$name"
    extra=()
    [ "$name" = mid-bf16 ] && extra=(--bf16)
    "$make_checkpoint" "$ckpt_dir/$name" "${extra[@]}" >&2
  fi
done
# The converter needs a tokenizer, which the bench checkpoints lack: borrow the bundled tiny
# model's (its ids fit in the 16384 rows; the converter pads the vocabulary).
hf="$work/hf/mid-bf16"
mkdir -p "$hf"
ln -sf "$ckpt_dir/mid-bf16/model.safetensors" "$hf/model.safetensors"
cp "$ckpt_dir/mid-bf16/config.json" "$ckpt_dir/mid-bf16/generation_config.json" "$hf/"
cp "$repo/models/minimax-m2-tiny/bf16/tokenizer.json" \
   "$repo/models/minimax-m2-tiny/bf16/tokenizer_config.json" "$hf/"
gguf_dir="$work/gguf"
mkdir -p "$gguf_dir"
bf16_gguf="$gguf_dir/mid-BF16.gguf"
if [ ! -f "$bf16_gguf" ]; then
  log "converting $hf to $bf16_gguf"
  "$py" "$peer/convert.py" "$src" --outtype bf16 --outfile "$bf16_gguf.part" "$hf" >&2
  mv "$bf16_gguf.part" "$bf16_gguf"
fi
# The mixed-precision checkpoint itself cannot be converted (two compressed-tensors config
# groups); say so once, with the converter's own words.
if [ ! -f "$work/w4a16-convert.txt" ]; then
  hfq="$work/hf/mid-w4a16-fp8"
  mkdir -p "$hfq"
  ln -sf "$ckpt_dir/mid-w4a16-fp8/model.safetensors" "$hfq/model.safetensors"
  cp "$ckpt_dir/mid-w4a16-fp8/config.json" "$ckpt_dir/mid-w4a16-fp8/generation_config.json" "$hfq/"
  cp "$hf/tokenizer.json" "$hf/tokenizer_config.json" "$hfq/"
  if "$py" "$peer/convert.py" "$src" --outfile "$gguf_dir/w4a16.part" "$hfq" >"$work/w4a16-convert.log" 2>&1; then
    echo "converted (unexpected: compare it too)" >"$work/w4a16-convert.txt"
  else
    grep -E 'Error|error' "$work/w4a16-convert.log" | tail -1 >"$work/w4a16-convert.txt" || true
  fi
  rm -f "$gguf_dir/w4a16.part"
fi
quantize() {  # OUT TYPE [llama-quantize options...]
  local out="$gguf_dir/mid-$1.gguf" type="$2"
  shift 2
  if [ ! -f "$out" ]; then
    log "quantizing $out"
    "$lbuild/bin/llama-quantize" "$@" "$bf16_gguf" "$out.part" "$type" "$threads" >"$out.log" 2>&1 ||
      { tail -5 "$out.log" >&2; exit 1; }
    mv "$out.part" "$out"
  fi
}
quantize Q8_0 Q8_0
quantize Q4_0 Q4_0
quantize Q4_K_M Q4_K_M
# Byte-matched to mid-w4a16-fp8: experts Q4_0 (4.5 bits a weight, like INT4 g32 + a BF16
# scale), attention Q8_0 (8.5 against FP8's 8), head and embedding BF16, router F32.
quantize Q4_0-matched Q4_0 --tensor-type 'ffn_(gate|up|down)_exps=q4_0' \
  --tensor-type 'attn_(q|k|v|output)\.weight=q8_0' --output-tensor-type bf16 --token-embedding-type bf16
ggufs=(BF16 Q8_0 Q4_0 Q4_K_M Q4_0-matched)
gguf_files=()
for q in "${ggufs[@]}"; do gguf_files+=("$gguf_dir/mid-$q.gguf"); done

# --- the run ---------------------------------------------------------------------------------
stamp="$(date -u +%Y%m%d-%H%M%S)"
out="$work/results/$stamp${tag:+-$tag}"
mkdir -p "$out"
"$py" "$peer/gguf_bytes.py" "$src" "${gguf_files[@]}" >"$out/gguf.json"
cp "$work/w4a16-convert.txt" "$out/"
{
  echo "date_utc=$(date -u '+%Y-%m-%d %H:%M')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cores=$(nproc)"
  echo "threads=$threads"
  echo "rounds=$rounds"
  echo "mmd_commit=$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- kernels daemon 2>/dev/null || echo '+dirty')"
  echo "mmd_last_commit=$(git -C "$repo" log -1 --format=%s | cut -c1-100)"
  echo "mmd_binaries_built=$(date -u -r "$runner_bench" '+%Y-%m-%d %H:%M') (runner_bench), $(date -u -r "$mmd" '+%Y-%m-%d %H:%M') (mmd)"
  echo "runner_bench=$runner_bench"
  echo "mmd_flags=$mmd_flags"
  echo "llama_src=$src"
  echo "llama_version=commit $(sed -n 's/.*LLAMA_COMMIT = "\(.*\)".*/\1/p' "$lbuild/common/build-info.cpp" 2>/dev/null)"
} >"$out/meta.txt"

# runner_bench sizes its pool from the affinity mask: pin it to $threads CPUs when fewer.
pin=()
if [ "$threads" -lt "$(nproc)" ]; then pin=(taskset -c "0-$((threads - 1))"); fi

loadavg() { echo "$1 $(cut -d' ' -f1 /proc/loadavg)" >>"$out/load.txt"; }

# A tool that fails leaves its log and a gap in the table, not an aborted run.
step_llama_bench() {  # ROUND
  local q
  for q in "${ggufs[@]}"; do
    loadavg "r$1-llama-bench-$q"
    "$lbuild/bin/llama-bench" -m "$gguf_dir/mid-$q.gguf" -t "$threads" -p 128,512 -n 128 -r 1 \
      -o json >"$out/r$1-llama-bench-$q.json" 2>"$out/r$1-llama-bench-$q.log" ||
      log "llama-bench $q failed (exit $?): $out/r$1-llama-bench-$q.log"
  done
}

step_batched() {  # ROUND
  local q
  for q in "${ggufs[@]}"; do
    loadavg "r$1-batched-$q"
    "$lbuild/bin/llama-batched-bench" -m "$gguf_dir/mid-$q.gguf" -t "$threads" -tb "$threads" \
      -c 2048 -b 2048 -ub 512 -npp 32 -ntg 64 -npl 16 --output-format jsonl \
      >"$out/r$1-batched-$q.jsonl" 2>"$out/r$1-batched-$q.log" ||
      log "llama-batched-bench $q failed (exit $?): $out/r$1-batched-$q.log"
  done
}

step_runner() {  # ROUND
  loadavg "r$1-runner"
  "${pin[@]}" "$runner_bench" --ckpt="mid-w4a16-fp8:$ckpt_dir/mid-w4a16-fp8" \
    --ckpt="mid-bf16:$ckpt_dir/mid-bf16" \
    --benchmark_filter='^(triad|decode/mid-[^/]*/(1|16)/|prefill(128|512)/mid-)' \
    --benchmark_out="$out/r$1-runner.json" --benchmark_out_format=json >"$out/r$1-runner.log" 2>&1 ||
    log "runner_bench failed (exit $?): $out/r$1-runner.log"
}

daemon_pid=""
stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
  fi
}
# Other sessions' builds each get a scheduler autogroup's fair share, however niced their
# compilers are; spin-waiting thread pools (llama.cpp's OpenMP, mmd's) collapse when one of
# their threads is descheduled. --autogroup-nice raises this session's share while it runs.
old_autogroup_nice=""
restore_autogroup() {
  if [ -n "$old_autogroup_nice" ]; then
    echo "$old_autogroup_nice" >/proc/self/autogroup || true
    old_autogroup_nice=""
  fi
}
cleanup() { stop_daemon; restore_autogroup; }
trap cleanup EXIT
if [ -n "$autogroup_nice" ]; then
  old_autogroup_nice="$(sed -n 's/.* nice //p' /proc/self/autogroup)"
  echo "$autogroup_nice" >/proc/self/autogroup
  echo "autogroup_nice=$autogroup_nice" >>"$out/meta.txt"
fi

read -r -a mmd_extra <<<"$mmd_flags"

mmd_bench() {  # ROUND NAME WHAT mmctl-bench-options...
  local r="$1" name="$2" what="$3"
  shift 3
  "$mmctl" bench --json "$@" >"$out/r$r-mmd-$name-$what.json" 2>>"$out/r$r-mmd-$name.log" ||
    log "mmctl bench $name $what failed (exit $?): $out/r$r-mmd-$name.log"
}

step_daemon() {  # ROUND
  local name
  for name in mid-w4a16-fp8 mid-bf16; do
    export MMD_SOCKET="$out/mmd.sock"
    "$mmd" --model "$ckpt_dir/$name" --socket "$MMD_SOCKET" --bus none --port 0 --threads "$threads" \
      --kv-cache-dtype bfloat16 --kv-block-size 16 --max-num-seqs 64 --log-level warning \
      "${mmd_extra[@]}" >"$out/r$1-mmd-$name.log" 2>&1 &
    daemon_pid=$!
    # the socket appears once mmd has parsed its flags; status --wait then waits for the load
    for _ in $(seq 600); do
      [ -S "$MMD_SOCKET" ] || ! kill -0 "$daemon_pid" 2>/dev/null && break
      sleep 0.1
    done
    if ! "$mmctl" status --wait --timeout 120 --progress never >/dev/null 2>>"$out/r$1-mmd-$name.log"; then
      log "mmd on $name did not come up: $out/r$1-mmd-$name.log"
      stop_daemon
      continue
    fi
    loadavg "r$1-mmd-$name"
    mmd_bench "$1" "$name" warmup --concurrency 1 --num-requests 1 --prompt-tokens 16 --output-tokens 8
    # batch 1 decode: a 16-token prompt, 128 tokens out (the inter-token gap is one step)
    mmd_bench "$1" "$name" dec1 --concurrency 1 --num-requests 3 --prompt-tokens 16 --output-tokens 128
    # prompt processing: 512 random tokens, one token out (the time to it is the prefill)
    mmd_bench "$1" "$name" pp512 --concurrency 1 --num-requests 3 --prompt-tokens 512 --output-tokens 1
    # 16 streams at once, the same shape as llama-batched-bench -npp 32 -ntg 64 -npl 16
    mmd_bench "$1" "$name" c16 --concurrency 16 --num-requests 16 --prompt-tokens 32 --output-tokens 64
    stop_daemon
  done
}

log "results in $out ($rounds rounds, $threads threads)"
for r in $(seq "$rounds"); do
  log "round $r of $rounds"
  # Alternate the order so that a slow drift of the machine's load favours neither side.
  if [ $((r % 2)) = 1 ]; then
    step_llama_bench "$r"; step_runner "$r"; step_batched "$r"; step_daemon "$r"
  else
    step_daemon "$r"; step_batched "$r"; step_runner "$r"; step_llama_bench "$r"
  fi
done
loadavg end
python3 "$peer/summarize.py" "$out" | tee "$out/summary.md"
