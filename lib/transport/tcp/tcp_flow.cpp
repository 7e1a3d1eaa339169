// TcpFlow: lib/flow's controller driving TCP lanes (see tcp_flow.h).
// <linux/tcp.h> for the full tcp_info; it clashes with <netinet/tcp.h>, so
// this file stays away from socket_util.h.
#include "transport/tcp/tcp_flow.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace farlink::tcp {
namespace {

using namespace std::chrono_literals;

// Paths faster than this gain nothing from pacing (and loopback's
// microsecond RTTs would make every poll a wasted syscall).
constexpr auto kAutoMinRtt = 1ms;
// Kernel pacing per lane, as a multiple of the channel's rate: farlink's own
// pacer keeps the average; the kernel only smooths each chunk's burst.
constexpr double kLanePacingHeadroom = 1.25;

struct PathRtt {
  bool ok = false;
  uint32_t min_rtt_us = 0;
};

PathRtt readRtt(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  PathRtt r;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return r;
  r.ok = true;
  r.min_rtt_us = ti.tcpi_rtt;
  size_t end = offsetof(tcp_info, tcpi_min_rtt) + sizeof ti.tcpi_min_rtt;
  if (len >= end && ti.tcpi_min_rtt != 0 && ti.tcpi_min_rtt != ~uint32_t{0})
    r.min_rtt_us = ti.tcpi_min_rtt;
  return r;
}

// Bytes the peer holds beyond the cumulative ack (SACKed past a hole), as
// the kernel counts them: segments of the current MSS. 0 if unknown.
uint64_t sackedBytes(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  if (len < offsetof(tcp_info, tcpi_snd_mss) + sizeof ti.tcpi_snd_mss) return 0;
  return uint64_t{ti.tcpi_sacked} * ti.tcpi_snd_mss;
}

const char* modeName(FlowMode m) { return m == FlowMode::kFixed ? "fixed" : "model"; }

}  // namespace

namespace {

bool flowOnPath(const ChannelOptions& o, const PathRtt& rtt) {
  if (o.flow == FlowMode::kOff) return false;
  if (o.flow != FlowMode::kAuto) return true;
  return rtt.ok && std::chrono::microseconds(rtt.min_rtt_us) >= kAutoMinRtt;
}

}  // namespace

uint32_t TcpFlow::chunkForPath(const ChannelOptions& o, int fd, uint32_t chunk) {
  return flowOnPath(o, readRtt(fd)) ? std::min(chunk, kChunkBytes) : chunk;
}

Result<std::unique_ptr<TcpFlow>> TcpFlow::create(const ChannelOptions& o,
                                                 const std::vector<int>& fds,
                                                 uint32_t chunk_bytes) {
  if (fds.empty()) return std::unique_ptr<TcpFlow>();
  // The handshake's round trips have given the kernel an RTT already.
  PathRtt rtt = readRtt(fds.front());
  if (!flowOnPath(o, rtt)) return std::unique_ptr<TcpFlow>();
  flow::FlowConfig cfg;
  cfg.controller = modeName(o.flow == FlowMode::kAuto ? FlowMode::kModel : o.flow);
  cfg.params.rate = static_cast<double>(o.flow_rate_bps) / 8;
  cfg.params.chunk_bytes = chunk_bytes;
  if (cfg.controller == "fixed")  // a lab rate: keep one second of it in flight at most
    cfg.params.window = std::max<uint64_t>(cfg.params.rate, 4 * uint64_t{chunk_bytes});
  // One logical lane: the TCP lanes pull chunks themselves, and the kernel
  // retransmits, so the scheduler's stall handling must never fire.
  cfg.lanes = 1;
  cfg.scheduler.stall_floor = std::chrono::hours(24 * 365);
  cfg.scheduler.small_max = 64 * 1024;
  // A chunk's onSend is when it joined a batch, not when it left the host.
  cfg.rtt_from_send_time = false;
  auto f = flow::ChannelFlow::create(cfg);
  if (!f) return f.status();
  // RTT samples can overshoot by two polls; at 1/24 RTT that stays well
  // under the back-off's queueing threshold (max(2 ms, RTT/10)).
  auto tick =
      std::clamp<flow::FlowDuration>(std::chrono::microseconds(rtt.min_rtt_us) / 24, 500us, 2ms);
  std::unique_ptr<TcpFlow> tf(new TcpFlow(std::move(*f), fds.size(), tick));
  // Polls run every tick while chunks are out, unless nobody drives the
  // channel (no library thread: the application may be busy elsewhere for
  // seconds). A sample whose polls were further apart than this is dropped.
  auto max_gap =
      std::max<flow::FlowDuration>(std::chrono::microseconds(rtt.min_rtt_us) / 4, 4 * tick);
  for (LaneState& l : tf->lanes_) l.chunks = flow::StreamProgress(max_gap);
  tf->trace_ = std::getenv("FARLINK_FLOW_TRACE") != nullptr;
  return tf;
}

bool TcpFlow::mayTake(uint64_t bytes, flow::FlowTime now) {
  auto prio = bytes <= 64 * 1024 ? flow::Priority::kSmall : flow::Priority::kBulk;
  flow::SendDecision d = flow_->maySendBytes(0, bytes, prio, now);
  if (!d.allowed && d.blocker == flow::SendDecision::Blocker::kPacing) paced_++;
  if (!d.allowed && d.blocker == flow::SendDecision::Blocker::kInflightCap) capped_++;
  if (!d.allowed && d.blocker == flow::SendDecision::Blocker::kPacing)
    pacing_wake_ = std::min(pacing_wake_, now + d.wait);
  return d.allowed;
}

void TcpFlow::onTake(int lane, uint64_t end_in_batch, uint64_t bytes, flow::FlowTime now) {
  auto prio = bytes <= 64 * 1024 ? flow::Priority::kSmall : flow::Priority::kBulk;
  flow::ChunkId id = next_id_++;
  // With one logical lane, assign/next/onSend cannot disagree.
  if (!flow_->assign(id, bytes, prio, now) || flow_->next(0) != id || !flow_->onSend(0, id, now))
    return;
  LaneState& l = lanes_[lane];
  uint64_t end = l.submitted + end_in_batch;
  l.chunks.onQueued(id, end - bytes, end, now);
  ack_wake_ = std::min(ack_wake_, last_poll_ + tick_);
}

void TcpFlow::poll(const std::vector<int>& fds, const std::vector<uint64_t>& accepted,
                   bool nothing_queued, flow::FlowTime now) {
  if (!due(now)) return;
  last_poll_ = now;
  flow::FlowTime latest = now;  // the flow's clock must not go back after an ack at `after`
  for (size_t i = 0; i < lanes_.size(); ++i) {
    LaneState& l = lanes_[i];
    if (!l.chunks.empty()) {
      // Unacked first: the peer cannot have acked what we then see unsent,
      // so sent >= acked however the two reads interleave with the stack.
      // The pass's `now` may be well before these reads on a busy host:
      // bracket them with fresh clock reads so samples never undercut.
      int unacked = 0, unsent = 0;
      flow::FlowTime before = flow::FlowClock::now();
      if (::ioctl(fds[i], SIOCOUTQ, &unacked) == 0 && ::ioctl(fds[i], SIOCOUTQNSD, &unsent) == 0) {
        flow::FlowTime after = flow::FlowClock::now();
        auto below = [&](int held) {
          return accepted[i] -
                 std::min<uint64_t>(accepted[i], static_cast<uint64_t>(std::max(held, 0)));
        };
        uint64_t acked = below(unacked);
        // While a sendmsg runs, the socket holds bytes that `accepted` does
        // not count yet, so "sent" would land on bytes that left long ago
        // (RTT samples of ~1 ms). Acks are only late by that; sends wait.
        acked_.clear();
        if (accepted[i] == l.submitted)
          l.chunks.observe(std::max(below(unsent), acked), acked, before, after, acked_);
        else
          l.chunks.observeAcked(acked, after, acked_);
        latest = std::max(latest, after);
        for (const flow::StreamProgress::Acked& a : acked_) flow_->onAck(0, a.id, latest, a.rtt);
        // Under loss the cumulative ack waits at a hole for a round trip
        // while the peer SACKs what follows; counting the whole chunks
        // behind it as in flight held the cap shut (0.71 of the link at 1%).
        credits_.clear();
        l.chunks.credits(acked, sackedBytes(fds[i]), credits_);
        for (const flow::StreamProgress::Credit& c : credits_)
          (void)flow_->onPartialAck(0, c.id, c.delivered, latest);
      }
    }
    setKernelPacing(fds[i], l);
  }
  if (nothing_queued) flow_->onAppLimited();
  flow_->onTick(latest);
  scheduleWake(now);
  if (trace_ && now - last_trace_ >= std::chrono::milliseconds(50)) trace(now);
}

void TcpFlow::trace(flow::FlowTime now) {
  // One line per 50 ms for following the controller through a run; the
  // counters say how often pacing and the cap held a chunk back.
  last_trace_ = now;
  flow::FlowStats s = flow_->stats(now);
  auto ms = [](flow::FlowDuration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::fprintf(stderr,
               "farlink flow: t=%.3f bw=%.1f pace=%.1f cap=%llu infl=%llu min=%.2f srtt=%.2f "
               "done=%.1fMB state=%s paced=%llu capped=%llu lim=%s\n",
               std::chrono::duration<double>(now.time_since_epoch()).count(),
               s.delivery_rate * 8e-6, s.pacing_rate * 8e-6,
               static_cast<unsigned long long>(s.inflight_cap),
               static_cast<unsigned long long>(s.inflight_bytes), ms(s.rtt_min),
               ms(s.rtt_smoothed), static_cast<double>(s.bytes_completed) / 1e6, s.state.c_str(),
               static_cast<unsigned long long>(paced_), static_cast<unsigned long long>(capped_),
               s.limiting_factor.c_str());
}

void TcpFlow::scheduleWake(flow::FlowTime now) {
  bool outstanding = false;
  for (const LaneState& l : lanes_) outstanding |= !l.chunks.empty();
  ack_wake_ = outstanding ? now + tick_ : flow::FlowTime::max();
  // The pacing wake has done its job once reached: the caller's next
  // armAll asks mayTake again, which sets a new one if still paced.
  if (pacing_wake_ <= now) pacing_wake_ = flow::FlowTime::max();
}

void TcpFlow::setKernelPacing(int fd, LaneState& lane) {
  // Never below the in-flight cap per round trip: the cap limits the rate
  // anyway, and a pace below it could starve the samples that raise it.
  const flow::RttEstimator& rtt = flow_->rtt();
  double rate = flow_->controller().pacingRate();
  if (rate > 0 && rtt.minRtt() > flow::FlowDuration::zero())
    rate = std::max(
        rate, static_cast<double>(flow_->controller().inflightCap()) / flow::toSeconds(rtt.srtt()));
  uint64_t want = rate > 0 ? static_cast<uint64_t>(rate * kLanePacingHeadroom) : ~uint64_t{0};
  uint64_t have = lane.kernel_pacing;
  if (have != 0 && want != ~uint64_t{0} && have != ~uint64_t{0} &&
      std::max(want, have) - std::min(want, have) < have / 16)
    return;  // within ~6%: not worth a syscall
  if (want == have) return;
  if (::setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &want, sizeof want) == 0)
    lane.kernel_pacing = want;
}

FlowSummary TcpFlow::summary(flow::FlowTime now) const {
  flow::FlowStats s = flow_->stats(now);
  auto us = [](flow::FlowDuration d) {
    return std::chrono::duration<double, std::micro>(d).count();
  };
  FlowSummary f;
  f.controller = s.controller;
  f.state = s.state;
  f.limiting_factor = s.limiting_factor;
  f.min_rtt_us = us(s.rtt_min);
  f.srtt_us = us(s.rtt_smoothed);
  f.queueing_delay_us = us(s.queueing_delay);
  f.delivery_rate_bps = s.delivery_rate * 8;
  f.pacing_rate_bps = s.pacing_rate * 8;
  f.inflight_bytes = s.inflight_bytes;
  f.inflight_cap = s.inflight_cap;
  return f;
}

}  // namespace farlink::tcp
