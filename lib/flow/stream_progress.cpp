#include "flow/stream_progress.h"

#include <algorithm>

namespace farlink::flow {

void StreamProgress::onQueued(ChunkId id, uint64_t begin, uint64_t end, FlowTime now) {
  chunks_.push_back(Chunk{id, begin, end, now});
}

FlowTime StreamProgress::queuedAt(uint64_t byte) const {
  // Bytes between chunks (frame headers) went to the socket with the chunk after them.
  for (const Chunk& c : chunks_)
    if (byte < c.end) return c.queued;
  return last_obs_;
}

void StreamProgress::observe(uint64_t sent, uint64_t acked, FlowTime now, std::vector<Acked>& out) {
  if (sent > sent_) {
    // Byte sent_ left after the previous poll (which saw it unsent) and
    // after it was handed to the socket.
    marks_.push_back(Mark{sent_, std::max(last_obs_, queuedAt(sent_))});
    sent_ = sent;
  }
  while (!marks_.empty() && acked > marks_.front().byte) {
    FlowDuration sample = now - marks_.front().unsent_at;
    marks_.pop_front();
    if (sample <= FlowDuration::zero()) continue;
    latest_ = sample;
    best_ = best_ == FlowDuration::zero() ? sample : std::min(best_, sample);
  }
  last_obs_ = std::max(last_obs_, now);
  bool completed = false;
  while (!chunks_.empty() && chunks_.front().end <= acked) {
    out.push_back(Acked{chunks_.front().id, best_ != FlowDuration::zero() ? best_ : latest_});
    chunks_.pop_front();
    completed = true;
  }
  if (completed) best_ = FlowDuration::zero();
}

}  // namespace farlink::flow
