#!/usr/bin/env bash
# Proves `farlink ping --rping` speaks rdma-core rping's protocol, both ways,
# against the real `rping`: run inside a machine (or QEMU guest) with RDMA
# devices, e.g. two Soft-RoCE devices.
#
#   rping_interop.sh [FARLINK_BIN]
#
# Env: FARLINK_BIN (if no argument; default: `farlink` in PATH), RPING (default
# `rping`), SERVER_IP (default $SITE_B_IP or 10.77.0.2: the server side binds
# it, the client connects to it), PORT_BASE (default 7300), STEP_TIMEOUT
# (farlink --timeout, default 20).
# For each size (default 64, 1000, 65535, the largest rping takes) with
# -v -V -C 10, stdout must equal byte for byte what stock rping prints
# against stock rping: farlink client vs rping server, rping client vs farlink
# server. Then farlink to farlink at 1 MiB (beyond rping's limit) against the
# pattern generated here, and failure cases that must end promptly with a
# clear error naming the peer: mismatched -S, a server killed mid-run, a
# client killed mid-run. Takes about 5 minutes under QEMU TCG.
# Exit: 0 all passed, 1 a check failed, 77 skipped (no RDMA device, no rping,
# no farlink binary, or farlink built without rdma-core).
set -u

FARLINK_BIN=${1:-${FARLINK_BIN:-$(command -v farlink || true)}}
RPING=${RPING:-rping}
SERVER_IP=${SERVER_IP:-${SITE_B_IP:-10.77.0.2}}
PORT=${PORT_BASE:-7300}
STEP_TIMEOUT=${STEP_TIMEOUT:-20}
COUNT=10

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$FARLINK_BIN" ] || skip "no farlink binary (pass its path or set FARLINK_BIN)"
command -v "$RPING" >/dev/null || skip "no rping (apt-get install rdmacm-utils)"
[ -n "$(ls /sys/class/infiniband 2>/dev/null)" ] || skip "no RDMA devices in /sys/class/infiniband"
if "$FARLINK_BIN" ping --rping -c -a 127.0.0.1 -C 1 --timeout 1 2>&1 | grep -q "without rdma-core"; then
  skip "farlink was built without rdma-core"
fi

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
pass() { echo "ok: $*"; }

# Waits until an rdma_cm id listens on port $1 (servers print nothing then).
wait_listen() {
  for _ in $(seq 100); do
    rdma res show cm_id 2>/dev/null | grep -q "state LISTEN .*:$1 " && return 0
    sleep 0.1
  done
  return 1
}

# Runs server command "$1" (output to $WORK/$3.server.*) and client command
# "$2" (to $WORK/$3.client.*) on port $PORT; bounded. Sets CLIENT_RC, SERVER_RC.
run_pair() {
  local srv=$1 cli=$2 tag=$3
  timeout 120 bash -c "$srv -p $PORT" >"$WORK/$tag.server.out" 2>"$WORK/$tag.server.err" &
  local spid=$!
  if ! wait_listen "$PORT"; then
    fail "$tag: server did not listen on port $PORT: $(cat "$WORK/$tag.server.err")"
    kill "$spid" 2>/dev/null
  fi
  timeout 120 bash -c "$cli -p $PORT" >"$WORK/$tag.client.out" 2>"$WORK/$tag.client.err"
  CLIENT_RC=$?
  wait "$spid"
  SERVER_RC=$?
  PORT=$((PORT + 1))
}

same() {  # same FILE_A FILE_B WHAT
  if cmp -s "$1" "$2"; then return 0; fi
  fail "$3 differs from stock rping's output:"
  diff "$1" "$2" | head -5 | cut -c1-200
  return 1
}

# The pattern rping sends, written out independently: "rdma-ping-N: " then
# 'A'..'z' cycling from 'A' + N mod 58, SIZE-1 bytes in all (then a NUL).
expected_lines() {  # expected_lines PREFIX SIZE COUNT
  awk -v pre="$1" -v size="$2" -v count="$3" 'BEGIN {
    for (c = 65; c <= 122; c++) cyc = cyc sprintf("%c", c)
    rep = cyc; while (length(rep) < size + 58) rep = rep rep
    for (n = 0; n < count; n++) {
      p = "rdma-ping-" n ": "
      print pre p substr(rep, n % 58 + 1, size - 1 - length(p))
    }
  }'
}

FL="$FARLINK_BIN ping --rping --timeout $STEP_TIMEOUT"
for size in "" 1000 65535; do
  S=${size:+-S $size}
  name=${size:-64 (default)}
  # Stock against stock: the reference output.
  run_pair "$RPING -s -a $SERVER_IP -v -V $S" "$RPING -c -a $SERVER_IP -v -V -C $COUNT $S" ref
  if [ "$CLIENT_RC" != 0 ]; then fail "stock rping pair failed at $name bytes"; continue; fi
  expected_lines "ping data: " "${size:-64}" "$COUNT" >"$WORK/exp.client"
  expected_lines "server ping data: " "${size:-64}" "$COUNT" >"$WORK/exp.server"
  same "$WORK/ref.client.out" "$WORK/exp.client" "the generated pattern ($name bytes)"
  same "$WORK/ref.server.out" "$WORK/exp.server" "the generated server pattern ($name bytes)"

  run_pair "$RPING -s -a $SERVER_IP -v -V $S" "$FL -c -a $SERVER_IP -v -V -C $COUNT $S" fc
  if [ "$CLIENT_RC" = 0 ] && [ "$SERVER_RC" = 0 ] &&
     same "$WORK/fc.client.out" "$WORK/ref.client.out" "farlink client ($name bytes)" &&
     same "$WORK/fc.server.out" "$WORK/ref.server.out" "rping server with farlink client ($name bytes)"; then
    pass "farlink client -> rping server, $name bytes, $COUNT pings, -v -V"
  else
    fail "farlink client -> rping server, $name bytes: client $CLIENT_RC, server $SERVER_RC"
    cat "$WORK/fc.client.err" "$WORK/fc.server.err"
  fi

  run_pair "$FL -s -a $SERVER_IP -v $S" "$RPING -c -a $SERVER_IP -v -V -C $COUNT $S" fs
  if [ "$CLIENT_RC" = 0 ] && [ "$SERVER_RC" = 0 ] &&
     same "$WORK/fs.client.out" "$WORK/ref.client.out" "rping client with farlink server ($name bytes)" &&
     same "$WORK/fs.server.out" "$WORK/ref.server.out" "farlink server ($name bytes)"; then
    pass "rping client -> farlink server, $name bytes, $COUNT pings, -v -V"
  else
    fail "rping client -> farlink server, $name bytes: client $CLIENT_RC, server $SERVER_RC"
    cat "$WORK/fs.client.err" "$WORK/fs.server.err"
  fi
done

# 1 MiB: beyond stock rping's 65535, farlink to farlink over the same protocol.
MIB=1048576
run_pair "$FL -s -a $SERVER_IP -v -S $MIB" "$FL -c -a $SERVER_IP -v -V -C $COUNT -S $MIB" big
expected_lines "ping data: " $MIB $COUNT >"$WORK/exp.client"
expected_lines "server ping data: " $MIB $COUNT >"$WORK/exp.server"
if [ "$CLIENT_RC" = 0 ] && [ "$SERVER_RC" = 0 ] &&
   same "$WORK/big.client.out" "$WORK/exp.client" "farlink client (1 MiB)" &&
   same "$WORK/big.server.out" "$WORK/exp.server" "farlink server (1 MiB)"; then
  pass "farlink -> farlink --rping, 1 MiB, $COUNT pings, -v -V"
else
  fail "farlink -> farlink --rping at 1 MiB: client $CLIENT_RC, server $SERVER_RC"
  cat "$WORK/big.client.err" "$WORK/big.server.err"
fi

# -I: the client leaves from the address it names. Against stock rping's
# server (the reference), then against farlink's, whose -d output names the
# client's address; over farlink channels (verbs) the same. An address this
# host does not have is a clear error, not a hang.
CLIENT_IP=${CLIENT_IP:-${SITE_A_IP:-10.77.0.1}}
run_pair "$RPING -s -a $SERVER_IP -v" "$FL -c -a $SERVER_IP -I $CLIENT_IP -V -C 3" src
if [ "$CLIENT_RC" = 0 ] && [ "$SERVER_RC" = 0 ]; then
  pass "farlink client -I $CLIENT_IP -> rping server"
else
  fail "farlink client -I $CLIENT_IP -> rping server: client $CLIENT_RC: $(cat "$WORK/src.client.err")"
fi
run_pair "$FL -s -a $SERVER_IP -d" "$FL -c -a $SERVER_IP -I $CLIENT_IP -V -C 3" srcf
if [ "$CLIENT_RC" = 0 ] && grep -q "client $CLIENT_IP:" "$WORK/srcf.server.out"; then
  pass "farlink --rping -I: the server saw the client at $CLIENT_IP"
else
  fail "farlink --rping -I $CLIENT_IP: client $CLIENT_RC; server said: $(grep connected "$WORK/srcf.server.out")"
fi
VP="$FARLINK_BIN ping --transport verbs"
run_pair "$VP -s -a $SERVER_IP -d" "$VP -c -a $SERVER_IP -I $CLIENT_IP -V -C 3" srcv
if [ "$CLIENT_RC" = 0 ] && grep -q "$CLIENT_IP" "$WORK/srcv.server.out" "$WORK/srcv.server.err"; then
  pass "farlink ping --transport verbs -I: the server saw the client at $CLIENT_IP"
else
  fail "farlink ping --transport verbs -I $CLIENT_IP: client $CLIENT_RC: $(cat "$WORK/srcv.client.err"); server: $(cat "$WORK/srcv.server.out")"
fi
out=$(timeout 60 $FL -c -a $SERVER_IP -p $PORT -I 10.77.0.99 -C 1 2>&1)
rc=$?
if [ "$rc" = 1 ] && echo "$out" | grep -q "10.77.0.99"; then
  pass "-I with an address this host lacks: $out"
else
  fail "-I 10.77.0.99: exit $rc: $out"
fi

# Mismatched sizes: stock rping's server cannot read 4096 bytes into its 64;
# farlink's client must fail promptly (exit 1) and name the server.
start=$(date +%s)
run_pair "$RPING -s -a $SERVER_IP" "$FL -c -a $SERVER_IP -V -C $COUNT -S 4096" mis
if [ "$CLIENT_RC" = 1 ] && grep -q "$SERVER_IP" "$WORK/mis.client.err"; then
  pass "size mismatch ends in $(($(date +%s) - start)) s: $(head -1 "$WORK/mis.client.err")"
else
  fail "size mismatch: client exit $CLIENT_RC: $(cat "$WORK/mis.client.err")"
fi

# A server killed mid-run: the client must exit 1 with an error naming it.
$RPING -s -a $SERVER_IP -p $PORT >/dev/null 2>&1 &  # no wrapper: $! must be rping
spid=$!
wait_listen $PORT
timeout 120 $FL -c -a $SERVER_IP -p $PORT -C 0 -v >"$WORK/kill.out" 2>"$WORK/kill.err" &
cpid=$!
for _ in $(seq 600); do  # until pings flow
  grep -q "ping data" "$WORK/kill.out" && break
  sleep 0.1
done
start=$(date +%s)
{ kill -9 $spid; wait $spid; } 2>/dev/null
wait $cpid
rc=$?
if [ "$rc" = 1 ] && grep -q "$SERVER_IP" "$WORK/kill.err"; then
  pass "killed server ends the client in $(($(date +%s) - start)) s: $(head -1 "$WORK/kill.err")"
else
  fail "killed server: client exit $rc: $(cat "$WORK/kill.err")"
fi

# A client killed mid-run: the farlink server must notice and exit by itself
# (0 if the client vanished between pings, 1 with its address otherwise).
PORT=$((PORT + 1))
timeout 120 $FL -s -a $SERVER_IP -p $PORT -v >"$WORK/kills.out" 2>"$WORK/kills.err" &
spid=$!
wait_listen $PORT
$RPING -c -a $SERVER_IP -p $PORT -C 0 >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 600); do
  grep -q "server ping data" "$WORK/kills.out" && break
  sleep 0.1
done
start=$(date +%s)
{ kill -9 $cpid; wait $cpid; } 2>/dev/null
wait $spid
rc=$?
if [ "$rc" = 0 ] || { [ "$rc" = 1 ] && grep -q "farlink ping: rping client " "$WORK/kills.err"; }; then
  pass "killed client ends the farlink server in $(($(date +%s) - start)) s (exit $rc) $(head -1 "$WORK/kills.err")"
else
  fail "killed client: farlink server exit $rc: $(cat "$WORK/kills.err")"
fi

[ "$FAILED" = 0 ] && echo "PASS: farlink ping --rping interoperates with $RPING" && exit 0
exit 1
