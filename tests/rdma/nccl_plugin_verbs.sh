#!/bin/bash
# nccl-plugin-verbs: the NCCL plugin test (tests/nccl/plugin_test.cpp) with
# the plugin on verbs, inside the Soft-RoCE guest: both processes use site
# B's interface as their device, so every comm is RC QPs on rxe1.
# Usage: nccl_plugin_verbs.sh RDMA_VM TEST_BINARY PLUGIN_SO
set -u
vm=$1 bin=$2 plugin=$3
# Report and log land in the cwd, which the guest shares read-write.
report=$PWD/nccl-plugin-verbs.xml
log=$PWD/nccl-plugin-verbs.log
rm -f "$report" "$log"
# RDMA_NETDEV_B exists only inside the guest, hence the inner bash -c.
"$vm" --timeout 840 -- env NCCL_PLUGIN_PATH="$plugin" FARLINK_NCCL_TRANSPORT=verbs \
  FARLINK_CONNECT_TIMEOUT_MS=10000 bash -c \
  'FARLINK_NCCL_IFNAME=$RDMA_NETDEV_B "$0" --gtest_output="xml:$1" 2>&1 | tee "$2"; exit ${PIPESTATUS[0]}' \
  "$bin" "$report" "$log"
rc=$?
[ $rc = 0 ] || exit $rc
ran=$(grep -c 'result="completed"' "$report" 2>/dev/null)
if [ "${ran:-0}" = 0 ]; then
  echo "nccl-plugin-verbs: FAIL: no test ran inside the guest" >&2
  exit 1
fi
# The plugin logs each connection's transport; tcp here would be a fallback.
if ! grep -q 'connected (verbs' "$log" || grep -q 'connected (tcp' "$log"; then
  echo "nccl-plugin-verbs: FAIL: the comms did not all use verbs (see $log)" >&2
  exit 1
fi
echo "nccl-plugin-verbs: $ran plugin tests ran on Soft-RoCE, every comm on verbs"
