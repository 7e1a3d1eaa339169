#!/bin/bash
# conformance-verbs: the conformance suite's verbs instances on Soft-RoCE.
# Usage: conformance_verbs.sh RDMA_VM CONFORMANCE_BINARY
# Skips (77) while the binary has no verbs instances, so the test turns on by
# itself once the verbs datapath registers.
#
# Every test runs with 1 lane; of the 8-lane instances only those where more
# lanes exercise something a single lane does not (striping a large message,
# many messages and tags spread over lanes, per-lane stats, close while lanes
# are busy, concurrent multi-lane accepts). Under TCG the full 8-lane set
# doubled the guest time (each 8-lane connect is lane 0, one RTT, then seven
# more QPs) for little more coverage: the 8-lane instances all run on TCP.
set -u
vm=$1 bin=$2
lanes8=(
  ConformanceSizes.Message256MiB
  ConformanceSizes.SmallChunksInterleavedMessages
  ConformanceSizes.StatsCountMessagesBytesAndLanes
  ConformanceMatching.ThousandOutstandingPostedBeforeAndAfterArrival
  ConformanceMatching.TagsReceivedInDifferentOrderThanSent
  ConformanceErrors.CloseDeliversEarlierSendsFirst
  ConformanceListener.ThreeClientsAtOnce
  ConformanceRma.WritePlacesBytesThenReadSeesThem
)
# The 256 MiB message runs once, striped over 8 lanes: 40-55 s per instance in
# TCG, 87 s at load 13-14 (its wait, transferWait() in test_support.h, scales
# with the size for that reason).
filter='*/verbs_lanes1:'$(printf '*/%s/verbs_lanes8:' "${lanes8[@]}")
filter=${filter%:}-*/ConformanceSizes.Message256MiB/verbs_lanes1
list=$("$bin" --gtest_list_tests --gtest_filter="$filter") || {
  echo "conformance-verbs: $bin --gtest_list_tests failed" >&2
  exit 1
}
# Test lines are indented; suite lines are not.
if ! grep -q '^  ' <<<"$list"; then
  echo "conformance-verbs: SKIP: $bin has no verbs tests (the verbs datapath is not built)"
  exit 77
fi
echo "conformance-verbs: $(grep -c '^  ' <<<"$list") verbs tests"
# The report lands in the cwd, which the guest shares read-write.
report=$PWD/conformance-verbs.xml
rm -f "$report"
"$vm" --timeout 540 -- "$bin" --gtest_filter="$filter" --gtest_output="xml:$report"
rc=$?
[ $rc = 0 ] || exit $rc
# A guest whose devices the suite cannot see would skip everything and pass.
ran=$(grep -c 'result="completed"' "$report" 2>/dev/null)
if [ "${ran:-0}" = 0 ]; then
  echo "conformance-verbs: FAIL: every verbs test skipped inside the Soft-RoCE guest" >&2
  exit 1
fi
echo "conformance-verbs: $ran verbs tests ran on Soft-RoCE"
