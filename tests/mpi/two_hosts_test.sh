#!/bin/sh
# Two hosts on one machine: two network namespaces joined by a veth pair (10.77.x.1 and .2),
# mpirun in the first starting the second rank in the other through a launch agent that
# enters its namespace (in place of ssh), the ranks talking over real TCP. Checks the
# communicator there, then `mpirun -np 2 mmd -tp 2` across the two hosts against one rank.
# Needs root and `ip netns` (exit 77 = skipped otherwise).
#   two_hosts_test.sh MPIEXEC BUILD_DIR SOURCE_DIR
set -u
mpiexec="$1"; build="$2"; source="$3"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for ip netns"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip (iproute2)"; exit 77; }
tag="mmd$$"
dir="$(mktemp -d /tmp/mmd-hosts.XXXXXX)"
cleanup() {
  pkill -KILL -f "$dir/" 2>/dev/null
  ip netns del "$tag-h1" 2>/dev/null; ip netns del "$tag-h2" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done; exit 1; }

ip netns add "$tag-h1" && ip netns add "$tag-h2" || { echo "SKIP: cannot create network namespaces"; exit 77; }
net="10.77.$(( $$ % 250 ))"
ip link add "$tag-a" type veth peer name "$tag-b" || fail "veth"
ip link set "$tag-a" netns "$tag-h1" && ip link set "$tag-b" netns "$tag-h2" || fail "moving veth"
ip -n "$tag-h1" addr add "$net.1/24" dev "$tag-a" && ip -n "$tag-h2" addr add "$net.2/24" dev "$tag-b" || fail "addresses"
for h in h1 h2; do ip -n "$tag-$h" link set lo up; done
ip -n "$tag-h1" link set "$tag-a" up && ip -n "$tag-h2" link set "$tag-b" up || fail "links up"

# The launch agent mpirun calls as `agent HOST command...` (what ssh would do).
# Each "host" has its own TMPDIR: they share one file system and one hostname, so OpenMPI's
# session directories (under TMPDIR, named by hostname) would otherwise collide.
mkdir -p "$dir/tmp-h1" "$dir/tmp-h2"
cat >"$dir/agent.sh" <<AGENT
#!/bin/sh
host="\$1"; shift
TMPDIR="$dir/tmp-\$host" exec ip netns exec "$tag-\$host" sh -c "\$*"
AGENT
chmod +x "$dir/agent.sh"
run() {  # mpirun in host 1, rank 0 there and rank 1 on host 2, TCP only
  # rtc ^hwloc: the remote daemon (orted) otherwise maps a shared-memory topology at an
  # address that can collide with its stack (it crashed so once in hwloc_shmem_topology_write).
  TMPDIR="$dir/tmp-h1" ip netns exec "$tag-h1" "$mpiexec" -np 2 -H h1:1,h2:1 --mca plm_rsh_agent "$dir/agent.sh" --mca rtc ^hwloc \
    --mca btl self,tcp --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
    -x MMD_TEST_DISTINCT_NETNS=1 -x ASAN_OPTIONS "$@"
}

run "$build/tests/mpi/comm_mpi_test" >"$dir/comm.log" 2>&1 || fail "communicator tests across the hosts"
grep -q "RanksLiveOnDistinctHostsWhenAskedTo" "$dir/comm.log" || fail "the distinct-host test did not run"

model="$source/models/minimax-m2-tiny/bf16"
flags="--bus none --port 0 --threads 1 --kv-cache-dtype float32"
"$build/daemon/mmd" --model "$model" --socket "$dir/one.sock" $flags >"$dir/one.log" 2>&1 &
one=$!
for _ in $(seq 300); do [ -S "$dir/one.sock" ] && break; sleep 0.1; done
want="$("$build/client/mmctl/mmctl" generate "The weather in Paris" --max-tokens 24 --temperature 0 --socket "$dir/one.sock")" ||
  fail "one-rank generate"
kill -TERM $one; wait $one

run "$build/daemon/mmd" --model "$model" -tp 2 --socket "$dir/two.sock" $flags >"$dir/two.log" 2>&1 &
job=$!
for _ in $(seq 300); do [ -S "$dir/two.sock" ] && break; sleep 0.1; done
got="$("$build/client/mmctl/mmctl" generate "The weather in Paris" --max-tokens 24 --temperature 0 --socket "$dir/two.sock" --timeout 60)" ||
  fail "two-host generate"

[ "$got" = "$want" ] || fail "two hosts wrote '$got', one rank '$want'"
kill -TERM $job
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
kill -0 $job 2>/dev/null && fail "the two-host job did not stop"
echo "ok: communicator and mmd -tp 2 across two network namespaces over TCP"
