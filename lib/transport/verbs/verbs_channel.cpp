// VerbsChannel setup, public operations and the driver loop (one caller
// thread drives, others wait on cv_ and wake it through an eventfd).
#include "transport/verbs/verbs_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace farlink::verbs {

VerbsChannel::VerbsChannel(Setup setup)
    : setup_(std::move(setup)),
      lanes_(setup_.lanes),
      sendq_(setup_.local_chunk),
      matcher_(setup_.peer, setup_.peer_chunk, setup_.options.max_unexpected_bytes),
      rmaq_(setup_.local_chunk),
      rma_(setup_.peer) {}

Result<std::shared_ptr<VerbsChannel>> VerbsChannel::create(Setup setup) {
  auto ch = std::make_shared<VerbsChannel>(std::move(setup));
  ch->wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ch->wake_fd_.valid()) return verbsError(StatusCode::kIoError, "eventfd", errno);
  int fl = fcntl(ch->setup_.events->fd, F_GETFL);
  fcntl(ch->setup_.events->fd, F_SETFL, fl | O_NONBLOCK);
  ch->busy_poll_ = ch->setup_.options.busy_poll;
  for (auto& l : ch->lanes_) l->stats.up = true;
  return ch;
}

VerbsChannel::~VerbsChannel() {
  Lock lk(mu_);
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "channel to " + setup_.peer + " was destroyed"));
  finishFailure();
  // Lanes are destroyed with setup_: QP to error, then QP, CQ, MR, PD, id.
}

template <typename Pred>
Status VerbsChannel::driveUntil(Lock& lk, Deadline deadline, Pred done, const char* what) {
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

void VerbsChannel::driveOnce(Lock& lk, Deadline deadline, bool block) {
  // Spinning, the CM event check (a read() syscall) runs every 64th round:
  // syscalls cost microseconds under emulation and disconnects are rare.
  if (!busy_poll_ || ++spins_ % 64 == 0) handleCmEvents();
  bool progressed = pollAll();
  uint64_t before = matcher_.generation();
  retryStalled();
  progressed |= matcher_.generation() != before;
  for (auto& l : lanes_) {
    // A lane whose peer left without CLOSE, once its last frames are used up.
    if (l->disconnected && l->rxq.empty() && !l->peer_closed && failed_.isOk())
      fail(Status(StatusCode::kPeerClosed,
                  "peer " + setup_.peer + " disconnected lane " + std::to_string(l->index) +
                      " without a goodbye (its process exited or the link failed)"));
  }
  armAll();
  if (!failed_.isOk()) {
    finishFailure();
    return;
  }
  if (!block || progressed || deadline <= Clock::now()) return;
  sleep(lk, deadline);
}

void VerbsChannel::sleep(Lock& lk, Deadline deadline) {
  if (busy_poll_) {
    // Completion-channel wakeups are slow under emulation; spinning (with
    // the lock released so other threads can post) keeps latency low.
    lk.unlock();
    if (spins_ % 16 == 0) std::this_thread::yield();  // let rxe's kernel work run
    else __builtin_ia32_pause();
    lk.lock();
    return;
  }
  for (auto& l : lanes_) armCq(*l);
  if (pollAll()) return;  // arrived between the last poll and arming
  std::vector<pollfd> pfds{{wake_fd_.get(), POLLIN, 0}, {setup_.events->fd, POLLIN, 0}};
  for (auto& l : lanes_) pfds.push_back({l->comp->fd, POLLIN, 0});
  int ms = -1;
  if (deadline != Deadline::max()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, INT32_MAX));
  }
  lk.unlock();
  ::poll(pfds.data(), pfds.size(), ms);
  lk.lock();
  if (pfds[0].revents & POLLIN) {
    uint64_t v = 0;
    ssize_t r = ::read(wake_fd_.get(), &v, sizeof v);
    (void)r;
  }
  for (size_t i = 0; i < lanes_.size(); ++i)
    if (pfds[i + 2].revents & POLLIN) drainCqEvents(*lanes_[i]);
}

void VerbsChannel::handleCmEvents() {
  rdma_cm_event* ev = nullptr;
  while (rdma_get_cm_event(setup_.events.get(), &ev) == 0) {
    auto* lane = static_cast<Lane*>(ev->id->context);
    switch (ev->event) {
      case RDMA_CM_EVENT_ESTABLISHED:  // a server lane may finish its handshake first
        if (lane != nullptr) lane->established = true;
        break;
      case RDMA_CM_EVENT_DISCONNECTED:
      case RDMA_CM_EVENT_DEVICE_REMOVAL:
      case RDMA_CM_EVENT_UNREACHABLE:
      case RDMA_CM_EVENT_CONNECT_ERROR:
        if (lane != nullptr) {
          lane->disconnected = true;
          lane->stats.up = false;
        }
        break;
      default: break;
    }
    rdma_ack_cm_event(ev);
  }
}

void VerbsChannel::kick(Lock& lk) {
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

Result<Request> VerbsChannel::isend(const void* data, size_t size, uint64_t tag) {
  if (tag == kAnyTag)
    return Status(StatusCode::kInvalidArgument, "isend: kAnyTag is for receives only");
  if (data == nullptr && size > 0)
    return Status(StatusCode::kInvalidArgument, "isend: null buffer with a non-zero size");
  Lock lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed, "isend: peer " + setup_.peer + " closed the channel");
  if (goodbye_) return Status(StatusCode::kInvalidArgument, "isend on a channel that is being closed");
  auto req = std::make_shared<RequestState>(RequestState::Kind::kSend, weak_from_this(),
                                            const_cast<uint8_t*>(static_cast<const uint8_t*>(data)),
                                            size, tag);
  sendq_.push(req, static_cast<const uint8_t*>(data), size, tag);
  ++messages_sent_;
  bytes_sent_ += size;
  kick(lk);
  return Request(req);
}

Result<Request> VerbsChannel::irecv(void* data, size_t capacity, uint64_t tag) {
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

Status VerbsChannel::wait(RequestState& req, Deadline deadline) {
  Lock lk(mu_);
  if (Status s = driveUntil(lk, deadline, [&] { return req.done(); }, "a request"); !s) return s;
  return req.status();
}

Status VerbsChannel::progress(Deadline deadline) {
  Lock lk(mu_);
  if (!driving_) {
    driving_ = true;
    driveOnce(lk, deadline, deadline > Clock::now());
    driving_ = false;
    cv_.notify_all();
  }
  return failed_;
}

void VerbsChannel::abandon(RequestState& req, const Status& why) {
  Lock lk(mu_);
  if (req.done()) return;
  if (req.kind() == RequestState::Kind::kRecv && matcher_.withdraw(req, why)) return;
  // A message in flight cannot be taken back without breaking the stream.
  fail(Status(why.code(), why.message() + "; the operation could not be withdrawn, so the "
                                          "channel to " + setup_.peer + " was closed"));
  finishFailure();  // the NIC only ever touches our slots, never req's buffer
}

Status VerbsChannel::flush(Deadline deadline) {
  Lock lk(mu_);
  Status s = driveUntil(lk, deadline, [&] { return sendQueuesDrained() || !failed_.isOk(); },
                        "sends to drain");
  return s.isOk() ? failed_ : s;
}

Status VerbsChannel::close(Deadline deadline) {
  Lock lk(mu_);
  if (closed_) return Status();
  goodbye_ = true;
  auto all = [&](auto pred) {
    for (auto& l : lanes_)
      if (!pred(*l)) return false;
    return true;
  };
  // Remaining data, then a CLOSE frame on every lane; then the peer's own
  // CLOSEs, so that disconnecting cannot cut off anything it still sends.
  Status s = driveUntil(lk, deadline, [&] {
    return !failed_.isOk() || all([](const Lane& l) { return l.close_frame_sent; });
  }, "pending sends and goodbye frames");
  if (s.isOk())
    s = driveUntil(lk, deadline, [&] {
      return !failed_.isOk() || all([](const Lane& l) { return l.peer_closed; });
    }, "the peer to close its side");
  Status result = failed_.isOk() ? s : failed_;
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "the channel to " + setup_.peer + " was closed locally"));
  finishFailure();
  closed_ = true;
  // A close that found the peer already gone is still a clean close.
  if (result.code() == StatusCode::kPeerClosed) return Status();
  return result;
}

ChannelStats VerbsChannel::stats() const {
  Lock lk(mu_);
  ChannelStats st;
  st.transport = "verbs";
  st.transport_reason = setup_.fallback_reason;
  st.peer = setup_.peer;
  st.session_id = setup_.session_hex;
  st.lanes = static_cast<int>(lanes_.size());
  st.messages_sent = messages_sent_;
  st.messages_received = matcher_.messagesReceived();
  st.bytes_sent = bytes_sent_;
  st.bytes_received = matcher_.bytesReceived();
  st.unexpected_bytes = matcher_.unexpectedBytes();
  st.authenticated = setup_.authenticated;
  for (const auto& l : lanes_) st.lane.push_back(l->stats);
  return st;
}

void VerbsChannel::fail(Status why) {
  if (!failed_.isOk()) return;
  failed_ = std::move(why);
  // QPs to the error state: the peer sees a disconnect, our posted work
  // requests flush. Nothing the NIC touches belongs to the application.
  for (auto& l : lanes_) {
    if (l->established && !l->disconnected) rdma_disconnect(l->id.get());
    l->disconnected = true;
    l->stats.up = false;
  }
}

void VerbsChannel::finishFailure() {
  if (failure_reported_ || failed_.isOk()) return;
  failure_reported_ = true;
  sendq_.failAll(failed_);
  rmaq_.failAll(failed_);
  ctrlq_.clear();
  failRma(failed_);
  matcher_.failAll(failed_);
  for (auto& l : lanes_) l->slot_chunk.assign(kSendSlots, std::nullopt);
}

}  // namespace farlink::verbs
