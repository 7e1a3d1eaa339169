// The per-frame path of the verbs datapath: completions, credits, frames
// into the receive matcher, chunks out of the send queues.
#include <arpa/inet.h>

#include <cstring>

#include "transport/verbs/verbs_channel.h"

namespace farlink::verbs {
namespace {

// A lane keeps its last credit for credit notes, so both ends can always
// return credits and never wait on each other (see man/farlink.7).
constexpr uint32_t kFrameCredits = 2;
constexpr uint32_t kNoteThreshold = kRecvSlots / 2;
// Frames a lane takes before the next lane gets any: with two or more in
// flight, the ACK of one arrives while the next is outstanding.
constexpr uint32_t kLaneDepth = 3;

}  // namespace

bool VerbsChannel::pollAll() {
  bool any = false;
  ibv_wc wc[16];
  for (auto& l : lanes_) {
    for (;;) {
      int n = ibv_poll_cq(l->cq.get(), 16, wc);
      if (n <= 0) break;
      any = true;
      for (int i = 0; i < n; ++i) onCompletion(*l, wc[i]);
    }
    consume(*l);
  }
  return any;
}

void VerbsChannel::onCompletion(Lane& lane, const ibv_wc& wc) {
  const std::string where = " on lane " + std::to_string(lane.index) + " with " + setup_.peer;
  if (wc.wr_id & kRecvBit) {
    auto slot = static_cast<uint32_t>(wc.wr_id & ~kRecvBit);
    if (wc.status != IBV_WC_SUCCESS) {
      if (wc.status == IBV_WC_WR_FLUSH_ERR && (lane.disconnected || !failed_.isOk())) return;
      return fail(Status(StatusCode::kIoError,
                         std::string("receive failed") + where + ": " + ibv_wc_status_str(wc.status)));
    }
    if (!failed_.isOk() || slot >= kRecvSlots) return;
    if (wc.wc_flags & IBV_WC_WITH_IMM) {
      uint32_t back = ntohl(wc.imm_data);
      if (back > kRecvSlots - lane.credits)
        return fail(Status(StatusCode::kProtocolError,
                           "peer " + setup_.peer + " returned " + std::to_string(back) +
                               " credits it never had" + where));
      lane.credits += back;
    }
    lane.stats.bytes_received += wc.byte_len;
    if (wc.byte_len == 0) {  // a credit note: nothing to consume
      if (Status s = postRecv(lane, slot); !s) return fail(s);
      lane.owed++;
      return;
    }
    lane.rxq.push_back({slot, wc.byte_len});
    return;
  }
  auto slot = static_cast<uint32_t>(wc.wr_id);
  if (slot >= kSendSlots) return;
  lane.sends_in_flight--;
  lane.free_send.push_back(slot);
  auto chunk = std::exchange(lane.slot_chunk[slot], std::nullopt);
  bool was_close = lane.slot_close[slot];
  lane.slot_close[slot] = false;
  if (wc.status != IBV_WC_SUCCESS) {
    // After a failure, or once the peer said goodbye on every lane, a
    // flushed send is expected; before, it means the peer is unreachable.
    if (was_close && peer_gone_) lane.close_frame_sent = true;
    if (!failed_.isOk() || peer_gone_) return;
    StatusCode code = (wc.status == IBV_WC_WR_FLUSH_ERR || wc.status == IBV_WC_RETRY_EXC_ERR)
                          ? StatusCode::kPeerClosed
                          : StatusCode::kIoError;
    return fail(Status(code, std::string("send failed") + where + ": " +
                                 ibv_wc_status_str(wc.status) +
                                 " (the peer vanished or the link is down)"));
  }
  if (chunk) {
    lane.stats.chunks_sent++;
    chunk->first->done(chunk->second);
  }
  if (was_close) lane.close_frame_sent = true;
}

// Frames leave the receive slots in lane order; a frame the matcher cannot
// place yet keeps its slot (and so its credit) until it can.
void VerbsChannel::consume(Lane& lane) {
  wire::FrameLimits limits{setup_.peer_chunk, setup_.options.max_message_size};
  while (!lane.rxq.empty() && failed_.isOk() && !lane.stalled) {
    RxFrame f = lane.rxq.front();
    const uint8_t* buf = lane.recvSlot(f.slot);
    auto protocol = [&](const std::string& what) {
      fail(Status(StatusCode::kProtocolError,
                  "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + what));
    };
    if (!lane.have_cur) {
      if (f.len < wire::kFrameHeaderSize)
        return protocol("sent a " + std::to_string(f.len) + "-byte message, shorter than a frame header");
      if (Status s = wire::decodeFrame(std::span<const uint8_t, wire::kFrameHeaderSize>(buf, wire::kFrameHeaderSize),
                                       limits, &lane.cur);
          !s)
        return protocol(s.message());
      if (lane.cur.chunk_len != f.len - wire::kFrameHeaderSize)
        return protocol("frame says " + std::to_string(lane.cur.chunk_len) + " payload bytes but carried " +
                        std::to_string(f.len - wire::kFrameHeaderSize));
      if (lane.peer_closed) return protocol("sent a frame after CLOSE");
      lane.have_cur = true;
    }
    const uint8_t* payload = buf + wire::kFrameHeaderSize;
    if (lane.cur.type == wire::FrameType::kClose) {
      onCloseFrame(lane);
    } else if (lane.cur.type == wire::FrameType::kData) {
      if (!routeCurrent(lane)) return;
      lane.stalled = false;
    } else {
      uint8_t* dest = nullptr;
      if (!routeRma(lane, &dest)) return;
      if (dest != nullptr && lane.cur.chunk_len > 0) std::memcpy(dest, payload, lane.cur.chunk_len);
      rmaPayloadDone(lane);
    }
    lane.have_cur = false;
    lane.stats.chunks_received++;
    lane.rxq.pop_front();
    if (Status s = postRecv(lane, f.slot); !s) return fail(s);
    lane.owed++;
    lane.owed_frames++;
  }
}

bool VerbsChannel::routeCurrent(Lane& lane) {
  ReceiveMatcher::Route r = matcher_.route(lane.cur);
  switch (r.action) {
    case ReceiveMatcher::Action::kError:
      fail(Status(r.error.code(), r.error.message() + " on lane " + std::to_string(lane.index)));
      return false;
    case ReceiveMatcher::Action::kStall:
      lane.stalled = true;
      return false;
    case ReceiveMatcher::Action::kDeliver:
      deliverPayload(lane, lane.recvSlot(lane.rxq.front().slot) + wire::kFrameHeaderSize, r.dest);
      matcher_.chunkDone(r.msg, lane.cur.chunk_len);
      return true;
  }
  return false;
}

void VerbsChannel::deliverPayload(Lane& lane, const uint8_t* payload, uint8_t* dest) {
  if (dest != nullptr && lane.cur.chunk_len > 0) std::memcpy(dest, payload, lane.cur.chunk_len);
}

void VerbsChannel::onCloseFrame(Lane& lane) {
  if (Status s = closeFrameOn(lanes_, lane, lane.cur.msg_seq); !s) fail(s);
}

void VerbsChannel::retryStalled() {
  retryStalledLanes(lanes_, [&](Lane& l) {
    if (!l.stalled) return;
    l.stalled = false;
    consume(l);
  });
}

void VerbsChannel::armAll() {
  if (!failed_.isOk()) return;
  // Chunks already on the wire finish normally; the rest cannot go.
  bool busy = false;
  for (auto& l : lanes_)
    for (auto& c : l->slot_chunk) busy |= c.has_value();
  failUnsentIfPeerGone(busy);
  // Lanes fill in order, each first up to kLaneDepth frames, then as far
  // as credits allow: a light load keeps a few lanes continuously busy
  // instead of one frame now and then on every lane. rxe re-arms a QP's
  // retransmit timer only on an ACK that leaves packets outstanding, so a
  // lane that empties between frames keeps a stale timer, which later
  // fires while a new frame is in flight and resends it (go-back-N): with
  // 32 lanes under a 20 ms RTT, up to 9% of all packets (compare-verbs'
  // duplicate_request).
  bool full = false;  // a lane stopped at kLaneDepth: more may be waiting
  for (auto& l : lanes_) {
    if (failed_.isOk()) armSend(*l, kLaneDepth);
    full |= kSendSlots - l->free_send.size() >= kLaneDepth;
  }
  if (!full) return;
  for (auto& l : lanes_)
    if (failed_.isOk()) armSend(*l, kSendSlots);
}

bool VerbsChannel::sendFrame(Lane& lane, const wire::FrameHeader& h, const uint8_t* payload) {
  uint32_t slot = lane.free_send.back();
  lane.free_send.pop_back();
  uint8_t* p = lane.sendSlot(slot);
  wire::encodeFrame(h, p);
  if (h.chunk_len > 0) std::memcpy(p + wire::kFrameHeaderSize, payload, h.chunk_len);
  uint32_t len = static_cast<uint32_t>(wire::kFrameHeaderSize + h.chunk_len);
  if (Status s = postSend(lane, slot, len, true, lane.owed); !s) {
    lane.free_send.push_back(slot);
    fail(s);
    return false;
  }
  lane.stats.bytes_sent += len;
  lane.credits--;
  lane.owed = 0;
  lane.owed_frames = 0;
  return true;
}

void VerbsChannel::armSend(Lane& lane, uint32_t depth) {
  if (lane.disconnected) return;
  auto canSendFrame = [&] {
    return !lane.free_send.empty() && lane.credits >= kFrameCredits &&
           kSendSlots - lane.free_send.size() < depth;
  };
  while (!peer_gone_ && !lane.close_queued && canSendFrame()) {
    std::optional<OutFrame> f = takeFrame(lane.index);
    if (!f) break;
    uint32_t slot = lane.free_send.back();
    if (!sendFrame(lane, f->h, f->payload)) return;
    if (f->chunk) lane.slot_chunk[slot] = std::make_pair(f->from, *f->chunk);
  }
  if (closeDue() && !lane.close_queued && canSendFrame()) {
    uint32_t slot = lane.free_send.back();
    if (!sendFrame(lane, closeFrame(), nullptr)) return;
    lane.slot_close[slot] = true;
    lane.close_queued = true;
  }
  // Return credits explicitly when no frame carried them for a while.
  if (lane.owed_frames >= kNoteThreshold && lane.credits >= 1 && !lane.free_send.empty()) {
    uint32_t slot = lane.free_send.back();
    lane.free_send.pop_back();
    if (Status s = postSend(lane, slot, 0, true, lane.owed); !s) {
      lane.free_send.push_back(slot);
      return fail(s);
    }
    lane.credits--;
    lane.owed = 0;
    lane.owed_frames = 0;
  }
}

// One-sided frames (WRITE, READ_REQ, READ_RESP, RMA_ACK): the owner checks
// every access against its region table before touching memory
// (core/rma_book.h keeps the books).
bool VerbsChannel::routeRma(Lane& lane, uint8_t** dest) {
  RmaBook::Route r = rma_.route(lane.cur, rmaq_);
  if (!r.ok) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + r.error));
    return false;
  }
  *dest = r.dest;
  return true;
}

void VerbsChannel::rmaPayloadDone(Lane& lane) { rma_.payloadDone(lane.cur, ctrlq_); }
}  // namespace farlink::verbs
