#include "transport/tcp/liveness.h"

#include <algorithm>

namespace farlink::tcp {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// TCP_INFO reports ACK times in milliseconds from jiffies (10 ms at HZ=100):
// an ACK that far before our observation may have followed it.
constexpr milliseconds kAckClockSlack{10};

}  // namespace

microseconds retransmitTimeout(const LanePulse& p) {
  if (p.rtt_us == 0) return std::chrono::seconds(1);
  return microseconds(p.rtt_us) +
         std::max<microseconds>(microseconds(uint64_t{p.rttvar_us} * 4), milliseconds(200));
}

milliseconds silenceBound(const ChannelOptions& o, const LanePulse& p) {
  if (o.dead_peer_timeout.count() > 0) return o.dead_peer_timeout;
  return std::chrono::ceil<milliseconds>(retransmitTimeout(p) * kDeadRtos);
}

Pulse judge(const LanePulse& p, milliseconds bound, Clock::time_point now, LivenessWatch* w) {
  if (p.unacked == 0) {
    w->pending = false;
    // Bytes queued behind a closed window: the kernel probes the window and
    // the peer's kernel answers; another frame would only queue up too.
    if (p.notsent_bytes > 0) return Pulse::kAlive;
    uint32_t quiet = std::min({p.since_send_ms, p.since_recv_ms, p.since_ack_ms});
    return milliseconds(quiet) >= bound / kDeadRtos ? Pulse::kProbe : Pulse::kAlive;
  }
  // Bytes in flight. They are known to have waited since pending_seen only
  // if no ACK arrived after it (an ACK may have cleared what was seen, and
  // what is in flight now left later): else start watching now.
  Clock::time_point last_ack = now - milliseconds(p.since_ack_ms);
  if (!w->pending || last_ack + kAckClockSlack >= w->pending_seen) {
    w->pending = true;
    w->pending_seen = now;
  }
  if (now - w->pending_seen > bound && milliseconds(p.since_ack_ms) > bound) return Pulse::kDead;
  return Pulse::kAlive;
}

void noteProbe(Clock::time_point now, LivenessWatch* w) {
  if (w->pending) return;
  w->pending = true;
  w->pending_seen = now;
}

milliseconds checkInterval(milliseconds bound) {
  return std::max<milliseconds>(milliseconds(10), bound / (2 * kDeadRtos));
}

}  // namespace farlink::tcp
