// Dead-peer detection on a TCP lane at the scale of its RTT: when to probe a
// quiet lane (a KEEPALIVE frame the peer's kernel ACKs) and when a lane
// whose bytes stay unacknowledged is dead. Pure logic over what TCP_INFO
// says (readPulse() in path_info.cpp), so it can be tested without sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "core/channel_impl.h"

namespace farlink::tcp {

// The kernel's view of one lane, as liveness needs it (from TCP_INFO).
struct LanePulse {
  uint32_t rtt_us = 0;         // smoothed RTT (0: no sample yet)
  uint32_t rttvar_us = 0;      // its mean deviation
  uint32_t unacked = 0;        // segments in flight, not yet acknowledged
  uint32_t notsent_bytes = 0;  // queued but not sent (closed window, cwnd)
  uint32_t since_send_ms = 0;  // since data last left
  uint32_t since_recv_ms = 0;  // since data last arrived
  uint32_t since_ack_ms = 0;   // since an ACK last arrived
};

// Linux's retransmission timeout for the lane: srtt + max(4 x rttvar,
// 200 ms). The kernel clamps the variance term at its 200 ms minimum RTO
// (delayed ACKs), so a probe's ACK may take that long on any path.
// Without an RTT sample yet: 1 s, the kernel's initial RTO.
std::chrono::microseconds retransmitTimeout(const LanePulse& p);

// No ACK for this many RTOs while bytes are in flight: the peer is dead.
// Linux retransmits an unacknowledged segment after 1 and 3 RTOs, so a probe
// and both retransmissions may be lost and the last one's ACK (sent by 3
// RTOs, back by 4) still arrives with 2 RTOs to spare for a delay spike.
inline constexpr int kDeadRtos = 6;

// How long a lane may leave its bytes unacknowledged: the explicit
// options.dead_peer_timeout, else kDeadRtos x retransmitTimeout().
std::chrono::milliseconds silenceBound(const ChannelOptions& o, const LanePulse& p);

// Per-lane memory of liveness (owned by the lane).
struct LivenessWatch {
  bool pending = false;               // bytes were seen in flight ...
  Clock::time_point pending_seen{};   // ... at this time, and no ACK since
};

enum class Pulse { kAlive, kProbe, kDead };

// One look at a lane. kProbe: the lane has been quiet (nothing sent,
// received or acknowledged) for a sixth of `bound` (one RTO by default) and
// has nothing in flight or queued: send a KEEPALIVE, then call
// noteProbe(). kDead: bytes were in flight for longer than `bound` with no
// ACK at all (a window probe's ACK counts, so a slow reader is alive).
Pulse judge(const LanePulse& p, std::chrono::milliseconds bound, Clock::time_point now,
            LivenessWatch* w);
void noteProbe(Clock::time_point now, LivenessWatch* w);

// How often a waiting thread looks at a lane with this bound: twelve times
// per bound (half an RTO by default), at most every 10 ms.
std::chrono::milliseconds checkInterval(std::chrono::milliseconds bound);

}  // namespace farlink::tcp
