#!/bin/bash
# rping-interop: tests/cli/rping_interop.sh (farlink ping --rping against
# rdma-core's rping) run inside the Soft-RoCE guest.
# Usage: rping_interop.sh RDMA_VM SCRIPT FARLINK_BINARY
# Skips (77) while SCRIPT does not exist yet; it is looked up at run time so
# the test turns on without reconfiguring.
set -u
vm=$1 script=$2 farlink=$3
if [ ! -f "$script" ]; then
  echo "rping-interop: SKIP: $script does not exist yet"
  exit 77
fi
export FARLINK_BIN=$farlink
exec "$vm" --timeout 840 -- bash "$script"
