// TcpChannel setup, public operations and the driver loop. The per-byte
// path is in tcp_datapath.cpp.
#include "transport/tcp/tcp_channel.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "transport/tcp/socket_util.h"

namespace farlink::tcp {

TcpChannel::TcpChannel(Setup setup)
    : setup_(std::move(setup)),
      sendq_(setup_.local_chunk),
      matcher_(setup_.peer, setup_.peer_chunk, setup_.options.max_unexpected_bytes),
      rmaq_(setup_.local_chunk),
      rma_(setup_.peer) {}

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
  int i = 0;
  for (auto& fd : ch->setup_.lanes) {
    // io_uring retries blocking sockets by polling; O_NONBLOCK would make it
    // hand EAGAIN back instead.
    if (Status s = setNonBlocking(fd.get(), false); !s) return s;
    auto lane = std::make_unique<Lane>();
    lane->index = i++;
    lane->fd = std::move(fd);
    lane->staging.reset(new uint8_t[kStagingBytes]);
    lane->stats.up = true;
    ch->lanes_.push_back(std::move(lane));
  }
  ch->setup_.lanes.clear();
  return ch;
}

TcpChannel::~TcpChannel() {
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

template <typename Pred>
Status TcpChannel::driveUntil(Lock& lk, Deadline deadline, Pred done, const char* what) {
  while (!done()) {
    if (!driving_) {
      driving_ = true;
      driveOnce(lk, deadline, true);
      driving_ = false;
      cv_.notify_all();
    } else if (deadline == Deadline::max()) {
      cv_.wait(lk);
    } else {
      cv_.wait_until(lk, deadline);
    }
    if (!done() && Clock::now() >= deadline)
      return Status(StatusCode::kTimedOut, std::string("timed out waiting for ") + what +
                                               " on the channel to " + setup_.peer);
  }
  return Status();
}

void TcpChannel::driveOnce(Lock& lk, Deadline deadline, bool block) {
  // A stalled lane that can now go on may finish what the caller waits
  // for without any new completion: then do not sleep in the kernel.
  bool progressed = false;
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
  lk.unlock();
  io_uring_cqe* cqe = nullptr;
  int rc;
  Clock::time_point now = Clock::now();
  if (!block || progressed || deadline <= now) {
    rc = io_uring_submit(&ring_);
  } else if (deadline == Deadline::max()) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
    __kernel_timespec ts{ns / 1000000000, ns % 1000000000};
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  lk.lock();
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
  if (failed_.isOk() && (!ctrlq_.empty() || rmaq_.hasChunks() || goodbyePending())) {
    armAll();
    io_uring_submit(&ring_);
  }
}

bool TcpChannel::goodbyePending() const {
  if (!goodbye_) return false;
  for (const auto& l : lanes_)
    if (!l->close_frame_sent && !l->send_busy) return true;
  return false;
}

void TcpChannel::kick(Lock& lk) {
  if (driving_) {
    uint64_t one = 1;
    ssize_t w = ::write(wake_fd_.get(), &one, sizeof one);
    (void)w;  // a full counter already means "wake up"
    return;
  }
  driving_ = true;
  driveOnce(lk, Clock::now(), false);
  driving_ = false;
  cv_.notify_all();
}

Result<Request> TcpChannel::isend(const void* data, size_t size, uint64_t tag) {
  if (tag == kAnyTag)
    return Status(StatusCode::kInvalidArgument, "isend: kAnyTag is for receives only");
  if (data == nullptr && size > 0)
    return Status(StatusCode::kInvalidArgument, "isend: null buffer with a non-zero size");
  Lock lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed, "isend: peer " + setup_.peer + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, "isend on a channel that is being closed");
  auto req = std::make_shared<RequestState>(RequestState::Kind::kSend, weak_from_this(),
                                            const_cast<uint8_t*>(static_cast<const uint8_t*>(data)),
                                            size, tag);
  sendq_.push(req, static_cast<const uint8_t*>(data), size, tag);
  ++messages_sent_;
  bytes_sent_ += size;
  kick(lk);
  return Request(req);
}

Result<Request> TcpChannel::irecv(void* data, size_t capacity, uint64_t tag) {
  if (data == nullptr && capacity > 0)
    return Status(StatusCode::kInvalidArgument, "irecv: null buffer with a non-zero capacity");
  Lock lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (closed_) return Status(StatusCode::kInvalidArgument, "irecv on a closed channel");
  auto req = std::make_shared<RequestState>(RequestState::Kind::kRecv, weak_from_this(),
                                            static_cast<uint8_t*>(data), capacity, tag);
  matcher_.post(req);
  kick(lk);
  return Request(req);
}

Status TcpChannel::wait(RequestState& req, Deadline deadline) {
  Lock lk(mu_);
  if (Status s = driveUntil(lk, deadline, [&] { return req.done(); }, "a request"); !s) return s;
  return req.status();
}

Status TcpChannel::progress(Deadline deadline) {
  Lock lk(mu_);
  if (!driving_) {
    driving_ = true;
    driveOnce(lk, deadline, deadline > Clock::now());
    driving_ = false;
    cv_.notify_all();
  }
  return failed_;
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

Status TcpChannel::flush(Deadline deadline) {
  Lock lk(mu_);
  Status s = driveUntil(lk, deadline, [&] { return sendQueuesDrained() || !failed_.isOk(); },
                        "sends to drain");
  return s.isOk() ? failed_ : s;
}

Status TcpChannel::close(Deadline deadline) {
  Lock lk(mu_);
  if (closed_) return Status();
  goodbye_ = true;
  auto all = [&](auto pred) {
    for (auto& l : lanes_)
      if (!pred(*l)) return false;
    return true;
  };
  // Remaining data, then a CLOSE frame and a half-close on every lane; then
  // the peer's own goodbye, so that neither side resets unread data.
  Status s = driveUntil(lk, deadline, [&] {
    return !failed_.isOk() || all([](const Lane& l) { return l.close_frame_sent; });
  }, "pending sends and goodbye frames");
  if (s.isOk())
    s = driveUntil(lk, deadline, [&] {
      // Once every lane carried the peer's CLOSE it sends nothing more, so
      // closing our sockets cannot reset data it still wants delivered.
      return !failed_.isOk() || all([](const Lane& l) { return l.peer_closed; });
    }, "the peer to close its side");
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
  ChannelStats st;
  st.transport = "tcp";
  st.peer = setup_.peer;
  st.session_id = setup_.session_hex;
  st.lanes = static_cast<int>(lanes_.size());
  st.messages_sent = messages_sent_;
  st.messages_received = matcher_.messagesReceived();
  st.bytes_sent = bytes_sent_;
  st.bytes_received = matcher_.bytesReceived();
  st.unexpected_bytes = matcher_.unexpectedBytes();
  st.authenticated = setup_.authenticated;
  for (const auto& l : lanes_) {
    st.lane.push_back(l->stats);
    if (l->fd.valid()) readPathInfo(l->fd.get(), &st.lane.back());
  }
  return st;
}

}  // namespace farlink::tcp
