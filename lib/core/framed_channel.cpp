#include "core/framed_channel.h"

#include <unistd.h>

#include <algorithm>

namespace farlink {

FramedChannel::FramedChannel(std::string peer, uint32_t local_chunk, uint32_t peer_chunk,
                             size_t max_unexpected)
    : peer_(std::move(peer)),
      sendq_(local_chunk),
      matcher_(peer_, peer_chunk, max_unexpected),
      rmaq_(local_chunk),
      rma_(peer_) {}

void FramedChannel::kick(Lock& lk) {
  if (driving_) return wakeDriver();
  driving_ = true;
  driveOnce(lk, Deadline{}, false);  // a pass that never sleeps needs no clock
  driving_ = false;
  notifyWaiters();
}

Result<Request> FramedChannel::isend(const void* data, size_t size, uint64_t tag) {
  if (tag == kAnyTag)
    return Status(StatusCode::kInvalidArgument, "isend: kAnyTag is for receives only");
  if (data == nullptr && size > 0)
    return Status(StatusCode::kInvalidArgument, "isend: null buffer with a non-zero size");
  Lock lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed, "isend: peer " + peer_ + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, "isend on a channel that is being closed");
  auto req = requests_.acquire(*this, RequestState::Kind::kSend,
                               const_cast<uint8_t*>(static_cast<const uint8_t*>(data)), size, tag);
  ++messages_sent_;
  bytes_sent_ += size;
  if (size <= sendq_.chunkSize() && !framesQueued() &&
      sendWholeNow({wire::FrameType::kData, static_cast<uint32_t>(size), sendq_.nextSeq(), tag, 0,
                    size},
                   static_cast<const uint8_t*>(data))) {
    sendq_.countSentDirectly();
    req->complete(Status(), size, tag);
    return Request(std::move(req));
  }
  sendq_.push(req, static_cast<const uint8_t*>(data), size, tag);
  lazy_kick_ = true;
  kick(lk);
  lazy_kick_ = false;
  return Request(std::move(req));
}

Result<Request> FramedChannel::irecv(void* data, size_t capacity, uint64_t tag) {
  if (data == nullptr && capacity > 0)
    return Status(StatusCode::kInvalidArgument, "irecv: null buffer with a non-zero capacity");
  Lock lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (closed_) return Status(StatusCode::kInvalidArgument, "irecv on a closed channel");
  auto req = requests_.acquire(*this, RequestState::Kind::kRecv, static_cast<uint8_t*>(data),
                               capacity, tag);
  matcher_.post(req);
  // The receive is matched in the matcher alone; the lanes read on at the
  // next pass (the wait that follows, or a driver already in the kernel).
  // Only a lane stalled on the matcher needs the pass now: a ping-pong
  // saves one driver pass per message.
  if (driving_ || anyLaneStalled()) {
    lazy_kick_ = true;
    kick(lk);
    lazy_kick_ = false;
  }
  return Request(std::move(req));
}

Status FramedChannel::admitRma(const char* op) {
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed,
                  std::string(op) + ": peer " + peer_ + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, std::string(op) + " on a closing channel");
  return rma_.admit(op);
}

Result<Request> FramedChannel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                      uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("write"); !s) return s;
  auto req = rma_.startWrite(weak_from_this(), local, size, key, offset, rmaq_);
  kick(lk);
  return Request(req);
}

Result<Request> FramedChannel::iread(void* local, size_t size, const RemoteKey& key,
                                     uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("read"); !s) return s;
  auto req = rma_.startRead(weak_from_this(), local, size, key, offset, ctrlq_);
  kick(lk);
  return Request(req);
}

Status FramedChannel::wait(RequestState& req, Deadline deadline) {
  Lock lk(mu_);
  if (Status s = driveUntil(
          lk, deadline, [&] { return req.done(); }, "a request");
      !s)
    return s;
  return req.status();
}

Status FramedChannel::progress(Deadline deadline) {
  Lock lk(mu_);
  if (!driving_) {
    driving_ = true;
    driveOnce(lk, deadline, deadline > Clock::now());
    driving_ = false;
    notifyWaiters();
  }
  return failed_;
}

Status FramedChannel::flush(Deadline deadline) {
  Lock lk(mu_);
  Status s = driveUntil(
      lk, deadline, [&] { return sendQueuesDrained() || !failed_.isOk(); }, "sends to drain");
  return s.isOk() ? failed_ : s;
}

ChannelStats FramedChannel::commonStats(std::string transport) const {
  ChannelStats st;
  st.transport = std::move(transport);
  st.peer = peer_;
  st.messages_sent = messages_sent_;
  st.messages_received = matcher_.messagesReceived();
  st.bytes_sent = bytes_sent_;
  st.bytes_received = matcher_.bytesReceived();
  st.unexpected_bytes = matcher_.unexpectedBytes();
  st.messages_staged = matcher_.messagesStaged();
  st.bytes_staged = matcher_.bytesStaged();
  return st;
}

std::optional<FramedChannel::OutFrame> FramedChannel::takeFrame(size_t lane_index) {
  if (!ctrlq_.empty()) {
    OutFrame f{ctrlq_.front(), nullptr, nullptr, std::nullopt};
    ctrlq_.pop_front();
    return f;
  }
  SendQueue* order[2] = {&sendq_, &rmaq_};
  if (lane_index % 2 == 1) std::swap(order[0], order[1]);
  for (SendQueue* q : order) {
    std::optional<ChunkRef> c = q->take();
    if (!c) continue;
    const OutMessage& m = *c->msg;
    uint64_t off = m.type == wire::FrameType::kWrite ? m.remote_offset + c->offset : c->offset;
    return OutFrame{{m.type, c->len, m.seq, m.tag, off, m.size}, m.data + c->offset, q, c};
  }
  return std::nullopt;
}

bool FramedChannel::closeDue() const {
  return goodbye_ && ctrlq_.empty() && !sendq_.hasChunks() && !rmaq_.hasChunks();
}

wire::FrameHeader FramedChannel::closeFrame() const {
  return {wire::FrameType::kClose, 0, sendq_.messagesPushed(), 0, 0, 0};
}

bool FramedChannel::sendQueuesDrained() const {
  return sendq_.empty() && rmaq_.empty() && ctrlq_.empty();
}

Status FramedChannel::protocolError(const std::string& where, const std::string& what) const {
  return Status(StatusCode::kProtocolError, "peer " + peer_ + where + ": " + what);
}

Status FramedChannel::peerGoodbye(uint64_t total) {
  if (matcher_.announced() != total)
    return protocolError("", "closed after " + std::to_string(total) + " messages but only " +
                                 std::to_string(matcher_.announced()) + " arrived");
  peer_gone_ = true;
  goodbye_ = true;  // answer with our own goodbye so the peer's close() ends
  matcher_.setPeerGone(Status(StatusCode::kPeerClosed, "peer " + peer_ + " closed the channel"));
  return Status();
}

void FramedChannel::failUnsentIfPeerGone(bool chunks_in_flight) {
  if (!peer_gone_ || sendq_failed_ || chunks_in_flight) return;
  Status gone(StatusCode::kPeerClosed,
              "peer " + peer_ + " closed the channel before this operation finished");
  sendq_.failAll(gone);
  rmaq_.failAll(gone);
  ctrlq_.clear();
  rma_.failAll(gone);
  sendq_failed_ = true;
}

void FramedChannel::failQueues() {
  sendq_.failAll(failed_);
  rmaq_.failAll(failed_);
  ctrlq_.clear();
  rma_.failAll(failed_);
  matcher_.failAll(failed_);
}

void FramedChannel::pollUnlocked(Lock& lk, std::vector<pollfd>& fds, Deadline deadline) {
  int ms = -1;
  if (deadline != Deadline::max()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, INT32_MAX));
  }
  lk.unlock();
  ::poll(fds.data(), fds.size(), ms);
  lk.lock();
  if (fds[0].revents & POLLIN) {
    uint64_t v = 0;
    ssize_t r = ::read(fds[0].fd, &v, sizeof v);
    (void)r;  // a wake-up either way
  }
}

}  // namespace farlink
