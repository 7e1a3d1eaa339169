#!/bin/bash
# farlink coll end to end on loopback. Asserts exit codes, that every row's
# #wrong is 0 and that the expected rows are there; never timings.
#   run_cli.sh FARLINK ADAPTER_DIR local     --local 4 --verify, every op (and dtypes,
#                                            both algorithms of allgather and
#                                            reduce_scatter over 3 sites, JSON)
#   run_cli.sh FARLINK ADAPTER_DIR torchrun  2 sites x 2 ranks started with RANK/WORLD_SIZE/...
#   run_cli.sh FARLINK ADAPTER_DIR mpirun    mpirun -np 4 with FARLINK_SITE per app
#                                            context, and one mpirun per site; skips
#                                            (77) without mpirun or the mpi module
#   run_cli.sh FARLINK ADAPTER_DIR errors    usage errors, a mismatched rank, a killed rank
set -u
bin=$1 dir=$2 mode=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export FARLINK_COLL_ADAPTER_PATH=$dir
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT FARLINK_SITE OMPI_COMM_WORLD_RANK \
  FARLINK_COLL_ADAPTER FARLINK_COLL_ALGO FARLINK_RANK_BASE
limit=120  # seconds for one command; a hang fails the test instead of eating the suite's time
fail() { echo "FAIL: $*"; exit 1; }

# check_table FILE ROWS WHAT: exactly ROWS data rows, each with #wrong 0.
check_table() {
  local f=$1 rows=$2 what=$3 n bad
  n=$(grep -cv '^#' "$f")
  [ "$n" = "$rows" ] || { cat "$f"; fail "$what: $n rows, expected $rows"; }
  bad=$(grep -v '^#' "$f" | awk '$NF != "0"' | wc -l)
  [ "$bad" = 0 ] || { cat "$f"; fail "$what: $bad rows with wrong elements"; }
}

# run_expect RC WHAT -- ARGS...: runs farlink with a time limit, checks its exit code.
run_expect() {
  local want=$1 what=$2 rc
  shift 3
  timeout $limit "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc != "$want" ]; then
    cat "$tmp/out" "$tmp/err"
    fail "$what: exit $rc, expected $want (farlink $*)"
  fi
}

# start_2x2 TAG ARGS...: ranks 0-1 in site A, 2-3 in site B, torchrun style,
# each with a time limit, output in $tmp/TAG<rank>.out; pids in pids[].
start_2x2() {
  local tag=$1 r site
  shift
  for r in 0 1 2 3; do
    site=A
    [ $r -ge 2 ] && site=B
    RANK=$r WORLD_SIZE=4 LOCAL_RANK=$((r % 2)) FARLINK_SITE=$site timeout $limit "$bin" "$@" \
      >"$tmp/$tag$r.out" 2>&1 &
    pids+=($!)
  done
}

# wait_ranks TAG RC N: the first N started ranks must exit with RC.
wait_ranks() {
  local tag=$1 want=$2 n=$3 i rc
  for ((i = 0; i < n; i++)); do
    wait "${pids[$i]}"
    rc=$?
    [ $rc = "$want" ] || { cat "$tmp/$tag"*.out; fail "$tag: rank $i exited $rc, expected $want"; }
  done
  pids=()
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $mode in
  local)
    # -b 4 -e 1M -f 16: 4 B, 64 B, 1 KiB, 16 KiB, 256 KiB (5 rows); the
    # smallest is below one block of allgather/alltoall and rounds up.
    for op in allreduce allgather reduce_scatter broadcast reduce alltoall; do
      run_expect 0 "$op" -- coll --local 4 --verify -o "$op" -b 4 -e 1M -f 16 -n 2 -w 1 --root 3
      check_table "$tmp/out" 5 "$op"
      echo "ok: $op"
    done
    # Every dtype with every reduction through the cross-site allreduce, odd
    # count, 3 sites of 5 ranks: one world runs the 40 combinations (-d/-r
    # lists), which is what starting 40 worlds used to check, in a fraction
    # of the time.
    dtypes=int8,uint8,int32,int64,fp16,bf16,fp32,fp64 redops=sum,prod,min,max,avg
    run_expect 0 "allreduce of every dtype and reduction" -- coll --local 5 --sites 3 -c \
      -d $dtypes -r $redops --count 1001 -n 1 -w 0
    check_table "$tmp/out" 40 "allreduce of every dtype and reduction"
    # Each row is a different (dtype, reduction) pair of the lists, at 1001 elements.
    pairs=$(grep -v '^#' "$tmp/out" | awk '$2 == 1001 {print $3 "/" $4}' | sort -u)
    want=$(for d in ${dtypes//,/ }; do for r in ${redops//,/ }; do echo "$d/$r"; done; done | sort)
    [ "$pairs" = "$want" ] || { cat "$tmp/out"; fail "dtype/reduction rows: got $pairs"; }
    echo "ok: every dtype and reduction"
    # Allgather and reduce_scatter across 3 unequal sites (2+2+1 ranks), the
    # hierarchical forms (site A on Gloo, the others on farlink's adapter)
    # and the flat ring: every dtype (and reduction), 201 elements per rank.
    adapters=gloo,farlink,farlink
    if [ ! -f "$dir/farlink-coll-gloo.so" ]; then
      echo "note: $dir/farlink-coll-gloo.so was not built; every site on the farlink adapter"
      adapters=farlink
    fi
    for a in hierarchical ring; do
      run_expect 0 "allgather $a" -- coll --local 5 --sites 3 -c -o allgather --algo $a \
        -d $dtypes --count 1005 -n 1 -w 0 --adapter $adapters
      check_table "$tmp/out" 8 "allgather $a of every dtype"
      grep -q "algorithm $a;" "$tmp/out" || { cat "$tmp/out"; fail "allgather: not $a"; }
      run_expect 0 "reduce_scatter $a" -- coll --local 5 --sites 3 -c -o reduce_scatter \
        --algo $a -d $dtypes -r $redops --count 1005 -n 1 -w 0 --adapter $adapters
      check_table "$tmp/out" 40 "reduce_scatter $a of every dtype and reduction"
      grep -q "algorithm $a;" "$tmp/out" || { cat "$tmp/out"; fail "reduce_scatter: not $a"; }
      echo "ok: allgather and reduce_scatter ($a), 3 sites"
    done
    # Flat algorithms, and JSON lines a machine can read.
    for a in ring hd; do
      run_expect 0 "allreduce $a" -- coll --local 4 -c --algo "$a" -b 1K -e 64K -f 8 -n 2 --json
      python3 - "$tmp/out" "$a" <<'PY' || fail "JSON of --algo $a"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["size"] for r in rows] == [1024, 8192, 65536], rows
assert all(r["wrong"] == 0 and r["algorithm"] == sys.argv[2] and r["ranks"] == 4 for r in rows), rows
assert all(r["time_us"] > 0 and r["busbw_gbps"] > 0 for r in rows), rows
PY
    done
    echo "ok: ring, hd, --json"
    # A bare 'farlink coll' is the 4-rank demo.
    run_expect 0 "bare farlink coll" -- coll -n 1 -w 0
    grep -q '4 ranks in 2 sites' "$tmp/out" || fail "bare farlink coll: not a 4-rank, 2-site world"
    ;;
  torchrun)
    export MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port)
    start_2x2 rank coll -c -b 1K -e 1M -f 32 -n 2
    wait_ranks rank 0 4
    check_table "$tmp/rank0.out" 3 "torchrun rank 0"
    grep -q '4 ranks in 2 sites' "$tmp/rank0.out" || fail "torchrun: world is not 2 sites"
    for r in 1 2 3; do
      [ -s "$tmp/rank$r.out" ] && { cat "$tmp/rank$r.out"; fail "rank $r printed something"; }
    done
    echo "ok: torchrun 2x2"
    ;;
  mpirun)
    command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77; }
    [ -f "$dir/farlink-coll-mpi.so" ] || { echo "SKIP: $dir/farlink-coll-mpi.so was not built"; exit 77; }
    # Flags as in adapters/run_adapters.sh (4 ranks on 2 cores).
    mpiflags=(--oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
    [ "$(id -u)" = 0 ] && mpiflags+=(--allow-run-as-root)
    export MASTER_ADDR=127.0.0.1
    # One mpirun of 4 ranks, FARLINK_SITE per application context. Every
    # rank of an MPI job must be on the 'mpi' adapter or none (the adapter
    # splits MPI_COMM_WORLD by site): first farlink's own adapter in both
    # sites (the bootstrap alone), then 'mpi' inside both.
    for adapter in farlink mpi; do
      for op in allreduce reduce_scatter allgather broadcast; do
        export MASTER_PORT=$(free_port)
        args=(coll -c -o $op -b 1K -e 1M -f 32 -n 2 --timeout 60)
        # -x belongs to one application context (options before the first
        # -np only to the first), so each context forwards the shared ones.
        fwd=(-x MASTER_ADDR -x MASTER_PORT -x FARLINK_COLL_ADAPTER_PATH -x FARLINK_COLL_ADAPTER)
        FARLINK_COLL_ADAPTER=$adapter timeout $limit mpirun "${mpiflags[@]}" \
          -np 2 "${fwd[@]}" -x FARLINK_SITE=A "$bin" "${args[@]}" : \
          -np 2 "${fwd[@]}" -x FARLINK_SITE=B "$bin" "${args[@]}" >"$tmp/out" 2>&1
        rc=$?
        [ $rc = 0 ] || { cat "$tmp/out"; fail "mpirun $adapter $op: exit $rc"; }
        check_table "$tmp/out" 3 "mpirun $adapter $op"
        grep -q "4 ranks in 2 sites.*adapter $adapter" "$tmp/out" ||
          { cat "$tmp/out"; fail "mpirun: not 2 sites on $adapter"; }
        echo "ok: mpirun $op, both sites on $adapter"
      done
    done
    # One mpirun per site: site A's 2 MPI ranks at FARLINK_RANK_BASE 0 on
    # 'mpi', site B's at FARLINK_RANK_BASE 2 on farlink's adapter.
    MASTER_PORT=$(free_port)
    args=(coll -c -b 1K -e 1M -f 32 -n 2 --timeout 60)
    for site in A B; do
      base=0 adapter=mpi
      [ $site = B ] && base=2 adapter=farlink
      WORLD_SIZE=4 FARLINK_RANK_BASE=$base FARLINK_SITE=$site FARLINK_COLL_ADAPTER=$adapter \
        timeout $limit mpirun "${mpiflags[@]}" -np 2 "$bin" "${args[@]}" >"$tmp/job$site.out" 2>&1 &
      pids+=($!)
    done
    for i in 0 1; do
      wait "${pids[$i]}" || { cat "$tmp"/job*.out; fail "one mpirun per site: job $i failed"; }
    done
    pids=()
    check_table "$tmp/jobA.out" 3 "one mpirun per site"
    grep -q "4 ranks in 2 sites.*adapter mpi" "$tmp/jobA.out" || fail "per-site mpirun: world"
    echo "ok: one mpirun per site (A on mpi, B on farlink)"
    ;;
  errors)
    run_expect 2 "bad op" -- coll -o allfoo
    grep -q "allfoo' is not a collective" "$tmp/err" || fail "bad op: $(cat "$tmp/err")"
    run_expect 2 "bad dtype" -- coll -d fp8
    run_expect 2 "bad dtype in a list" -- coll -d fp32,fp8 -r sum,max
    grep -q "unknown dtype 'fp8'" "$tmp/err" || fail "dtype list: $(cat "$tmp/err")"
    run_expect 2 "hd with allgather" -- coll -o allgather --algo hd
    grep -q "applies to allreduce only" "$tmp/err" || fail "algo: $(cat "$tmp/err")"
    run_expect 2 "algo with broadcast" -- coll -o broadcast --algo ring
    grep -q "applies to allreduce, allgather and reduce_scatter only" "$tmp/err" ||
      fail "algo: $(cat "$tmp/err")"
    run_expect 2 "min above max" -- coll -b 1M -e 1K
    run_expect 2 "local 0" -- coll --local 0
    run_expect 2 "mpi in --local" -- coll --local 2 --adapter mpi
    grep -q "need mpirun\|needs mpirun\|MPI ranks need mpirun" "$tmp/err" || fail "mpi local: $(cat "$tmp/err")"
    run_expect 2 "root outside the world" -- coll --local 2 -o broadcast --root 5
    grep -q "root 5 is not a rank" "$tmp/err" || fail "root: $(cat "$tmp/err")"
    RANK=0 run_expect 2 "launched without WORLD_SIZE" -- coll
    grep -q "WORLD_SIZE is not set" "$tmp/err" || fail "env: $(cat "$tmp/err")"
    run_expect 1 "unknown adapter" -- coll --local 2 --sites 1 --adapter nosuch
    grep -q "rank .*no collective adapter named 'nosuch'" "$tmp/err" || fail "adapter: $(cat "$tmp/err")"
    echo "ok: usage errors"

    # A rank that disagrees on WORLD_SIZE: everyone fails, naming ranks, in bounded time.
    export MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) FARLINK_COLL_TIMEOUT_MS=20000
    for r in 0 1 2; do
      ws=3
      [ $r = 2 ] && ws=4
      RANK=$r WORLD_SIZE=$ws timeout $limit "$bin" coll -n 1 >"$tmp/mm$r.out" 2>&1 &
      pids+=($!)
    done
    wait_ranks mm 1 3
    grep -q "rank 2 has WORLD_SIZE 4" "$tmp"/mm*.out || { cat "$tmp"/mm*.out; fail "mismatch not named"; }
    echo "ok: mismatched WORLD_SIZE"

    # A rank killed mid-sweep: the others fail with an error naming a rank,
    # long before their 20 s timeout, and --local's reaper is not needed.
    MASTER_PORT=$(free_port)
    limit=60 start_2x2 kill coll -b 1M -e 1M -n 100000
    sleep 3
    # pids[3] is timeout(1); kill the farlink it runs.
    victim=$(pgrep -P "${pids[3]}")
    [ -n "$victim" ] || { cat "$tmp"/kill*.out; fail "killed peer: rank 3 already gone"; }
    kill -9 "$victim"
    start=$SECONDS
    wait_ranks kill 1 3
    took=$((SECONDS - start))
    [ $took -lt 15 ] || fail "killed peer: the others took ${took}s to fail"
    grep -q "rank 0 (site A): allreduce fp32 of 1048576 B failed:.*rank" "$tmp/kill0.out" ||
      { cat "$tmp"/kill*.out; fail "killed peer: rank 0's error does not name the op and a rank"; }
    echo "ok: killed rank -> others fail in ${took}s"
    ;;
  *) echo "usage: $0 FARLINK ADAPTER_DIR local|torchrun|mpirun|errors"; exit 2 ;;
esac
echo "PASS: $mode"
