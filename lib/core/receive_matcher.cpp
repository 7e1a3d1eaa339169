#include "core/receive_matcher.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "farlink/channel.h"

namespace farlink {
namespace {

bool tagMatches(uint64_t posted, uint64_t msg) { return posted == kAnyTag || posted == msg; }

uint64_t chunkCount(uint64_t total, uint32_t chunk) {
  return total == 0 ? 1 : (total + chunk - 1) / chunk;
}

}  // namespace

ReceiveMatcher::ReceiveMatcher(std::string peer, uint32_t peer_chunk, size_t max_unexpected)
    : peer_(std::move(peer)), peer_chunk_(peer_chunk), max_unexpected_(max_unexpected) {}

ReceiveMatcher::Route ReceiveMatcher::fail(std::string what) {
  return Route{Action::kError, nullptr, nullptr,
               Status(StatusCode::kProtocolError, "peer " + peer_ + " " + what)};
}

Status ReceiveMatcher::tooBig(const InMessage& m, size_t capacity) const {
  return Status(StatusCode::kInvalidArgument,
                "message of " + std::to_string(m.total) + " bytes (tag " + std::to_string(m.tag) +
                    ") from " + peer_ + " does not fit the receive buffer of " +
                    std::to_string(capacity) + " bytes; the message was dropped");
}

ReceiveMatcher::Route ReceiveMatcher::route(const wire::FrameHeader& h) {
  if (h.msg_seq >= next_announce_ + wire::kMaxOpenMessages)
    return fail("sent message " + std::to_string(h.msg_seq) + " far beyond the window (next " +
                std::to_string(next_announce_) + ")");
  if (h.msg_seq > next_announce_) return Route::stall();
  // Chunks must follow the sender's declared chunking exactly, so that
  // every byte is accounted for once.
  // An empty chunk exists only for an empty message; otherwise a chunk
  // starts inside the message (offset == total would name a chunk past the end).
  bool inside = h.total_len == 0 ? h.offset == 0 : h.offset < h.total_len;
  uint64_t expect_len = std::min<uint64_t>(peer_chunk_, h.total_len - std::min(h.offset, h.total_len));
  if (!inside || h.offset % peer_chunk_ != 0 || h.chunk_len != expect_len)
    return fail("sent chunk [" + std::to_string(h.offset) + ", +" + std::to_string(h.chunk_len) +
                ") that does not follow its chunk size " + std::to_string(peer_chunk_));
  InMessage* m = nullptr;
  if (h.msg_seq == next_announce_) {
    Route r = announce(h);
    if (r.action != Action::kDeliver) return r;
    m = r.msg;
  } else {
    auto it = open_.find(h.msg_seq);
    if (it == open_.end())
      return fail("sent a chunk of message " + std::to_string(h.msg_seq) +
                  " after it was complete (duplicate)");
    m = &it->second;
    if (m->tag != h.tag || m->total != h.total_len)
      return fail("changed the tag or length of message " + std::to_string(h.msg_seq) +
                  " between chunks");
  }
  uint64_t idx = h.offset / peer_chunk_;
  uint64_t bit = uint64_t{1} << (idx % 64);
  if (m->seenWord(idx) & bit)
    return fail("sent chunk " + std::to_string(idx) + " of message " + std::to_string(h.msg_seq) +
                " twice");
  m->seenWord(idx) |= bit;
  return Route::deliver(m, m->dest ? m->dest + h.offset : nullptr);
}

bool ReceiveMatcher::placeWhole(const wire::FrameHeader& h, const uint8_t* payload) {
  // Exactly what route() + chunkDone() would accept and do for a whole
  // message matched to the front receive; anything else takes that path.
  if (h.msg_seq != next_announce_ || h.offset != 0 || h.chunk_len != h.total_len ||
      h.total_len > peer_chunk_ || posted_.empty())
    return false;
  RequestState& front = *posted_.front();
  if (!tagMatches(front.postedTag(), h.tag) || h.total_len > front.size()) return false;
  std::shared_ptr<RequestState> req = std::move(posted_.front());
  posted_.pop_front();
  if (h.total_len > 0) std::memcpy(req->data(), payload, h.total_len);
  ++next_announce_;
  ++generation_;  // later messages' chunks stalled behind this one may go on
  ++messages_received_;
  bytes_received_ += h.total_len;
  req->complete(Status(), h.total_len, h.tag);
  return true;
}

ReceiveMatcher::Route ReceiveMatcher::announce(const wire::FrameHeader& h) {
  InMessage m;
  m.seq = h.msg_seq;
  m.tag = h.tag;
  m.total = h.total_len;
  m.resetSeen(chunkCount(h.total_len, peer_chunk_));
  auto it = std::find_if(posted_.begin(), posted_.end(),
                         [&](const auto& r) { return tagMatches(r->postedTag(), h.tag); });
  if (it != posted_.end()) {
    std::shared_ptr<RequestState> req = std::move(*it);
    if (it == posted_.begin()) posted_.pop_front();  // the usual case, and cheaper
    else posted_.erase(it);
    if (h.total_len > req->size()) {
      req->complete(tooBig(m, req->size()), 0, h.tag);
      m.discard = true;
    } else {
      m.req = std::move(req);
      m.dest = m.req->data();
    }
  } else {
    // Unexpected: buffer within the budget, or stop reading until a
    // receive is posted (TCP back-pressure); never allocate what the
    // peer merely claims beyond the budget.
    if (h.total_len > max_unexpected_ - std::min(max_unexpected_, unexpected_bytes_))
      return Route::stall();
    if (h.total_len > 0) {
      m.buffer.reset(new (std::nothrow) uint8_t[h.total_len]);
      if (!m.buffer) return Route::stall();
    }
    m.dest = m.buffer.get();
    unexpected_bytes_ += h.total_len;
    ++messages_staged_;
    bytes_staged_ += h.total_len;
    unexpected_.push_back(h.msg_seq);
  }
  ++next_announce_;
  ++generation_;
  if (spare_nodes_.empty()) {
    auto [pos, inserted] = open_.emplace(h.msg_seq, std::move(m));
    (void)inserted;
    return Route::deliver(&pos->second, nullptr);
  }
  OpenMap::node_type node = std::move(spare_nodes_.back());
  spare_nodes_.pop_back();
  node.key() = h.msg_seq;
  node.mapped() = std::move(m);
  auto ins = open_.insert(std::move(node));
  return Route::deliver(&ins.position->second, nullptr);
}

void ReceiveMatcher::chunkDone(InMessage* m, uint32_t len) {
  m->received += len;
  bytes_received_ += len;
  // Chunks are checked to be distinct and exactly sized, so the byte count
  // tells completeness.
  if (m->received == m->total) {
    ++messages_received_;
    deliver(m);
  }
}

void ReceiveMatcher::unroute(InMessage* m, const wire::FrameHeader& h) {
  uint64_t idx = h.offset / peer_chunk_;
  m->seenWord(idx) &= ~(uint64_t{1} << (idx % 64));
}

void ReceiveMatcher::deliver(InMessage* m) {
  if (!m->req && !m->discard) return;  // unclaimed: stays until post() claims it
  if (m->req) {
    if (m->buffer) std::memcpy(m->req->data(), m->buffer.get(), m->total);
    m->req->complete(Status(), m->total, m->tag);
  }
  if (m->buffer) {
    unexpected_bytes_ -= m->total;
    ++generation_;  // budget freed: a lane stalled on it may go on
  }
  if (spare_nodes_.size() >= kSpareNodes) {
    open_.erase(m->seq);
    return;
  }
  OpenMap::node_type node = open_.extract(m->seq);
  node.mapped() = InMessage();  // drops the request and any staging buffer
  spare_nodes_.push_back(std::move(node));
}

bool ReceiveMatcher::claimUnexpected(const std::shared_ptr<RequestState>& req) {
  for (auto it = unexpected_.begin(); it != unexpected_.end(); ++it) {
    InMessage& m = open_.at(*it);
    if (!tagMatches(req->postedTag(), m.tag)) continue;
    unexpected_.erase(it);
    ++generation_;
    if (m.total > req->size()) {
      req->complete(tooBig(m, req->size()), 0, m.tag);
      m.discard = true;
    } else {
      m.req = req;
    }
    if (m.received == m.total) deliver(&m);
    return true;
  }
  return false;
}

void ReceiveMatcher::post(std::shared_ptr<RequestState> req) {
  if (claimUnexpected(req)) return;
  if (!peer_gone_.isOk()) {
    req->complete(peer_gone_, 0, req->postedTag());
    return;
  }
  posted_.push_back(std::move(req));
  ++generation_;
}

bool ReceiveMatcher::withdraw(const RequestState& req, const Status& why) {
  auto it = std::find_if(posted_.begin(), posted_.end(),
                         [&](const auto& r) { return r.get() == &req; });
  if (it == posted_.end()) return false;
  (*it)->complete(why, 0, req.postedTag());
  posted_.erase(it);
  return true;
}

void ReceiveMatcher::setPeerGone(Status why) {
  peer_gone_ = std::move(why);
  for (auto& r : posted_) r->complete(peer_gone_, 0, r->postedTag());
  posted_.clear();
}

void ReceiveMatcher::failAll(const Status& why) {
  setPeerGone(why);
  for (auto& [seq, m] : open_)
    if (m.req) m.req->complete(why, 0, m.tag);
  open_.clear();
  unexpected_.clear();
  unexpected_bytes_ = 0;
}

}  // namespace farlink
