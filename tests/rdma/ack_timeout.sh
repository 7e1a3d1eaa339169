#!/bin/bash
# Runs inside rdma-vm: verbs-ack-timeout's guest test without delay, then
# with netem delay 40 ms on both veth ends (an 80 ms RTT, which needs a
# timeout above the 268 ms floor), in one boot.
# Usage: ack_timeout.sh TEST_BINARY
set -u
bin=$1
filter=--gtest_filter='AckTimeoutGuest.*'
"$bin" "$filter" || exit 1
for dev in "${RDMA_NETDEV_A:-vA}" "${RDMA_NETDEV_B:-vB}"; do
  tc qdisc replace dev "$dev" root netem delay 40ms limit 100000 || {
    echo "ack-timeout: cannot add netem on $dev" >&2
    exit 1
  }
done
FARLINK_TEST_NETEM_RTT_MS=80 "$bin" "$filter"
