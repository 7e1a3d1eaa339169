// Session resume on TCP lanes, the datapath's side (see resume.h for the
// reconnecting and routing). Every frame sent on a lane stays in
// lane.unacked (header and a pointer into the caller's buffer, never a copy)
// until the peer's ACK counts it, and a send completes only then: that is
// the back-pressure that bounds memory. When a lane breaks, all lanes go
// down, the connecting side reconnects them, each end says on each new lane
// how many frames it consumed (RESUME), and each sender sends again, in
// order, what the other did not consume, before anything new.
#include <algorithm>
#include <cerrno>

#include "transport/tcp/socket_util.h"
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

void TcpChannel::lost(Status why) {
  // A goodbye in progress is never resumed: the peer may be gone for good.
  if (!resume_ || goodbye_ || peer_gone_ || closed_ || !failed_.isOk()) return fail(std::move(why));
  if (phase_ != Phase::kLive) return;  // already resuming
  beginResume(std::move(why));
}

void TcpChannel::beginResume(Status why) {
  phase_ = Phase::kDraining;
  resume_cause_ = std::move(why);
  resume_since_ = Clock::now();
  resume_deadline_ = resume_since_ + setup_.options.resume_timeout;
  // Shutting the sockets down finishes every kernel op in flight soon.
  for (auto& l : lanes_) {
    ::shutdown(l->fd.get(), SHUT_RDWR);
    l->stats.up = false;
  }
}

Status TcpChannel::resumeGaveUp() const {
  auto tried = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - resume_since_);
  Status last = mailbox_ ? mailbox_->lastError() : Status();
  std::string who =
      setup_.reconnect.host.empty() ? "waited for it to reconnect" : "tried to reconnect";
  return Status(StatusCode::kPeerClosed,
                "peer " + setup_.peer + ": every lane was lost (" + resume_cause_.message() +
                    "); " + who + " for " + std::to_string(tried.count()) + " ms without success" +
                    (last.isOk() ? std::string() : " (last attempt: " + last.message() + ")") +
                    "; FARLINK_RESUME_TIMEOUT (now " +
                    std::to_string(setup_.options.resume_timeout.count()) +
                    " ms) sets how long to try");
}

void TcpChannel::stepResume() {
  if (mailbox_->fatal()) return fail(resumeGaveUp());
  // The peer may notice a cut first and reconnect while our lanes still look
  // up (a blackout): its new lanes replace them.
  if (phase_ == Phase::kLive && mailbox_->hasLanes())
    beginResume(Status(StatusCode::kPeerClosed, "the peer reconnected"));
  if (phase_ == Phase::kDraining && ops_in_flight_ == 0) {
    for (auto& l : lanes_) l->fd.reset();
    phase_ = Phase::kWaiting;
    int n = static_cast<int>(lanes_.size());
    if (mailbox_->hasLanes())
      ;  // the peer's lanes are here already
    else if (!setup_.reconnect.host.empty()) {
      uint32_t rtt_us = 0;  // as the lanes last saw it, before the cut
      for (auto& l : lanes_) rtt_us = std::max(rtt_us, l->rtt_us);
      resumer_ = Resumer::reconnect(setup_.reconnect, setup_.options, n, setup_.session, mailbox_,
                                    resume_deadline_, std::chrono::microseconds(rtt_us));
    } else if (setup_.hub)
      resumer_ = Resumer::await(setup_.hub, mailbox_, resume_deadline_);
  }
  if (phase_ != Phase::kWaiting) return;
  if (std::optional<LaneSession> s = mailbox_->take()) return installLanes(std::move(*s));
  if (Clock::now() >= resume_deadline_) fail(resumeGaveUp());
}

void TcpChannel::installLanes(LaneSession s) {
  resumer_.reset();  // it delivered (or is about to stop): joins at once
  if (s.lanes.size() != lanes_.size() || s.tls.empty() != (lanes_.front()->tls == nullptr) ||
      (!s.tls.empty() && s.tls.size() != s.lanes.size()))
    return fail(
        Status(StatusCode::kProtocolError, "peer " + setup_.peer +
                                               " resumed the session with other lanes or TLS "
                                               "settings than it opened it with"));
  for (size_t i = 0; i < lanes_.size(); ++i) {
    Lane& l = *lanes_[i];
    if (Status st = setNonBlocking(s.lanes[i].get(), false); !st) return fail(st);
    // A frame cut off mid-payload comes again whole: its chunk must be
    // placeable again (the bytes already written are overwritten alike).
    if (l.rx == Lane::RxState::kPayload && l.cur.type == wire::FrameType::kData && l.msg)
      matcher_.unroute(l.msg, l.cur);
    l.fd = std::move(s.lanes[i]);
    l.tls = s.tls.empty() ? nullptr : std::move(s.tls[i]);
    l.sealed.clear();
    l.rx = Lane::RxState::kHeader;
    l.recv_busy = l.recv_direct = l.send_busy = false;
    l.rpos = l.rend = 0;
    l.msg = nullptr;
    l.dest = nullptr;
    l.remaining = 0;
    l.last_was_large = false;
    l.batch.clear();
    l.retained_in_batch = 0;
    l.close_in_batch = false;
    l.watch = LivenessWatch{};  // a new socket: its own RTT and ACK clock
    l.keepalive_due = false;
    l.resume_frame_due = true;
    l.awaiting_resume = true;
    l.stats.up = true;
  }
  if (flow_) {  // a new path: the flow model starts over
    std::vector<int> fds;
    for (auto& l : lanes_) fds.push_back(l->fd.get());
    auto flow = TcpFlow::create(setup_.options, fds, setup_.local_chunk);
    if (!flow) return fail(flow.status());
    flow_ = std::move(*flow);
  }
  next_liveness_ = Clock::now();  // the next driver pass looks at the new lanes
  phase_ = Phase::kLive;
  ++resumes_;
}

bool TcpChannel::ackPending() const {
  if (!resume_ || phase_ != Phase::kLive || goodbye_) return false;
  for (const auto& l : lanes_)
    if (!l->send_busy && (l->resume_frame_due || l->rx_frames > l->rx_acked)) return true;
  return false;
}

void TcpChannel::onResumeCount(Lane& lane) {
  const bool is_resume = lane.cur.type == wire::FrameType::kResume;
  const uint64_t count = lane.cur.msg_seq;
  const uint64_t sent = lane.tx_acked + lane.unacked.size();
  auto bad = [&](const std::string& what) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + what));
  };
  if (!resume_) return bad("sent an ACK or RESUME frame without session resume agreed");
  if (is_resume != lane.awaiting_resume)
    return bad(is_resume ? "sent RESUME on a lane that did not reconnect"
                         : "sent another frame before RESUME on a reconnected lane");
  if (count > sent)
    return bad("acknowledged " + std::to_string(count) + " frames of the " + std::to_string(sent) +
               " sent");
  if (is_resume && count < lane.tx_acked)
    return bad("resumed from frame " + std::to_string(count) + ", before frame " +
               std::to_string(lane.tx_acked) + " it had acknowledged");
  ackUpTo(lane, count);
  if (is_resume) {
    lane.awaiting_resume = false;
    lane.resend_next = lane.tx_acked;
    lane.resend_end = lane.tx_acked + lane.unacked.size();
  }
}

void TcpChannel::ackUpTo(Lane& lane, uint64_t count) {
  // Counts at or below what is acknowledged already are stale (a release
  // on closing ran ahead of them).
  while (lane.tx_acked < count && !lane.unacked.empty()) {
    Lane::Sent f = lane.unacked.front();
    lane.unacked.pop_front();
    ++lane.tx_acked;
    if (f.q) f.q->done(f.c);
  }
  lane.resend_next = std::max(lane.resend_next, lane.tx_acked);
}

void TcpChannel::releaseRetained() {
  for (auto& l : lanes_) {
    // Frames still to be sent again, or in the sendmsg in flight, stay.
    if (l->send_busy || l->awaiting_resume || l->resend_next < l->resend_end) continue;
    ackUpTo(*l, l->tx_acked + l->unacked.size());
  }
}

}  // namespace farlink::tcp
