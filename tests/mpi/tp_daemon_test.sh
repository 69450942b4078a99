#!/bin/sh
# `mpirun -np N mmd -tp N` (N = 2, 4) on the bundled model: it serves, its greedy output equals a
# one-rank mmd's, SIGTERM to mpirun stops every rank, and a follower rank that dies takes the
# job down (no hang) with mpirun naming it.
#   tp_daemon_test.sh MPIEXEC BUILD_DIR SOURCE_DIR
set -u
mpiexec="$1"; build="$2"; source="$3"
mmd="$build/daemon/mmd"; mmctl="$build/client/mmctl/mmctl"
model="$source/models/minimax-m2-tiny/bf16"
dir="$(mktemp -d /tmp/mmd-tp-test.XXXXXX)"
trap 'pkill -KILL -f "$dir/" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "== $f"; cat "$f"; done; exit 1; }
flags="--bus none --port 0 --threads 1 --kv-cache-dtype float32"

wait_socket() {
  for _ in $(seq 300); do [ -S "$1" ] && return 0; sleep 0.1; done
  return 1
}
generate() {
  "$mmctl" generate "The weather in Paris" --max-tokens 24 --temperature 0 --socket "$1" --timeout 60
}

# One rank: the reference output.
"$mmd" --model "$model" --socket "$dir/one.sock" $flags >"$dir/one.log" 2>&1 &
one=$!
wait_socket "$dir/one.sock" || fail "one-rank mmd did not start"
want="$(generate "$dir/one.sock")" || fail "one-rank generate failed"
kill -TERM $one; wait $one

# Two and four ranks (4 query heads, 2 KV heads: replicated at 4).
for np in 2 4; do
  sock="$dir/np$np.sock"
  "$mpiexec" -np $np "$mmd" --model "$model" -tp $np --socket "$sock" $flags >"$dir/np$np.log" 2>&1 &
  job=$!
  wait_socket "$sock" || fail "mpirun -np $np mmd did not start"
  got="$(generate "$sock")" || fail "$np-rank generate failed"
  [ "$got" = "$want" ] || fail "$np ranks wrote '$got', one rank '$want'"
  grep -q "tensor parallel: rank 0 of $np" "$dir/np$np.log" || fail "rank 0 did not report the group"
  kill -TERM $job
  for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  kill -0 $job 2>/dev/null && fail "SIGTERM did not stop the $np-rank job in 30 s"
  pgrep -f "$sock" >/dev/null && fail "a rank outlived the $np-rank job"
done

# The KV tiers with tensor parallelism: a block leaves the pool as every rank's share and comes
# back the same way. A pool of 64 blocks of 4 tokens holds one 201-token prompt: the second
# prompt evicts the first into the host tier (and on to disk), and the first again is restored
# from there, with the one-rank output; a new job on the same disk folder restores it too.
ids() { seq -s, "$1" "$2" | tr -d '\n'; }
first="$(ids 3 203)"; second="$(ids 7 207)"
tier_flags="--kv-block-size 4 --num-kv-blocks 64 --kv-host-cache-bytes 300000 --kv-disk-cache-bytes 64000000"
gen_ids() {
  "$mmctl" generate --tokens "$2" --max-tokens 8 --temperature 0 --ignore-eos --socket "$1" --timeout 60
}
restored() {
  "$mmctl" status --json --socket "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kv_tier_restored_tokens_total"])'
}
"$mmd" --model "$model" --socket "$dir/tier1.sock" $flags $tier_flags --kv-disk-cache-dir "$dir/kv-one" >"$dir/tier1.log" 2>&1 &
one=$!
wait_socket "$dir/tier1.sock" || fail "one-rank mmd with tiers did not start"
want_first="$(gen_ids "$dir/tier1.sock" "$first")" || fail "one-rank generate (tiers) failed"
kill -TERM $one; wait $one
for round in 1 2; do
  sock="$dir/tier-tp$round.sock"
  "$mpiexec" -np 2 "$mmd" --model "$model" -tp 2 --socket "$sock" $flags $tier_flags \
    --kv-disk-cache-dir "$dir/kv-tp" >"$dir/tier-tp$round.log" 2>&1 &
  job=$!
  wait_socket "$sock" || fail "2-rank mmd with tiers did not start (round $round)"
  if [ $round = 1 ]; then
    got="$(gen_ids "$sock" "$first")" || fail "2-rank generate (tiers) failed"
    [ "$got" = "$want_first" ] || fail "2 ranks with tiers wrote '$got', one rank '$want_first'"
    gen_ids "$sock" "$second" >/dev/null || fail "2-rank generate of the second prompt failed"
  fi
  got="$(gen_ids "$sock" "$first")" || fail "2-rank generate from the tiers failed (round $round)"
  [ "$got" = "$want_first" ] || fail "restored on 2 ranks: '$got', one rank computed '$want_first' (round $round)"
  n="$(restored "$sock")" || fail "mmctl status failed"
  [ "$n" -gt 0 ] || fail "round $round: nothing was restored from the tiers ($n tokens)"
  kill -TERM $job
  for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  kill -0 $job 2>/dev/null && fail "SIGTERM did not stop the 2-rank tier job"
done

# A follower dies: the job ends (no hang) and mpirun names the rank.
"$mpiexec" -np 2 "$mmd" --model "$model" -tp 2 --socket "$dir/three.sock" $flags >"$dir/three.log" 2>&1 &
job=$!
wait_socket "$dir/three.sock" || fail "third job did not start"
follower=""
for pid in $(pgrep -f "$dir/three.sock"); do
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && follower=$pid
done
[ -n "$follower" ] || fail "no rank-1 process found"
kill -KILL "$follower"
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
kill -0 $job 2>/dev/null && fail "the job hung after rank 1 died"
grep -Eq "Process name: \[\[[0-9]+,1\],1\]|rank 1" "$dir/three.log" || fail "mpirun did not name the dead rank"
echo "ok: 2 and 4 ranks = one rank; the KV tiers restore a 2-rank prefix (in the job, and after a restart from disk); SIGTERM stops the job; a dead follower ends it"
