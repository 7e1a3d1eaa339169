#!/bin/bash
# Runs inside rdma-vm (site A), with `rping -s -a $SITE_B_IP -C 5 -V` as
# --siteB: both rxe devices are up, and rdma-core's own rping crosses the
# veth wire. Proves the guest before farlink's own tests rely on it.
set -u
fail() { echo "devices: FAIL: $*" >&2; exit 1; }
info=$(ibv_devinfo) || fail "ibv_devinfo failed: no usable RDMA device in the guest"
for dev in rxe0 rxe1; do
  # The port state line of this device's block.
  state=$(awk -v d="$dev" '/^hca_id:/ { cur = $2 } cur == d && /state:/ { print $2; exit }' <<<"$info")
  [ "$state" = PORT_ACTIVE ] || fail "$dev port state is '${state:-missing}', expected PORT_ACTIVE"
  echo "devices: $dev PORT_ACTIVE"
done
# rxe0's RoCE packets to rxe1 must leave through vA, not be short-cut via lo.
tx0=$(cat /sys/class/net/vA/statistics/tx_packets)
out=$(rping -c -a "$SITE_B_IP" -C 5 -V -v 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || fail "rping -c -a $SITE_B_IP -C 5 -V exited with $rc"
n=$(grep -c '^ping data: rdma-ping-' <<<"$out")
[ "$n" = 5 ] || fail "rping echoed $n pings, expected 5"
tx=$(($(cat /sys/class/net/vA/statistics/tx_packets) - tx0))
# 5 pings of SEND + RDMA READ + RDMA WRITE + SEND each, plus connection setup.
[ "$tx" -ge 20 ] || fail "only $tx packets left vA during rping: traffic did not cross the veth wire"
echo "devices: rping 5/5 validated against $SITE_B_IP, $tx packets crossed vA"
