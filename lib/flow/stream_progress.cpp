#include "flow/stream_progress.h"

#include <algorithm>

namespace farlink::flow {

void StreamProgress::onQueued(ChunkId id, uint64_t begin, uint64_t end, FlowTime now) {
  chunks_.push_back(Chunk{id, begin, end, now, 0});
}

void StreamProgress::observe(uint64_t sent, uint64_t acked, FlowTime before, FlowTime after,
                             std::vector<Acked>& out) {
  if (sent > sent_) {
    // Byte sent_ had not left at the previous poll (which saw it unsent).
    // Marks go on chunk bytes only: bytes between chunks (frame headers,
    // control frames) may have come and gone while this lane had no chunk
    // and was not polled, so sent_ may be long stale for them; a chunk's
    // first byte cannot have left before the chunk was queued.
    for (const Chunk& c : chunks_) {
      if (c.end <= sent_) continue;
      uint64_t byte = std::max(sent_, c.begin);
      if (sent > byte)
        marks_.push_back(
            Mark{byte, byte == sent_ ? std::max(last_obs_, c.queued) : c.queued, after});
      break;
    }
    sent_ = sent;
  }
  last_obs_ = std::max(last_obs_, before);
  takeAcks(acked, before, after, out);
}

void StreamProgress::observeAcked(uint64_t acked, FlowTime now, std::vector<Acked>& out) {
  takeAcks(acked, now, now, out);
}

void StreamProgress::takeAcks(uint64_t acked, FlowTime before, FlowTime after,
                              std::vector<Acked>& out) {
  // Bytes acked in this read were not acked when the previous one began.
  FlowDuration ack_gap = after - last_ack_obs_;
  last_ack_obs_ = std::max(last_ack_obs_, before);
  while (!marks_.empty() && acked > marks_.front().byte) {
    const Mark m = marks_.front();
    marks_.pop_front();
    if (hole_) continue;  // acked by a repaired hole's jump: arrived who knows when
    FlowDuration sample = after - m.unsent_at;
    if (sample <= FlowDuration::zero()) continue;
    if (m.left_by - m.unsent_at > max_gap_ || ack_gap > max_gap_) continue;
    latest_ = sample;
    best_ = best_ == FlowDuration::zero() ? sample : std::min(best_, sample);
  }
  bool completed = false;
  while (!chunks_.empty() && chunks_.front().end <= acked) {
    out.push_back(Acked{chunks_.front().id, best_ != FlowDuration::zero() ? best_ : latest_});
    chunks_.pop_front();
    completed = true;
  }
  if (completed) best_ = FlowDuration::zero();
}

void StreamProgress::credits(uint64_t acked, uint64_t beyond, std::vector<Credit>& out) {
  hole_ = beyond > 0;
  uint64_t left = std::max(sent_, acked);  // SACKed bytes have left, so they lie below this
  for (Chunk& c : chunks_) {
    uint64_t below = acked > c.begin ? std::min(acked, c.end) - c.begin : 0;
    uint64_t from = std::max(c.begin, acked);
    uint64_t upto = std::min(c.end, left);
    uint64_t extra = std::min(beyond, upto > from ? upto - from : 0);
    beyond -= extra;
    uint64_t credit = below + extra;
    if (credit == c.credited) continue;
    c.credited = credit;
    out.push_back(Credit{c.id, credit});
  }
}

}  // namespace farlink::flow
