// Bandwidth-delay-product sizing: given a rate (measured or wanted), an RTT
// and the kernel's limits, how many lanes, how big a buffer per lane, what
// chunk size and in-flight window — and which limit caps throughput and
// which knob would lift it, in words a user can act on.
// Pure; no I/O (the limits come from readKernelLimits or the caller).
#pragma once

#include <cstdint>
#include <string>

#include "farlink/status.h"
#include "flow/flow_time.h"
#include "flow/kernel_limits.h"

namespace farlink::flow {

enum class LaneKind : uint8_t { kTcp, kVerbs };

struct SizingInput {
  LaneKind kind = LaneKind::kTcp;
  BytesPerSecond rate = 0;  // bytes/s to sustain
  FlowDuration rtt{0};
  KernelLimits limits;
  int max_lanes = 64;  // ChannelOptions allows 1..64
  // TCP: the application sets SO_SNDBUF/SO_RCVBUF (ChannelOptions::
  // socket_buffer), which turns autotuning off and caps at net.core.*mem_max.
  bool explicit_socket_buffer = false;
};

struct SizingAdvice {
  uint64_t bdp = 0;               // rate × RTT
  int lanes = 1;                  // recommended lanes (TCP connections or QPs)
  uint64_t lane_window = 0;       // most one lane can keep in flight (kernel limit)
  uint64_t lane_buffer = 0;       // recommended per-lane socket buffer / window
  uint64_t chunk_size = 0;        // recommended ChannelOptions::chunk_size
  uint64_t inflight_window = 0;   // recommended channel in-flight window
  BytesPerSecond lane_rate = 0;   // one lane's ceiling at this RTT
  BytesPerSecond achievable = 0;  // min(rate, lanes × lane_rate)
  // Which limit caps one lane ("net.ipv4.tcp_rmem max", "QP window (128 packets
  // × 1024 B MTU)"), and a sentence saying what it does and how to lift it.
  std::string limit;
  std::string advice;
};

// kInvalidArgument when rate, rtt or max_lanes make no sense.
Result<SizingAdvice> recommendSizing(const SizingInput& in);

}  // namespace farlink::flow
