#!/bin/bash
# Launches coll-adapter-rank processes on loopback and checks every rank's
# exit status.
#   run_adapters.sh RANK_BIN ADAPTER_DIR cross
#     site A: 2 ranks on 'mpi' under mpirun; site B: 3 plain ranks on 'gloo'.
#   run_adapters.sh RANK_BIN ADAPTER_DIR alone
#     a one-site world of 3 ranks on each of 'mpi', 'gloo' and the built-in
#     'farlink' adapter; the three must agree bit for bit (same digest per rank).
# Exits 77 (skip) when mpirun or a module is missing.
#
# mpirun as root needs --allow-run-as-root; on 2 cores with more ranks than
# cores it needs --oversubscribe, and --mca mpi_yield_when_idle 1 so waiting
# ranks do not spin the others off the CPU. --bind-to none for the same
# reason. No btl/interface options were needed here (OpenMPI picks vader
# shared memory within the host).
set -u
bin=$1 dir=$2 mode=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
for a in mpi gloo; do
  [ -f "$dir/farlink-coll-$a.so" ] || { echo "SKIP: $dir/farlink-coll-$a.so was not built"; exit 77; }
done

export FARLINK_COLL_ADAPTER_PATH=$dir MASTER_ADDR=127.0.0.1 FARLINK_COLL_TIMEOUT_MS=60000
mpiflags=(--oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
[ "$(id -u)" = 0 ] && mpiflags+=(--allow-run-as-root)
limit=150  # seconds for one world; a hang fails instead of eating the suite's time

# launch_site ADAPTER SITE FIRST_RANK NRANKS TAG: mpirun for 'mpi', else fork.
pids=()
launch_site() {
  local adapter=$1 site=$2 first=$3 n=$4 tag=$5
  if [ "$adapter" = mpi ]; then
    FARLINK_SITE=$site FARLINK_COLL_ADAPTER=mpi FARLINK_RANK_BASE=$first \
      timeout $limit mpirun "${mpiflags[@]}" -np "$n" "$bin" >"$tmp/$tag-$site.out" 2>&1 &
    pids+=($!)
  else
    for ((r = first; r < first + n; r++)); do
      RANK=$r FARLINK_SITE=$site FARLINK_COLL_ADAPTER=$adapter \
        timeout $limit "$bin" >"$tmp/$tag-$site-$r.out" 2>&1 &
      pids+=($!)
    done
  fi
}

# wait_all TAG: every launched process must exit 0.
wait_all() {
  local tag=$1 bad=0
  for p in "${pids[@]}"; do wait "$p" || bad=1; done
  pids=()
  cat "$tmp/$tag"-*.out
  if [ $bad != 0 ]; then echo "FAIL: $tag: a rank failed (output above)"; exit 1; fi
}

# MASTER_PORT and the two site stores above it (adapter_rank.cpp): three free
# ports below the kernel's ephemeral range, so no outgoing connection of a
# parallel job takes one between this check and the ranks' listen().
new_port() {
  MASTER_PORT=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(10000, 32000)
    socks = []
    try:
        for p in range(base, base + 3):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
PY
  )
  [ -n "$MASTER_PORT" ] || { echo "FAIL: no three free ports for the stores"; exit 1; }
  export MASTER_PORT
}

case $mode in
  cross)
    new_port
    export WORLD_SIZE=5
    launch_site mpi A 0 2 cross
    launch_site gloo B 2 3 cross
    wait_all cross
    n=$(cat "$tmp"/cross-*.out | grep -c ': ok digest')
    [ "$n" = 5 ] || { echo "FAIL: $n of 5 ranks reported success"; exit 1; }
    ;;
  alone)
    export WORLD_SIZE=3
    for a in mpi gloo farlink; do
      new_port
      launch_site $a S 0 3 $a
      wait_all $a
      cat "$tmp/$a"-*.out | grep ': ok digest' | sed 's/ (site.*)//' | sort >"$tmp/$a.digests"
      [ "$(wc -l <"$tmp/$a.digests")" = 3 ] || { echo "FAIL: $a: not every rank reported"; exit 1; }
    done
    for a in mpi gloo; do
      if ! diff -u "$tmp/farlink.digests" "$tmp/$a.digests"; then
        echo "FAIL: the '$a' adapter's results differ from the farlink adapter's"
        exit 1
      fi
    done
    ;;
  *) echo "usage: $0 RANK_BIN ADAPTER_DIR cross|alone"; exit 2 ;;
esac
echo "PASS: $mode"
