#!/bin/sh
# A dying rank ends the whole MPI job promptly (no hang) and mpirun names it.
#   rank_death_test.sh MPIEXEC BINARY
mpiexec="$1"
binary="$2"
out="$(timeout 60 "$mpiexec" -np 2 "$binary" 2>&1)"
rc=$?
echo "$out"
[ "$rc" -eq 124 ] && { echo "FAIL: the job hung after rank 1 died"; exit 1; }
[ "$rc" -eq 0 ] && { echo "FAIL: mpirun exited 0 although rank 1 died"; exit 1; }
# OpenMPI names the first rank that died and its exit code.
echo "$out" | grep -Eq 'Process name: \[\[[0-9]+,1\],1\]' &&
  echo "$out" | grep -Eq 'Exit code: +3' ||
  { echo "FAIL: mpirun did not name rank 1 and its exit code 3"; exit 1; }
echo "ok: mpirun exited $rc and reported the dead rank"
