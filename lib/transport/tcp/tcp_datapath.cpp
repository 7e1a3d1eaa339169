// The per-byte path of the TCP datapath: batching chunks into sendmsg,
// parsing frames out of each lane's stream, and handling completions.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "transport/tcp/socket_util.h"
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {
namespace {

constexpr uint64_t kWakeData = ~uint64_t{0};
enum Op : uint64_t { kRecvOp = 0, kSendOp = 1 };
uint64_t opData(const Lane& l, Op op) { return uint64_t(l.index) * 2 + op; }

}  // namespace

io_uring_sqe* TcpChannel::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {  // SQ full: hand what we have to the kernel first
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void TcpChannel::armAll() {
  if (!failed_.isOk()) return;
  bool busy = false, probe = false;
  for (auto& l : lanes_) {
    busy |= l->send_busy;
    probe |= l->keepalive_due;
  }
  if (resume_ && goodbye_) releaseRetained();
  failUnsentIfPeerGone(busy);
  // Most passes (a receive posted, a wait) have nothing for any lane to
  // send: asked once here, not once per lane.
  if (probe || sendWork()) {
    size_t n = lanes_.size();
    for (size_t k = 0; k < n; ++k) armSend(*lanes_[(next_lane_ + k) % n]);
    next_lane_ = (next_lane_ + 1) % n;
  }
  for (auto& l : lanes_) armRecv(*l);
  if (!wake_armed_) {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, wake_fd_.get(), &wake_buf_, sizeof wake_buf_, 0);
    io_uring_sqe_set_data64(s, kWakeData);
    wake_armed_ = true;
  }
}

void TcpChannel::armSend(Lane& lane) {
  if (lane.send_busy || lane.close_frame_sent || phase_ != Phase::kLive) return;
  if (!lane.keepalive_due && !sendWork()) return;
  size_t nio = 0, bytes = 0;
  lane.batch.clear();
  lane.close_in_batch = false;
  size_t frames = 0;
  auto addHeader = [&](const wire::FrameHeader& h) {
    uint8_t* hdr = lane.hdr[frames++].data();
    wire::encodeFrame(h, hdr);
    lane.iov[nio++] = {hdr, wire::kFrameHeaderSize};
    bytes += wire::kFrameHeaderSize;
  };
  // Session resume: RESUME leads a reconnected lane; then the peer's count
  // decides what goes again, in order, before anything new; ACKs ride along.
  const bool retain = retaining();
  bool held = false;  // new frames wait on this lane
  // Every frame the peer counts is kept until acknowledged, or (closing, not
  // retaining) counted as acknowledged at once so the lane's count stays true.
  auto keep = [&](const wire::FrameHeader& h, const uint8_t* payload, SendQueue* q,
                  const ChunkRef* c) {
    if (resume_ && retain) {
      lane.retained_in_batch += c ? 1 : 0;
      return lane.unacked.push_back({h, payload, q, c ? *c : ChunkRef{}});
    }
    if (c) lane.batch.emplace_back(q, *c);  // done() once the kernel took it
    if (!resume_) return;
    if (lane.unacked.empty()) ++lane.tx_acked;
    else lane.unacked.push_back({h, nullptr, nullptr, ChunkRef{}});
  };
  if (resume_) {
    if (lane.resume_frame_due) {
      addHeader({wire::FrameType::kResume, 0, lane.rx_frames, 0, 0, 0});
      lane.resume_frame_due = false;
      lane.rx_acked = lane.rx_frames;
    }
    // Closing, nothing is resumed and the peer stops waiting for ACKs at our
    // CLOSE, which must not wait for a pass that only carried an ACK.
    if (!lane.awaiting_resume && !goodbye_ && lane.rx_frames > lane.rx_acked) {
      addHeader({wire::FrameType::kAck, 0, lane.rx_frames, 0, 0, 0});
      lane.rx_acked = lane.rx_frames;
    }
    while (!lane.awaiting_resume && lane.resend_next < lane.resend_end &&
           frames < kMaxBatchFrames && bytes < kBatchBytes) {
      const Lane::Sent& f = lane.unacked[lane.resend_next++ - lane.tx_acked];
      addHeader(f.h);
      if (f.h.chunk_len > 0) lane.iov[nio++] = {const_cast<uint8_t*>(f.payload), f.h.chunk_len};
      bytes += f.h.chunk_len;
    }
    held = lane.awaiting_resume || lane.resend_next < lane.resend_end;
  }
  // Control frames first: they are small and someone waits on each.
  while (!held && !peer_gone_ && !ctrlq_.empty() && frames < kMaxBatchFrames) {
    addHeader(ctrlq_.front());
    keep(ctrlq_.front(), nullptr, nullptr, nullptr);
    ctrlq_.pop_front();
  }
  // Messages and one-sided payloads take turns leading a batch.
  SendQueue* order[2] = {&sendq_, &rmaq_};
  if (lane.index % 2 == 1) std::swap(order[0], order[1]);
  for (SendQueue* q : order) {
    while (!held && !peer_gone_ && frames < kMaxBatchFrames && bytes < kBatchBytes) {
      if (flow_ && q->hasChunks() && !flow_->mayTake(q->nextChunkBytes(), now_)) break;
      auto c = q->take();
      if (!c) break;
      const OutMessage& m = *c->msg;
      uint64_t off = m.type == wire::FrameType::kWrite ? m.remote_offset + c->offset : c->offset;
      wire::FrameHeader h{m.type, c->len, m.seq, m.tag, off, m.size};
      addHeader(h);
      if (c->len > 0) lane.iov[nio++] = {const_cast<uint8_t*>(m.data + c->offset), c->len};
      bytes += c->len;
      keep(h, m.data + c->offset, q, &*c);  // with resume, done() on its ACK
      if (flow_) flow_->onTake(lane.index, bytes, c->len, now_);
    }
  }
  if (frames == 0 && !held && goodbye_ && !sendq_.hasChunks() && !rmaq_.hasChunks()) {
    addHeader({wire::FrameType::kClose, 0, sendq_.messagesPushed(), 0, 0, 0});
    keep({wire::FrameType::kClose, 0, sendq_.messagesPushed(), 0, 0, 0}, nullptr, nullptr, nullptr);
    lane.close_in_batch = true;
  }
  // A quiet lane's probe: any other frame in this batch probes as well.
  if (std::exchange(lane.keepalive_due, false) && nio == 0) {
    addHeader({wire::FrameType::kKeepalive, 0, 0, 0, 0, 0});  // never kept or counted
    noteProbe(Clock::now(), &lane.watch);
  }
  if (nio == 0) return;
  lane.mh = msghdr{};
  lane.mh.msg_iov = lane.iov.data();
  lane.mh.msg_iovlen = nio;
  lane.batch_left = bytes;
  lane.send_busy = true;
  if (flow_) flow_->onBatch(lane.index, bytes);
  if (lane.userTls() && !sealBatch(lane)) return;
  submitSend(lane);
}

// No MSG_WAITALL, here or on receives: io_uring cancels a poll-armed
// request when the thread that submitted it exits (drivers may change
// threads), and a cancelled WAITALL op does not report its partial progress.
// Without it, -ECANCELED means "nothing moved" and the op is simply redone.
//
// A small batch first tries one plain non-blocking sendmsg from the calling
// thread: cheaper than an io_uring round (SQE, msghdr copy, CQE to reap),
// and its completion is known before anything else is submitted, which is
// a ping-pong's critical path. What the kernel does not take at once
// (EAGAIN, a short send) or refuses (an error) goes the io_uring way, which
// sends the rest in order and reports errors in one place.
void TcpChannel::submitSend(Lane& lane) {
  if (lane.batch_left <= kInlineSendMax) {
    ssize_t r = ::sendmsg(lane.fd.get(), &lane.mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0 && batchTook(lane, static_cast<size_t>(r))) return;
  }
  io_uring_sqe* s = sqe();
  io_uring_prep_sendmsg(s, lane.fd.get(), &lane.mh, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, opData(lane, kSendOp));
  ++ops_in_flight_;
  ++sends_prepared_;
}

void TcpChannel::armRecv(Lane& lane) {
  using Rx = Lane::RxState;
  if (lane.recv_busy || (lane.rx != Rx::kHeader && lane.rx != Rx::kPayload) ||
      phase_ != Phase::kLive)
    return;
  io_uring_sqe* s = nullptr;
  size_t buffered = lane.rend - lane.rpos;
  if (lane.userTls()) {
    // Plaintext still inside TLS goes first (openTls); records land in
    // their own buffer, never straight in the destination.
    if (lane.tls->buffered()) return;
    s = sqe();
    io_uring_prep_recv(s, lane.fd.get(), lane.cipher_in.get(), kStagingBytes, 0);
    lane.recv_direct = false;
  } else if (lane.rx == Rx::kPayload && buffered == 0 && lane.dest &&
             lane.remaining >= kDirectMin) {
    // Large payload: straight into the destination, no staging copy; the
    // next frame's header rides along into staging, saving an op per chunk.
    lane.rpos = lane.rend = 0;
    lane.rx_iov[0] = {lane.dest, lane.remaining};
    lane.rx_iov[1] = {lane.staging.get(), wire::kFrameHeaderSize};
    lane.rx_mh = msghdr{};
    lane.rx_mh.msg_iov = lane.rx_iov.data();
    lane.rx_mh.msg_iovlen = lane.rx_iov.size();
    s = sqe();
    io_uring_prep_recvmsg(s, lane.fd.get(), &lane.rx_mh, 0);
    lane.recv_direct = true;
  } else {
    if (lane.rpos > 0) {  // keep the unparsed tail at the front
      std::memmove(lane.staging.get(), lane.staging.get() + lane.rpos, buffered);
      lane.rpos = 0;
      lane.rend = buffered;
    }
    size_t want = kStagingBytes - lane.rend;
    // After a large payload the next header likely precedes another one: read
    // just the header so that payload can go direct too.
    if (lane.rx == Rx::kHeader && lane.last_was_large && buffered < wire::kFrameHeaderSize)
      want = wire::kFrameHeaderSize - buffered;
    s = sqe();
    io_uring_prep_recv(s, lane.fd.get(), lane.staging.get() + lane.rend, want, 0);
    lane.recv_direct = false;
  }
  io_uring_sqe_set_data64(s, opData(lane, kRecvOp));
  lane.recv_busy = true;
  ++ops_in_flight_;
}

void TcpChannel::onCompletion(uint64_t data, int res) {
  if (data == kWakeData) {  // also -ECANCELED when its submitter exited
    wake_armed_ = false;
    return;
  }
  Lane& lane = *lanes_[data / 2];
  --ops_in_flight_;
  if (data % 2 == kSendOp) onSent(lane, res);
  else onReceived(lane, res);
}

void TcpChannel::onSent(Lane& lane, int res) {
  if (!failed_.isOk()) {
    lane.send_busy = false;
    return;
  }
  if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) return submitSend(lane);
  if (res < 0) {
    lane.send_busy = false;
    int err = -res;
    if (err == ETIMEDOUT) return lost(silentPeer(lane));
    if (lane.tls && (err == EIO || err == EBADMSG)) return fail(kernelTlsError(lane, err));
    StatusCode code = (err == EPIPE || err == ECONNRESET) ? StatusCode::kPeerClosed : StatusCode::kIoError;
    return lost(errnoStatus(code, "send on lane " + std::to_string(lane.index) + " to " + setup_.peer, err));
  }
  if (!batchTook(lane, static_cast<size_t>(res))) submitSend(lane);
}

bool TcpChannel::batchTook(Lane& lane, size_t sent) {
  lane.stats.bytes_sent += sent;
  if (sent < lane.batch_left) {  // short send: the rest goes next, order kept
    lane.batch_left -= sent;
    while (sent > 0) {
      iovec& v = lane.mh.msg_iov[0];
      size_t take = std::min(sent, v.iov_len);
      v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
      v.iov_len -= take;
      sent -= take;
      if (v.iov_len == 0) {
        lane.mh.msg_iov++;
        lane.mh.msg_iovlen--;
      }
    }
    return false;
  }
  lane.send_busy = false;
  lane.stats.chunks_sent += std::exchange(lane.retained_in_batch, 0);
  for (auto& [q, c] : lane.batch) {
    lane.stats.chunks_sent++;
    q->done(c);
  }
  lane.batch.clear();
  if (lane.close_in_batch) {
    lane.close_frame_sent = true;
    ::shutdown(lane.fd.get(), SHUT_WR);  // the peer sees EOF after our CLOSE
  }
  return true;
}

Status TcpChannel::silentPeer(const Lane& lane) const {
  std::string bound = std::to_string(lane.silence_bound.count()) + " ms";
  if (setup_.options.dead_peer_timeout.count() > 0)
    bound += " (FARLINK_DEAD_PEER_MS)";
  else
    bound += " (" + std::to_string(kDeadRtos) + " retransmission timeouts at the lane's RTT of " +
             std::to_string((lane.rtt_us + 500) / 1000) + " ms; FARLINK_DEAD_PEER_MS overrides it)";
  return Status(StatusCode::kPeerClosed,
                "peer " + setup_.peer + " stopped answering on lane " + std::to_string(lane.index) +
                    ": nothing acknowledged for " + bound +
                    "; its host is down or the link is cut");
}

void TcpChannel::onReceived(Lane& lane, int res) {
  lane.recv_busy = false;
  if (!failed_.isOk()) return;
  if (res == 0) {
    if (lane.peer_closed && !lane.recv_direct && lane.rpos == lane.rend &&
        !(lane.userTls() && lane.tls->buffered())) {
      lane.rx = Lane::RxState::kDone;
      return;
    }
    return lost(Status(StatusCode::kPeerClosed,
                       "peer " + setup_.peer + " closed lane " + std::to_string(lane.index) +
                           " without a goodbye (its process exited or the connection was reset)"));
  }
  if (res < 0) {
    int err = -res;
    if (err == EINTR || err == EAGAIN || err == ECANCELED) return;  // re-armed by the next pass
    if (err == ETIMEDOUT) return lost(silentPeer(lane));
    if (lane.tls && (err == EIO || err == EBADMSG)) return fail(kernelTlsError(lane, err));
    StatusCode code = (err == ECONNRESET || err == EPIPE) ? StatusCode::kPeerClosed : StatusCode::kIoError;
    return lost(errnoStatus(code, "recv on lane " + std::to_string(lane.index) + " from " + setup_.peer, err));
  }
  lane.stats.bytes_received += static_cast<size_t>(res);
  if (lane.userTls()) {
    lane.tls->feed(lane.cipher_in.get(), static_cast<size_t>(res));
    return openTls(lane);
  }
  if (lane.recv_direct) {
    lane.recv_direct = false;
    size_t got = static_cast<size_t>(res);
    size_t to_dest = static_cast<size_t>(std::min<uint64_t>(got, lane.remaining));
    lane.dest += to_dest;
    lane.remaining -= to_dest;
    lane.rend += got - to_dest;  // bytes of the next header, in staging
    if (lane.remaining > 0) return;  // short read: armRecv continues direct
    payloadDone(lane);
    parse(lane);
    return;
  }
  lane.rend += static_cast<size_t>(res);
  parse(lane);
}

bool TcpChannel::routeCurrent(Lane& lane) {
  ReceiveMatcher::Route r = matcher_.route(lane.cur);
  switch (r.action) {
    case ReceiveMatcher::Action::kError:
      fail(Status(r.error.code(), r.error.message() + " on lane " + std::to_string(lane.index)));
      return false;
    case ReceiveMatcher::Action::kStall:
      lane.rx = Lane::RxState::kStalled;
      return false;
    case ReceiveMatcher::Action::kDeliver:
      lane.msg = r.msg;
      lane.dest = r.dest;
      lane.remaining = lane.cur.chunk_len;
      lane.rx = Lane::RxState::kPayload;
      return true;
  }
  return false;
}

void TcpChannel::parse(Lane& lane) {
  using Rx = Lane::RxState;
  wire::FrameLimits limits{setup_.peer_chunk, setup_.options.max_message_size};
  for (;;) {
    if (!failed_.isOk()) return;
    size_t avail = lane.rend - lane.rpos;
    if (lane.rx == Rx::kHeader) {
      if (avail < wire::kFrameHeaderSize) return;
      std::span<const uint8_t, wire::kFrameHeaderSize> in(lane.staging.get() + lane.rpos,
                                                          wire::kFrameHeaderSize);
      if (Status s = wire::decodeFrame(in, limits, &lane.cur); !s)
        return fail(Status(StatusCode::kProtocolError, "peer " + setup_.peer + " on lane " +
                                                           std::to_string(lane.index) + ": " +
                                                           s.message()));
      lane.rpos += wire::kFrameHeaderSize;
      if (lane.peer_closed)
        return fail(Status(StatusCode::kProtocolError, "peer " + setup_.peer +
                                                           " sent a frame after CLOSE on lane " +
                                                           std::to_string(lane.index)));
      // Before the resume check: a probe may arrive in any receive state, and
      // it is not one of the frames ACK and RESUME count.
      if (lane.cur.type == wire::FrameType::kKeepalive) {
        if (!setup_.keepalive)
          return fail(Status(StatusCode::kProtocolError,
                             "peer " + setup_.peer + " sent a KEEPALIVE frame on lane " +
                                 std::to_string(lane.index) + " without agreeing to them"));
        continue;
      }
      if (lane.cur.type == wire::FrameType::kAck || lane.cur.type == wire::FrameType::kResume ||
          lane.awaiting_resume) {
        onResumeCount(lane);  // also refuses any other frame before RESUME
        continue;
      }
      if (lane.cur.type == wire::FrameType::kClose) {
        ++lane.rx_frames;
        onCloseFrame(lane);
        continue;
      }
      bool go = lane.cur.type == wire::FrameType::kData ? routeCurrent(lane) : routeRma(lane);
      if (!go) return;
      continue;
    }
    if (lane.rx != Rx::kPayload) return;
    size_t n = static_cast<size_t>(std::min<uint64_t>(avail, lane.remaining));
    if (lane.dest != nullptr && n > 0) {
      std::memcpy(lane.dest, lane.staging.get() + lane.rpos, n);
      lane.dest += n;
    }
    lane.rpos += n;
    lane.remaining -= n;
    if (lane.remaining > 0) return;  // need more bytes
    payloadDone(lane);
  }
}

void TcpChannel::payloadDone(Lane& lane) {
  if (lane.cur.type == wire::FrameType::kData) matcher_.chunkDone(lane.msg, lane.cur.chunk_len);
  else rmaPayloadDone(lane);
  lane.stats.chunks_received++;
  ++lane.rx_frames;  // consumed whole: what ACK and RESUME count
  lane.last_was_large = lane.cur.chunk_len >= kDirectMin;
  lane.rx = Lane::RxState::kHeader;
}

void TcpChannel::onCloseFrame(Lane& lane) {
  if (Status s = closeFrameOn(lanes_, lane, lane.cur.msg_seq); !s) fail(s);
}

void TcpChannel::retryStalled() {
  retryStalledLanes(lanes_, [&](Lane& l) {
    if (l.rx != Lane::RxState::kStalled || !routeCurrent(l)) return;
    parse(l);
    if (l.userTls()) openTls(l);
  });
}

void TcpChannel::fail(Status why) {
  if (!failed_.isOk()) return;
  failed_ = std::move(why);
  if (mailbox_) mailbox_->close();  // the listener refuses reconnects from now on
  // Shutting the sockets down makes every kernel op in flight finish soon;
  // requests are failed once none of them can touch user memory any more.
  for (auto& l : lanes_) {
    ::shutdown(l->fd.get(), SHUT_RDWR);
    l->stats.up = false;
  }
}

void TcpChannel::finishFailure() {
  if (failure_reported_) return;
  failure_reported_ = true;
  failQueues();
  for (auto& l : lanes_) l->unacked.clear();  // their messages were just failed
}

// One-sided frames (WRITE, READ_REQ, READ_RESP, RMA_ACK): the owner checks
// every access against its region table before touching memory
// (core/rma_book.h keeps the books).
bool TcpChannel::routeRma(Lane& lane) {
  RmaBook::Route r = rma_.route(lane.cur, rmaq_);
  if (!r.ok) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + r.error));
    return false;
  }
  lane.dest = r.dest;
  lane.remaining = lane.cur.chunk_len;
  lane.rx = Lane::RxState::kPayload;  // a header-only frame finishes at once
  return true;
}

void TcpChannel::rmaPayloadDone(Lane& lane) { rma_.payloadDone(lane.cur, ctrlq_); }

}  // namespace farlink::tcp
