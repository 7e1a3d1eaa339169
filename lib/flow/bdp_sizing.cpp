#include "flow/bdp_sizing.h"

#include <algorithm>
#include <bit>

#include "flow/flow_format.h"

namespace farlink::flow {
namespace {

constexpr uint64_t kMinChunk = 64 * 1024;
constexpr uint64_t kMaxChunk = 4 * 1024 * 1024;
// Each lane should hold several chunks so one ack gap does not idle it.
constexpr uint64_t kChunksPerLaneWindow = 4;
// Headroom over the BDP: BBR-style probing keeps up to 1.25 × BDP in flight.
constexpr double kHeadroom = 1.25;

uint64_t floorPow2(uint64_t v) { return v ? std::bit_floor(v) : 0; }

uint64_t ceilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// The per-lane window of a TCP lane and the knob behind it.
void tcpLaneWindow(const SizingInput& in, uint64_t& window, std::string& knob) {
  const KernelLimits& k = in.limits;
  if (in.explicit_socket_buffer) {
    // setsockopt values are capped at net.core.{w,r}mem_max.
    window = std::min(k.core_wmem_max, k.core_rmem_max);
    knob = k.core_rmem_max <= k.core_wmem_max ? "net.core.rmem_max" : "net.core.wmem_max";
  } else {
    window = std::min(k.tcp_wmem_max, k.tcp_rmem_max);
    knob = k.tcp_rmem_max <= k.tcp_wmem_max ? "net.ipv4.tcp_rmem max" : "net.ipv4.tcp_wmem max";
  }
}

}  // namespace

Result<SizingAdvice> recommendSizing(const SizingInput& in) {
  if (!(in.rate > 0) || in.rtt <= FlowDuration::zero())
    return Status(StatusCode::kInvalidArgument,
                  "BDP sizing needs a rate > 0 and an RTT > 0 (measure the path first, e.g. "
                  "farlink ping)");
  if (in.max_lanes < 1)
    return Status(StatusCode::kInvalidArgument, "BDP sizing: max_lanes must be >= 1");

  SizingAdvice a;
  a.bdp = std::max<uint64_t>(1, static_cast<uint64_t>(bytesIn(in.rate, in.rtt)));
  std::string knob, lift;
  if (in.kind == LaneKind::kTcp) {
    tcpLaneWindow(in, a.lane_window, knob);
    knob += " " + formatBytes(a.lane_window);
    lift = "raise it";
  } else {
    const KernelLimits& k = in.limits;
    if (k.qp_max_outstanding_packets == 0 || k.path_mtu == 0)
      return Status(StatusCode::kInvalidArgument,
                    "BDP sizing for verbs needs the QP's outstanding-packet limit and path MTU");
    a.lane_window = uint64_t{k.qp_max_outstanding_packets} * k.path_mtu;
    knob = "QP window (" + std::to_string(k.qp_max_outstanding_packets) + " packets x " +
           std::to_string(k.path_mtu) + " B MTU = " + formatBytes(a.lane_window) + ")";
    lift = k.path_mtu < 4096 ? "use a 4096-byte path MTU" : "use a NIC with a deeper QP window";
  }
  a.lane_rate = static_cast<double>(a.lane_window) / toSeconds(in.rtt);

  uint64_t needed = std::max<uint64_t>(1, ceilDiv(a.bdp, a.lane_window));
  a.lanes = static_cast<int>(std::min<uint64_t>(needed, static_cast<uint64_t>(in.max_lanes)));
  a.achievable = std::min(in.rate, a.lane_rate * a.lanes);

  uint64_t share = ceilDiv(a.bdp, static_cast<uint64_t>(a.lanes));
  a.lane_buffer =
      std::min(a.lane_window, static_cast<uint64_t>(kHeadroom * static_cast<double>(share)));
  a.chunk_size = std::clamp(floorPow2(a.lane_buffer / kChunksPerLaneWindow), kMinChunk, kMaxChunk);
  if (in.kind == LaneKind::kVerbs) a.chunk_size = std::min(a.chunk_size, floorPow2(a.lane_window));
  a.inflight_window = std::min(static_cast<uint64_t>(kHeadroom * static_cast<double>(a.bdp)),
                               a.lane_window * static_cast<uint64_t>(a.lanes));

  std::string lane_word = in.kind == LaneKind::kTcp ? "lane" : "QP";
  a.limit = knob;
  std::string caps = knob + " caps one " + lane_word + " at " + formatRate(a.lane_rate) + " at " +
                     formatDuration(in.rtt) + " RTT";
  if (needed <= 1) {
    a.advice = "one " + lane_word + " suffices for " + formatRate(in.rate) + " at " +
               formatDuration(in.rtt) + " RTT (BDP " + formatBytes(a.bdp) + "); " + caps;
  } else if (needed <= static_cast<uint64_t>(in.max_lanes)) {
    a.advice = caps + "; " + lift + " or use >= " + std::to_string(needed) + " " + lane_word +
               "s for " + formatRate(in.rate) + " (BDP " + formatBytes(a.bdp) + ")";
  } else {
    a.advice = caps + "; even " + std::to_string(in.max_lanes) + " " + lane_word + "s reach only " +
               formatRate(a.achievable) + " of " + formatRate(in.rate) + ": " + lift + " (BDP " +
               formatBytes(a.bdp) + " needs " + std::to_string(needed) + ")";
  }
  return a;
}

}  // namespace farlink::flow
