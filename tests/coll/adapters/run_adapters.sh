#!/bin/bash
# Launches coll-adapter-rank processes and checks every rank's exit status.
#   run_adapters.sh RANK_BIN ADAPTER_DIR cross
#     site A: 2 ranks on 'mpi' under mpirun; site B: 3 plain ranks on 'gloo'
#     (loopback).
#   run_adapters.sh RANK_BIN ADAPTER_DIR cross-wanem WANEM_BIN
#     the same world with the two sites joined by the long-haul emulator:
#     site A (mpirun and its ranks) in namespace a, site B in namespace b of a
#     farlink-wanem link (one-way delay 10 ms, 1 Gbit/s, MTU 9000, so the
#     test stays within about a minute on 2 cores). Root only; skips (77)
#     without root, /dev/net/tun, ip or network namespaces. Afterwards the
#     emulator must have carried at least the largest buffer each way.
#   run_adapters.sh RANK_BIN ADAPTER_DIR alone
#     a one-site world of 3 ranks on each of 'mpi', 'gloo' and the built-in
#     'farlink' adapter; the three must agree bit for bit (same digest per rank).
# Exits 77 (skip) when mpirun or a module is missing.
#
# mpirun runs inside namespace a (farlink-wanem exec) together with its
# ranks: ranks in a namespace cannot reach the PMIx server of an mpirun
# outside it (127.0.0.1 differs per namespace).
#
# mpirun as root needs --allow-run-as-root; on 2 cores with more ranks than
# cores it needs --oversubscribe, and --mca mpi_yield_when_idle 1 so waiting
# ranks do not spin the others off the CPU. --bind-to none for the same
# reason. No btl/interface options were needed here (OpenMPI picks vader
# shared memory within the host).
set -u
bin=$1 dir=$2 mode=$3 wanem=${4:-}
tmp=$(mktemp -d)
link=""  # the farlink-wanem link of cross-wanem, torn down on exit
pids=()  # launched sites (timeout processes), killed if the script exits early
cleanup() {
  local rc=$?
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  if [ -n "$link" ]; then
    # On a failure the link's counters tell lost packets or a late
    # (CPU-starved) emulator apart from a wrong result.
    [ $rc != 0 ] && "$wanem" ctl --name "$link" stats
    "$wanem" down --name "$link" >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
for a in mpi gloo; do
  [ -f "$dir/farlink-coll-$a.so" ] || { echo "SKIP: $dir/farlink-coll-$a.so was not built"; exit 77; }
done

export FARLINK_COLL_ADAPTER_PATH=$dir MASTER_ADDR=127.0.0.1 FARLINK_COLL_TIMEOUT_MS=60000
mpiflags=(--oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
[ "$(id -u)" = 0 ] && mpiflags+=(--allow-run-as-root)
limit=150  # seconds for one world; a hang fails instead of eating the suite's time

# launch_site ADAPTER SITE FIRST_RANK NRANKS TAG [PREFIX...]: mpirun for
# 'mpi', else fork; PREFIX (e.g. farlink-wanem exec a --name N --) goes
# before mpirun or each rank.
launch_site() {
  local adapter=$1 site=$2 first=$3 n=$4 tag=$5
  shift 5
  if [ "$adapter" = mpi ]; then
    FARLINK_SITE=$site FARLINK_COLL_ADAPTER=mpi FARLINK_RANK_BASE=$first \
      timeout $limit "$@" mpirun "${mpiflags[@]}" -np "$n" "$bin" >"$tmp/$tag-$site.out" 2>&1 &
    pids+=($!)
  else
    for ((r = first; r < first + n; r++)); do
      RANK=$r FARLINK_SITE=$site FARLINK_COLL_ADAPTER=$adapter \
        timeout $limit "$@" "$bin" >"$tmp/$tag-$site-$r.out" 2>&1 &
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
  cross-wanem)
    [ "$(id -u)" = 0 ] || { echo "SKIP: cross-wanem needs root to create network namespaces"; exit 77; }
    [ -r /dev/net/tun ] && [ -w /dev/net/tun ] ||
      { echo "SKIP: /dev/net/tun is missing or not accessible; load the tun module"; exit 77; }
    command -v ip >/dev/null || { echo "SKIP: ip (iproute2) is not installed"; exit 77; }
    if command -v unshare >/dev/null && ! unshare --net true 2>/dev/null; then
      echo "SKIP: network namespaces cannot be made here (unshare --net failed)"
      exit 77
    fi
    [ -n "$wanem" ] && [ -x "$wanem" ] || { echo "SKIP: farlink-wanem was not built"; exit 77; }
    # From here on a failure is a failure: every prerequisite is present.
    link=fcoll$$
    "$wanem" down --name "$link" >/dev/null 2>&1
    if ! "$wanem" up --daemon --name "$link" --delay 10ms --rate 1gbit --mtu 9000 >"$tmp/up.txt" 2>&1; then
      cat "$tmp/up.txt"
      link=""
      echo "FAIL: farlink-wanem up failed (output above)"
      exit 1
    fi
    cat "$tmp/up.txt"
    # Fresh namespaces: no other job's socket holds these ports.
    export WORLD_SIZE=5 MASTER_ADDR=10.99.0.1 MASTER_PORT=29500
    FARLINK_COLL_HOST=10.99.0.1 launch_site mpi A 0 2 cross "$wanem" exec a --name "$link" --
    FARLINK_COLL_HOST=10.99.0.2 launch_site gloo B 2 3 cross "$wanem" exec b --name "$link" --
    wait_all cross
    n=$(cat "$tmp"/cross-*.out | grep -c ': ok digest')
    [ "$n" = 5 ] || { echo "FAIL: $n of 5 ranks reported success"; exit 1; }
    # The cross-site traffic went through the emulator: at least the largest
    # allreduce (fp64 x COLL_BIG) crossed each way.
    "$wanem" ctl --name "$link" stats --json >"$tmp/stats.json" || { echo "FAIL: ctl stats"; exit 1; }
    python3 - "$tmp/stats.json" "$(( ${COLL_BIG:-1000003} * 8 ))" <<'PY' || exit 1
import json, sys
j = json.load(open(sys.argv[1]))
need = int(sys.argv[2])
for d in ("a2b", "b2a"):
    got = int(j[d]["forwarded_bytes"])
    print(f"emulator {d}: {got} bytes forwarded, {j[d]['dropped_queue']} queue drops, "
          f"lateness mean {j[d]['lateness_mean_ns'] / 1e6:.2f} ms")
    if got < need:
        sys.exit(f"FAIL: only {got} bytes crossed the emulator {d}; expected at least {need}")
PY
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
  *) echo "usage: $0 RANK_BIN ADAPTER_DIR cross|alone|cross-wanem [WANEM_BIN]"; exit 2 ;;
esac
echo "PASS: $mode"
