// The RC QP's local ACK timeout (IB_QP_TIMEOUT, 4.096 us x 2^t) sized from
// the path's round-trip time, and the connect private data that tells the
// passive side that RTT. Pure logic: no verbs headers, so unit tests build
// without rdma-core.
#pragma once

#include <cstddef>
#include <cstdint>

namespace farlink::verbs {

// Before any RTT is known (every channel's lane 0): 1.07 s, longer than any
// long-haul route's RTT, so the QP never retransmits merely because the
// link is long.
inline constexpr uint8_t kDefaultAckTimeout = 18;
// Never below 268 ms: an ACK also waits for the peer's host, and a software
// RoCE peer under load stalls for 100 ms and more (with a 67 ms floor, two
// 8-lane conformance tests on Soft-RoCE under a loaded QEMU failed SENDs
// with "remote operation error"; at 268 ms the suite passed). With 7
// retries a blackout of about 2 s is survived, and a short link still
// recovers a loss 4x sooner than with 1.07 s.
inline constexpr uint8_t kMinAckTimeout = 16;
// Never above 4.3 s: covers a 1 s RTT; beyond that a dead peer would take
// half a minute to notice.
inline constexpr uint8_t kMaxAckTimeout = 20;
// The timeout must exceed this many RTTs: an ACK may wait behind a full
// queue of our own data and the peer's coalescing, so one RTT is not enough.
inline constexpr double kAckTimeoutRtts = 4;

constexpr double ackTimeoutUs(uint8_t t) { return 4.096 * static_cast<double>(uint64_t{1} << t); }

// The smallest t with 4.096 us x 2^t >= kAckTimeoutRtts x RTT, kept within
// [kMinAckTimeout, kMaxAckTimeout]; an unknown RTT (<= 0) gives the default.
constexpr uint8_t ackTimeoutForRtt(double rtt_us) {
  if (!(rtt_us > 0)) return kDefaultAckTimeout;
  uint8_t t = kMinAckTimeout;
  while (t < kMaxAckTimeout && ackTimeoutUs(t) < kAckTimeoutRtts * rtt_us) ++t;
  return t;
}

// Private data of an rdma_cm connect request: "FLR1" and the RTT in
// microseconds the active side measured on the channel's lane 0 (big
// endian; 0 = not measured yet). The CM pads private data with zeros, so
// the magic tells it from "no data" (an older peer).
inline constexpr size_t kConnectDataSize = 8;
inline constexpr uint8_t kConnectMagic[4] = {'F', 'L', 'R', '1'};

inline void encodeConnectData(uint32_t rtt_us, uint8_t out[kConnectDataSize]) {
  for (int i = 0; i < 4; ++i) out[i] = kConnectMagic[i];
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<uint8_t>(rtt_us >> (24 - 8 * i));
}

// The RTT a peer announced, or 0 when `data` is not ours or says none.
inline uint32_t decodeConnectData(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (p == nullptr || len < kConnectDataSize) return 0;
  for (int i = 0; i < 4; ++i)
    if (p[i] != kConnectMagic[i]) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[4 + i];
  return v;
}

}  // namespace farlink::verbs
