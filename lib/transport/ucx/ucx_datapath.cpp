// The per-frame path of the UCX datapath: AM callbacks place DATA frames
// that are first in line at once, and queue the rest per lane; queued frames
// go into the receive matcher (eager data copied, rendezvous data fetched
// straight into place) as it can take them; chunks leave the send queues as
// AM sends (a small message straight from isend).
#include <cstring>

#include "core/byte_order.h"
#include "transport/ucx/ucx_channel.h"

namespace farlink::ucx {
namespace {

// Credits go back in a note of their own once this many frames are owed and
// no frame on that lane has carried them.
constexpr uint32_t kNoteThreshold = kLaneCredits / 2;

ucp_request_param_t callbackParam(void* user_data) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.user_data = user_data;
  return p;
}

StatusCode codeOf(ucs_status_t st) {
  switch (st) {
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_CANCELED:
      return StatusCode::kPeerClosed;
    default:
      return StatusCode::kIoError;
  }
}

}  // namespace

ucs_status_t UcxChannel::onFrame(void* arg, const void* header, size_t header_length, void* data,
                                 size_t length, const ucp_am_recv_param_t* param) {
  return static_cast<UcxChannel*>(arg)->acceptFrame(header, header_length, data, length, param);
}

ucs_status_t UcxChannel::onCredit(void* arg, const void* header, size_t header_length, void*,
                                  size_t length, const ucp_am_recv_param_t*) {
  auto* ch = static_cast<UcxChannel*>(arg);
  if (!ch->failed_.isOk()) return UCS_OK;
  auto* p = static_cast<const uint8_t*>(header);
  if (header_length != kLaneHeaderSize || length != 0 || get16(p) >= ch->lanes_.size()) {
    ch->failProtocol(nullptr, "sent a malformed credit note");
    return UCS_OK;
  }
  ch->takeCredits(*ch->lanes_[get16(p)], get16(p + 2));
  return UCS_OK;
}

void UcxChannel::onSendDone(void* request, ucs_status_t status, void* user_data) {
  auto* op = static_cast<SendOp*>(user_data);
  op->lane->channel->sendDone(*op, status);
  ucp_request_free(request);
}

void UcxChannel::onFetchDone(void* request, ucs_status_t status, size_t, void* user_data) {
  auto* op = static_cast<FetchOp*>(user_data);
  op->lane->channel->fetchDone(*op, status);
  ucp_request_free(request);
}

void UcxChannel::onFlushDone(void* request, ucs_status_t, void* user_data) {
  // A failed flush means the peer is unreachable or gone, which the
  // endpoint error reports.
  static_cast<UcxChannel*>(user_data)->flushes_pending_--;
  ucp_request_free(request);
}

void UcxChannel::startFlush() {
  for (auto& l : lanes_) {
    if (l->failed || l->ep.get() == nullptr) continue;
    ucp_request_param_t p = callbackParam(this);
    p.cb.send = &UcxChannel::onFlushDone;
    void* req = ucp_ep_flush_nbx(l->ep.get(), &p);
    if (UCS_PTR_IS_PTR(req)) flushes_pending_++;
  }
}

void UcxChannel::onEndpointError(void* arg, ucp_ep_h, ucs_status_t) {
  auto* lane = static_cast<Lane*>(arg);
  lane->failed = true;
  lane->stats.up = false;
  // Frames sent before the peer left may still be queued: judge after a grace.
  UcxChannel* ch = lane->channel;
  ch->vanished_at_ = std::min(ch->vanished_at_, Clock::now());
}

bool UcxChannel::pump(bool poll) {
  // Queued frames leave before the worker is polled (a poll is a syscall
  // on some transports, e.g. epoll_wait for tcp), and frames are consumed
  // after every single progress call: a rendezvous chunk's fetch (and so
  // the sender's data) starts only when its frame is consumed. The caller
  // loops while this returns true. Without `poll` (isend/irecv's own pass)
  // the worker is left for the wait that follows.
  armAll();
  if (!failed_.isOk()) return false;
  // Frames wait unconsumed only behind a stall (every progress call below is
  // followed by consume), so a pass that does not poll has nothing more to
  // do unless a lane is stalled: this is isend's pass, on the critical path.
  if (!poll && !anyLaneStalled()) return false;
  bool any = poll && ucp_worker_progress(setup_.worker->get()) != 0;
  if (!failed_.isOk()) return any;
  uint64_t before = matcher_.generation();
  for (auto& l : lanes_) consume(*l);
  retryStalled();
  any |= matcher_.generation() != before;
  armAll();
  return any;
}

ucs_status_t UcxChannel::acceptFrame(const void* header, size_t header_length, void* data,
                                     size_t length, const ucp_am_recv_param_t* param) {
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  const bool held =
      data != nullptr &&
      (param->recv_attr & (UCP_AM_RECV_ATTR_FLAG_DATA | UCP_AM_RECV_ATTR_FLAG_RNDV)) != 0;
  // UCS_OK hands the data back to UCX (dropped, or a rendezvous declined).
  if (!failed_.isOk()) return UCS_OK;
  auto* p = static_cast<const uint8_t*>(header);
  if (header_length != kAmHeaderSize) {
    failProtocol(nullptr, "sent a frame with a " + std::to_string(header_length) +
                              "-byte header (a UCX frame header has " +
                              std::to_string(kAmHeaderSize) + ")");
    return UCS_OK;
  }
  uint16_t index = get16(p);
  if (index >= lanes_.size()) {
    failProtocol(nullptr, "sent a frame on lane " + std::to_string(index) + " of a " +
                              std::to_string(lanes_.size()) + "-lane channel");
    return UCS_OK;
  }
  Lane& lane = *lanes_[index];
  RxFrame f;
  wire::FrameLimits limits{setup_.peer_chunk, setup_.options.max_message_size};
  if (Status s = wire::decodeFrame(std::span<const uint8_t, wire::kFrameHeaderSize>(
                                       p + kLaneHeaderSize, wire::kFrameHeaderSize),
                                   limits, &f.h);
      !s) {
    failProtocol(&lane, s.message());
    return UCS_OK;
  }
  if (f.h.chunk_len != length) {
    failProtocol(&lane, "frame says " + std::to_string(f.h.chunk_len) +
                            " payload bytes but carried " + std::to_string(length));
    return UCS_OK;
  }
  takeCredits(lane, get16(p + 2));
  uint32_t ahead = get32(p + 4) - lane.next_rx_seq;  // wraps like the sequence
  if (ahead >= kLaneCredits || lane.rxq.size() + lane.early.size() >= kLaneCredits ||
      lane.early.count(lane.next_rx_seq + ahead) != 0)
    failProtocol(&lane, "sent more frames than it had credits for");
  if (!failed_.isOk()) return UCS_OK;
  lane.stats.bytes_received += kAmHeaderSize + length;
  f.data = held ? data : nullptr;
  f.len = length;
  f.rndv = rndv;
  // A DATA frame in lane order with nothing queued ahead is placed while
  // UCX hands it over, as ucx_perftest does: eager data is copied and left
  // to UCX, a rendezvous fetch starts within this progress call (the
  // sender's data flows sooner). Frames the matcher cannot place yet queue.
  if (ahead == 0 && lane.rxq.empty() && lane.early.empty() && !lane.stalled &&
      !lane.peer_closed && f.h.type == wire::FrameType::kData) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (!rndv && matcher_.placeWhole(f.h, bytes)) {  // the common small message
      takenInOrder(lane);
      return UCS_OK;
    }
    ReceiveMatcher::Route r = matcher_.route(f.h);
    if (r.action == ReceiveMatcher::Action::kDeliver) {
      takenInOrder(lane);
      if (rndv) {
        place(lane, f, r.dest, r.msg);  // the descriptor now belongs to the fetch
        return UCS_INPROGRESS;
      }
      if (r.dest != nullptr && length > 0) std::memcpy(r.dest, bytes, length);
      chunkPlaced(f.h, r.msg);
      return UCS_OK;
    }
    // kStall or kError: consume() routes it again and stalls or fails.
  }
  if (ahead != 0) {
    lane.early.emplace(lane.next_rx_seq + ahead, f);
  } else {
    lane.rxq.push_back(f);
    ++lane.next_rx_seq;
    for (auto it = lane.early.find(lane.next_rx_seq); it != lane.early.end();
         it = lane.early.find(lane.next_rx_seq)) {
      lane.rxq.push_back(it->second);
      lane.early.erase(it);
      ++lane.next_rx_seq;
    }
  }
  return held ? UCS_INPROGRESS : UCS_OK;
}

void UcxChannel::takenInOrder(Lane& lane) {
  ++lane.next_rx_seq;
  lane.stats.chunks_received++;
  lane.owed++;
}

void UcxChannel::takeCredits(Lane& lane, uint32_t back) {
  if (back > kLaneCredits - lane.credits)
    return failProtocol(&lane, "returned " + std::to_string(back) + " credits it never had");
  lane.credits += back;
}

void UcxChannel::releaseFrame(RxFrame& f) {
  if (f.data != nullptr) ucp_am_data_release(setup_.worker->get(), f.data);
  f.data = nullptr;
}

// Frames leave a lane's queue in lane order; one the matcher cannot place
// yet keeps its place (and its credit) until it can.
void UcxChannel::consume(Lane& lane) {
  while (!lane.rxq.empty() && failed_.isOk() && !lane.stalled) {
    RxFrame& f = lane.rxq.front();
    if (lane.peer_closed) return failProtocol(&lane, "sent a frame after CLOSE");
    if (f.h.type == wire::FrameType::kClose) {
      releaseFrame(f);
      onCloseFrame(lane);
    } else if (f.h.type == wire::FrameType::kData) {
      ReceiveMatcher::Route r = matcher_.route(f.h);
      if (r.action == ReceiveMatcher::Action::kError)
        return fail(
            Status(r.error.code(), r.error.message() + " on lane " + std::to_string(lane.index)));
      if (r.action == ReceiveMatcher::Action::kStall) {
        lane.stalled = true;
        return;
      }
      if (!place(lane, f, r.dest, r.msg)) return;
    } else {
      RmaBook::Route r = rma_.route(f.h, rmaq_);
      if (!r.ok) return failProtocol(&lane, r.error);
      if (!place(lane, f, r.dest, nullptr)) return;
    }
    lane.stats.chunks_received++;
    lane.rxq.pop_front();
    lane.owed++;
  }
}

// Puts a routed frame's payload at `dest` (null: drop it). Eager data is
// copied now; rendezvous data is fetched by UCX and finishes in fetchDone.
bool UcxChannel::place(Lane& lane, RxFrame& f, uint8_t* dest, InMessage* msg) {
  if (!f.rndv || f.len == 0) {
    if (dest != nullptr && f.len > 0) std::memcpy(dest, f.data, f.len);
    releaseFrame(f);
    chunkPlaced(f.h, msg);
    return true;
  }
  if (dest == nullptr) {
    // The sender completes only once its data is taken: take it somewhere.
    if (!scratch_) scratch_.reset(new uint8_t[setup_.peer_chunk]);
    dest = scratch_.get();
  }
  FetchOp& op = newFetch(lane);
  op.h = f.h;
  op.msg = msg;
  ucp_request_param_t p = callbackParam(&op);
  p.cb.recv_am = &UcxChannel::onFetchDone;
  void* req = ucp_am_recv_data_nbx(setup_.worker->get(), f.data, dest, f.len, &p);
  f.data = nullptr;  // the descriptor now belongs to the fetch
  if (UCS_PTR_IS_ERR(req)) {
    dropFetch(op);
    fail(ucxError(codeOf(UCS_PTR_STATUS(req)),
                  "fetching a chunk from " + setup_.peer + " on lane " + std::to_string(lane.index),
                  UCS_PTR_STATUS(req)));
    return false;
  }
  if (req == nullptr) fetchDone(op, UCS_OK);
  return true;
}

void UcxChannel::chunkPlaced(const wire::FrameHeader& h, InMessage* msg) {
  if (h.type == wire::FrameType::kData)
    matcher_.chunkDone(msg, h.chunk_len);
  else
    rma_.payloadDone(h, ctrlq_);
}

void UcxChannel::fetchDone(FetchOp& op, ucs_status_t status) {
  Lane& lane = *op.lane;
  wire::FrameHeader h = op.h;
  InMessage* msg = op.msg;
  dropFetch(op);
  if (status != UCS_OK) {
    if (failed_.isOk())
      fail(ucxError(
          codeOf(status),
          "fetching a chunk from " + setup_.peer + " on lane " + std::to_string(lane.index),
          status));
    return;
  }
  if (books_closed_) return;  // finishFailure gave up waiting and failed every request
  chunkPlaced(h, msg);
}

void UcxChannel::onCloseFrame(Lane& lane) {
  if (Status s = closeFrameOn(lanes_, lane, lane.rxq.front().h.msg_seq); !s) fail(s);
}

void UcxChannel::retryStalled() {
  retryStalledLanes(lanes_, [&](Lane& l) {
    if (!l.stalled) return;
    l.stalled = false;
    consume(l);
  });
}

// Moves a spare node (a new one if none is left) to the end of `live`:
// ops are reused, not allocated per frame.
template <class Op>
Op& reuseOp(std::list<Op>& live, std::list<Op>& spare) {
  if (spare.empty()) spare.emplace_back();
  live.splice(live.end(), spare, spare.begin());
  Op& op = live.back();
  op.self = std::prev(live.end());
  return op;
}

SendOp& UcxChannel::newSend(Lane& lane) {
  SendOp& op = reuseOp(sends_, spare_sends_);
  op.lane = &lane;
  op.from = nullptr;
  op.chunk.reset();
  op.close = false;
  return op;
}

FetchOp& UcxChannel::newFetch(Lane& lane) {
  FetchOp& op = reuseOp(fetches_, spare_fetches_);
  op.lane = &lane;
  op.msg = nullptr;
  return op;
}

bool UcxChannel::sendWorkWaiting() const {
  if (peer_gone_ || framesQueued()) return true;
  for (const auto& l : lanes_)
    if (l->owed >= kNoteThreshold) return true;
  return false;
}

void UcxChannel::armAll() {
  if (!failed_.isOk() || !sendWorkWaiting()) return;
  if (peer_gone_) {
    // Chunks already handed to UCX finish normally; the rest cannot go.
    bool busy = false;
    for (const SendOp& op : sends_) busy |= op.chunk.has_value();
    failUnsentIfPeerGone(busy);
  }
  size_t n = lanes_.size();
  for (size_t k = 0; k < n && failed_.isOk(); ++k) armSend(*lanes_[(next_lane_ + k) % n]);
  next_lane_ = (next_lane_ + 1) % n;
}

void UcxChannel::armSend(Lane& lane) {
  if (lane.failed) return;
  while (!peer_gone_ && !lane.close_queued && lane.credits > 0) {
    std::optional<OutFrame> f = takeFrame(lane.index);
    if (!f) break;
    if (!sendFrame(lane, f->h, f->payload, f->from, f->chunk, false)) return;
  }
  if (closeDue() && !lane.close_queued && lane.credits > 0) {
    lane.close_queued = true;
    if (!sendFrame(lane, closeFrame(), nullptr, nullptr, std::nullopt, true)) return;
  }
  if (lane.owed >= kNoteThreshold) sendCreditNote(lane);
}

bool UcxChannel::sendFrame(Lane& lane, const wire::FrameHeader& h, const uint8_t* payload,
                           SendQueue* from, std::optional<ChunkRef> chunk, bool close) {
  SendOp& op = newSend(lane);
  op.from = from;
  op.chunk = chunk;
  op.close = close;
  put16(op.header.data(), static_cast<uint16_t>(lane.index));
  put16(op.header.data() + 2, static_cast<uint16_t>(lane.owed));
  put32(op.header.data() + 4, lane.next_tx_seq++);
  wire::encodeFrame(h, op.header.data() + kLaneHeaderSize);
  lane.owed = 0;
  lane.credits--;
  lane.stats.bytes_sent += kAmHeaderSize + h.chunk_len;
  ucp_request_param_t p = callbackParam(&op);
  p.cb.send = &UcxChannel::onSendDone;
  void* req = ucp_am_send_nbx(lane.ep.get(), kAmFrame, op.header.data(), kAmHeaderSize, payload,
                              h.chunk_len, &p);
  if (UCS_PTR_IS_ERR(req)) {
    dropSend(op);
    fail(ucxError(codeOf(UCS_PTR_STATUS(req)),
                  "sending to " + setup_.peer + " on lane " + std::to_string(lane.index),
                  UCS_PTR_STATUS(req)));
    return false;
  }
  if (req == nullptr) sendDone(op, UCS_OK);
  return true;
}

// A message UCX can send at once (eager short): the header lives on the
// stack and no SendOp is needed, since FORCE_IMM_CMPL makes UCX either
// finish the send inside the call or refuse it untouched (NO_RESOURCE:
// too big for a short send, or the endpoint is busy), in which case it
// is queued as usual.
bool UcxChannel::sendWholeNow(const wire::FrameHeader& h, const uint8_t* payload) {
  Lane& lane = *lanes_[next_lane_];
  if (lane.failed || lane.credits == 0 || lane.close_queued) return false;
  std::array<uint8_t, kAmHeaderSize> header;
  put16(header.data(), static_cast<uint16_t>(lane.index));
  put16(header.data() + 2, static_cast<uint16_t>(lane.owed));
  put32(header.data() + 4, lane.next_tx_seq);
  wire::encodeFrame(h, header.data() + kLaneHeaderSize);
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL;
  void* req = ucp_am_send_nbx(lane.ep.get(), kAmFrame, header.data(), kAmHeaderSize, payload,
                              h.chunk_len, &p);
  ucs_status_t st = UCS_OK;
  if (UCS_PTR_IS_PTR(req)) {
    // Not what UCX promises for FORCE_IMM_CMPL; should a version hand back
    // a request anyway, `header` must outlive it: finish it here.
    while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS)
      ucp_worker_progress(setup_.worker->get());
    ucp_request_free(req);
  } else if (req != nullptr) {
    st = UCS_PTR_STATUS(req);
  }
  if (st == UCS_ERR_NO_RESOURCE) return false;
  if (st != UCS_OK) {
    fail(ucxError(codeOf(st), "sending to " + setup_.peer + " on lane " + std::to_string(lane.index),
                  st));
    return false;  // queued, and failed with the channel
  }
  ++lane.next_tx_seq;
  lane.owed = 0;
  lane.credits--;
  lane.stats.bytes_sent += kAmHeaderSize + h.chunk_len;
  lane.stats.chunks_sent++;
  next_lane_ = (next_lane_ + 1) % lanes_.size();
  return true;
}

void UcxChannel::sendCreditNote(Lane& lane) {
  SendOp& op = newSend(lane);
  put16(op.header.data(), static_cast<uint16_t>(lane.index));
  put16(op.header.data() + 2, static_cast<uint16_t>(lane.owed));
  put32(op.header.data() + 4, 0);  // unused in a note (the node may be reused)
  lane.owed = 0;
  ucp_request_param_t p = callbackParam(&op);
  p.cb.send = &UcxChannel::onSendDone;
  void* req =
      ucp_am_send_nbx(lane.ep.get(), kAmCredit, op.header.data(), kLaneHeaderSize, nullptr, 0, &p);
  if (UCS_PTR_IS_ERR(req)) {
    dropSend(op);
    return fail(
        ucxError(codeOf(UCS_PTR_STATUS(req)),
                 "returning credits to " + setup_.peer + " on lane " + std::to_string(lane.index),
                 UCS_PTR_STATUS(req)));
  }
  if (req == nullptr) sendDone(op, UCS_OK);
}

void UcxChannel::sendDone(SendOp& op, ucs_status_t status) {
  Lane& lane = *op.lane;
  std::optional<ChunkRef> chunk = op.chunk;
  SendQueue* from = op.from;
  bool close = op.close;
  dropSend(op);
  if (status != UCS_OK) {
    // After a failure, or once the peer said goodbye, a failed send is expected.
    if (close && peer_gone_) lane.close_frame_sent = true;
    if (!failed_.isOk() || peer_gone_) return;
    return fail(ucxError(codeOf(status),
                         "sending to " + setup_.peer + " on lane " + std::to_string(lane.index) +
                             " (the peer vanished or the link is down)",
                         status));
  }
  if (chunk) {
    lane.stats.chunks_sent++;
    from->done(*chunk);
  }
  if (close) lane.close_frame_sent = true;
}

}  // namespace farlink::ucx
