// TcpChannel setup, public operations and the driver loop. The per-byte
// path is in tcp_datapath.cpp.
#include "transport/tcp/tcp_channel.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "transport/tcp/socket_util.h"

namespace farlink::tcp {

TcpChannel::TcpChannel(Setup setup)
    : FramedChannel(setup.peer, setup.local_chunk, setup.peer_chunk,
                    setup.options.max_unexpected_bytes),
      setup_(std::move(setup)) {}

Result<std::shared_ptr<TcpChannel>> TcpChannel::create(Setup setup) {
  auto ch = std::make_shared<TcpChannel>(std::move(setup));
  unsigned depth = std::max<unsigned>(ch->setup_.options.ring_depth,
                                      2 * static_cast<unsigned>(ch->setup_.lanes.size()) + 8);
  int rc = io_uring_queue_init(depth, &ch->ring_, 0);
  if (rc < 0)
    return Status(StatusCode::kNotSupported,
                  "io_uring is unavailable (io_uring_queue_init: " + std::string(strerror(-rc)) +
                      "); the TCP datapath needs it: check sysctl kernel.io_uring_disabled "
                      "and the container's seccomp policy",
                  -rc);
  ch->ring_ok_ = true;
  ch->wake_fd_.reset(eventfd(0, EFD_CLOEXEC));
  if (!ch->wake_fd_.valid()) return errnoStatus(StatusCode::kIoError, "eventfd", errno);
  if (!ch->setup_.tls.empty() && ch->setup_.tls.size() != ch->setup_.lanes.size())
    return Status(StatusCode::kProtocolError,
                  "peer " + ch->setup_.peer + " agreed to TLS on some lanes of its session only");
  int i = 0;
  for (auto& fd : ch->setup_.lanes) {
    // io_uring retries blocking sockets by polling; O_NONBLOCK would make it
    // hand EAGAIN back instead.
    if (Status s = setNonBlocking(fd.get(), false); !s) return s;
    auto lane = std::make_unique<Lane>();
    lane->index = i++;
    lane->fd = std::move(fd);
    lane->staging.reset(new uint8_t[kStagingBytes]);
    if (!ch->setup_.tls.empty()) {
      lane->tls = std::move(ch->setup_.tls[lane->index]);
      if (!lane->tls)
        return Status(StatusCode::kProtocolError, "peer " + ch->setup_.peer +
                                                      " agreed to TLS on some lanes of its session only");
      lane->cipher_in.reset(new uint8_t[kStagingBytes]);
    }
    lane->stats.up = true;
    ch->lanes_.push_back(std::move(lane));
  }
  ch->setup_.lanes.clear();
  std::vector<int> fds;
  for (auto& l : ch->lanes_) fds.push_back(l->fd.get());
  auto flow = TcpFlow::create(ch->setup_.options, fds, ch->setup_.local_chunk);
  if (!flow) return flow.status();
  ch->flow_ = std::move(*flow);
  // Session resume: agreed in the handshake and on here (both ends offered it).
  ch->resume_ = ch->setup_.resumable && ch->setup_.options.resume_timeout.count() > 0;
  if (ch->resume_) {
    ch->mailbox_ = std::make_shared<ResumeMailbox>(ch->wake_fd_.get());
    if (ch->setup_.hub)
      ch->setup_.hub->add(ch->setup_.session, ch->mailbox_, static_cast<int>(ch->lanes_.size()));
  }
  ch->checkLiveness(Clock::now());  // bounds for early errors; schedules the first look
  return ch;
}

TcpChannel::~TcpChannel() {
  if (mailbox_) mailbox_->close();  // before wake_fd_ closes
  resumer_.reset();
  if (!ring_ok_) return;
  Lock lk(mu_);
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "channel to " + setup_.peer + " was destroyed"));
  // Kernel ops may still point at request buffers: reap them before leaving.
  Deadline limit = Clock::now() + std::chrono::seconds(5);
  while (!failure_reported_ && Clock::now() < limit) driveOnce(lk, limit, true);
  if (wake_armed_) {  // complete the eventfd read so no op outlives wake_buf_
    uint64_t one = 1;
    if (::write(wake_fd_.get(), &one, sizeof one) == sizeof one) {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{1, 0};
      while (wake_armed_ && io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) == 0) {
        onCompletion(cqe->user_data, cqe->res);
        io_uring_cqe_seen(&ring_, cqe);
      }
    }
  }
  lk.unlock();
  io_uring_queue_exit(&ring_);
}

void TcpChannel::driveOnce(Lock& lk, Deadline deadline, bool block) {
  // A stalled lane that can now go on may finish what the caller waits
  // for without any new completion: then do not sleep in the kernel.
  bool progressed = false;
  // A kick (isend/irecv: no deadline, never sleeps) without flow control
  // reads no clock (~40 ns a read here) and leaves the coarse liveness
  // checks to the wait that follows.
  const bool fresh = block || deadline != Deadline{} || flow_;
  if (fresh) now_ = Clock::now();
  if (resume_ && failed_.isOk()) stepResume();
  const bool live = phase_ == Phase::kLive;
  if (flow_ && live && failed_.isOk() && flow_->due(now_)) pollFlow();
  if (fresh && live && failed_.isOk() && now_ >= next_liveness_) checkLiveness(now_);
  const uint64_t sends_before = sends_prepared_;
  if (failed_.isOk() || ops_in_flight_ > 0) {
    uint64_t before = matcher_.generation();
    retryStalled();
    progressed = matcher_.generation() != before;
    armAll();
  }
  if (!failed_.isOk() && ops_in_flight_ == 0) {
    finishFailure();
    return;
  }
  const bool defer_rearms =
      lazy_kick_ && !progressed && sends_prepared_ == sends_before && failed_.isOk();
  const Clock::time_point now = now_;
  io_uring_cqe* cqe = nullptr;
  int rc = 0;
  // Flow control wakes the driver to read acks and to send paced chunks.
  Deadline wake = std::min(deadline, next_liveness_);
  if (flow_ && live) wake = std::min(wake, flow_->nextWake());
  if (!live) wake = std::min(wake, resume_deadline_);
  // A posted receive, or a send the kernel took inline (defer_rearms): the
  // re-armed receives go in with the next submission, one io_uring_enter per
  // ping-pong step fewer (completions already queued are reaped below), and
  // the lock stays held, as no kernel call is made.
  if (!defer_rearms) {
    lk.unlock();
    if (!block || progressed || wake <= now) {
      rc = io_uring_submit(&ring_);
    } else if (wake == Deadline::max()) {
      rc = io_uring_submit_and_wait(&ring_, 1);
    } else {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count();
      __kernel_timespec ts{ns / 1000000000, ns % 1000000000};
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    lk.lock();
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
    fail(Status(StatusCode::kIoError,
                "io_uring_enter failed on the channel to " + setup_.peer + ": " + strerror(-rc), -rc));
  unsigned head = 0, n = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    onCompletion(cqe->user_data, cqe->res);
    ++n;
  }
  io_uring_cq_advance(&ring_, n);
  retryStalled();  // an announcement on one lane may free another's header
  if (!failed_.isOk() && ops_in_flight_ == 0) {
    finishFailure();
    return;
  }
  // Frames the peer waits for (acks, read data, goodbyes) leave now rather
  // than whenever this process next calls in; plain re-arms can wait.
  if (failed_.isOk() &&
      (!ctrlq_.empty() || rmaq_.hasChunks() || goodbyePending() || ackPending())) {
    armAll();
    io_uring_submit(&ring_);
  }
}

void TcpChannel::checkLiveness(Clock::time_point now) {
  std::chrono::milliseconds step = std::chrono::seconds(1);
  for (auto& l : lanes_) {
    std::optional<LanePulse> p = readPulse(l->fd.get());
    if (!p) continue;  // the lane's own ops report a broken socket
    l->rtt_us = p->rtt_us;
    l->silence_bound = silenceBound(setup_.options, *p);
    step = std::min(step, checkInterval(l->silence_bound));
    switch (judge(*p, l->silence_bound, now, &l->watch)) {
      case Pulse::kDead:
        next_liveness_ = now + step;
        return lost(silentPeer(*l));
      case Pulse::kProbe:
        // Only to a peer that agreed to KEEPALIVE; else kernel keepalive
        // (the backstop) is all a quiet lane has.
        l->keepalive_due = setup_.keepalive && !l->close_frame_sent;
        break;
      case Pulse::kAlive:
        break;
    }
  }
  next_liveness_ = now + step;
}

void TcpChannel::pollFlow() {
  std::vector<int> fds;
  std::vector<uint64_t> accepted;
  for (auto& l : lanes_) {
    fds.push_back(l->fd.get());
    accepted.push_back(l->stats.bytes_sent);
  }
  flow_->poll(fds, accepted, !sendq_.hasChunks() && !rmaq_.hasChunks(), now_);
}

bool TcpChannel::goodbyePending() const {
  if (!goodbye_) return false;
  for (const auto& l : lanes_)
    if (!l->close_frame_sent && !l->send_busy) return true;
  return false;
}

void TcpChannel::wakeDriver() {
  uint64_t one = 1;
  ssize_t w = ::write(wake_fd_.get(), &one, sizeof one);
  (void)w;  // a full counter already means "wake up"
}

void TcpChannel::abandon(RequestState& req, const Status& why) {
  Lock lk(mu_);
  if (req.done()) return;
  if (req.kind() == RequestState::Kind::kRecv && matcher_.withdraw(req, why)) return;
  // A message in flight cannot be taken back without breaking the stream.
  fail(Status(why.code(), why.message() + "; the operation could not be withdrawn, so the "
                                          "channel to " + setup_.peer + " was closed"));
  (void)driveUntil(lk, Clock::now() + std::chrono::seconds(10), [&] { return req.done(); },
                   "lanes to shut down");
}

Status TcpChannel::close(Deadline deadline) {
  Lock lk(mu_);
  if (closed_) return Status();
  // A CLOSE frame and a half-close on every lane; once every lane carried
  // the peer's CLOSE it sends nothing more, so closing our sockets cannot
  // reset data it still wants delivered.
  Status s = exchangeGoodbyes(lk, deadline, lanes_);
  Status result = failed_.isOk() ? s : failed_;
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "the channel to " + setup_.peer + " was closed locally"));
  while (!failure_reported_) driveOnce(lk, Clock::now() + std::chrono::seconds(1), true);
  closed_ = true;
  // A close that found the peer already gone is still a clean close.
  if (result.code() == StatusCode::kPeerClosed) return Status();
  return result;
}

ChannelStats TcpChannel::stats() const {
  Lock lk(mu_);
  ChannelStats st = commonStats("tcp");
  st.session_id = setup_.session_hex;
  st.lanes = static_cast<int>(lanes_.size());
  if (flow_) st.flow = flow_->summary(Clock::now());
  st.authenticated = setup_.authenticated;
  st.resumes = resumes_;
  st.encrypted = !lanes_.empty() && lanes_.front()->tls != nullptr;
  if (st.encrypted) {
    size_t kernel = 0;
    for (const auto& l : lanes_)
      if (l->tls && l->tls->kernel()) ++kernel;
      else if (l->tls && st.tls_offload_note.empty()) st.tls_offload_note = l->tls->kernelNote();
    st.tls_offload = kernel == lanes_.size() ? "kernel" : kernel == 0 ? "user" : "mixed";
  }
  for (const auto& l : lanes_) {
    st.lane.push_back(l->stats);
    if (l->fd.valid()) readPathInfo(l->fd.get(), &st.lane.back());
  }
  return st;
}

}  // namespace farlink::tcp
