// Progress of chunks through one lane's byte stream (a TCP socket), from
// two counters the datapath reads at polls: bytes that have left the host
// (`sent`) and bytes the peer has acknowledged (`acked`), both counted from
// the same origin as the chunks' offsets.
//
// A chunk completes when its last byte is acked. RTT samples come from the
// stream, not from chunk ends: at every poll that sees `sent` advance, the
// first newly sent byte is marked with the previous poll's time (when it
// had not left yet); the poll that sees it acked yields now − that time.
// The last byte of a burst waits for the receiver's delayed ACK (up to tens
// of ms), which made the kernel's smoothed RTT see queues that were not
// there; marks fall mid-burst. Each sample bounds the RTT from above, by at
// most two poll intervals plus however late the polls ran; a chunk carries
// the smallest sample seen since the previous chunk completed, so a busy
// host that polls late inflates it little as long as some polls are on time.
// A sample is only as good as the polls around it: when the one that saw
// its byte leave, or the one that saw it acked, came more than `max_gap`
// after the previous poll (nobody drove the channel: an application busy
// elsewhere, with no library thread), it is dropped. Such a sample of 7 s
// once became a channel's min RTT and froze its rate near zero.
// Under loss the cumulative ack stops at a hole for a round trip while the
// peer SACKs what follows; when the retransmission fills it the ack jumps
// over bytes that arrived long before. Marks acked by that jump would be
// samples inflated by the repair (at 1% loss every lane has a hole most of
// the time, and the queueing back-off took them for a standing queue), so
// a read that follows one showing SACKed bytes (see credits()) takes none.
// Pure logic, time passed in; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "flow/flow_time.h"

namespace farlink::flow {

class StreamProgress {
 public:
  explicit StreamProgress(FlowDuration max_gap = FlowDuration::max()) : max_gap_(max_gap) {}

  struct Acked {
    ChunkId id = 0;
    FlowDuration rtt{0};  // zero: no sample yet on this lane
  };
  struct Credit {
    ChunkId id = 0;
    uint64_t delivered = 0;  // bytes of the chunk known to have reached the peer
  };

  // Chunk `id` occupies stream bytes [begin, end) and was handed to the
  // socket at `now`. Chunks must be queued in stream order.
  void onQueued(ChunkId id, uint64_t begin, uint64_t end, FlowTime now);
  // Counters read at `now` (sent >= acked; neither ever goes back). Appends
  // the chunks whose last byte is acked, oldest first.
  void observe(uint64_t sent, uint64_t acked, FlowTime now, std::vector<Acked>& out) {
    observe(sent, acked, now, now, out);
  }
  // The same, for counters read between `before` and `after`: what was
  // unsent then was unsent at `before`, what was acked was acked by `after`,
  // so a slow read (the thread preempted) widens samples, never shrinks them.
  void observe(uint64_t sent, uint64_t acked, FlowTime before, FlowTime after,
               std::vector<Acked>& out);
  // Only `acked` could be read reliably at `now` (the datapath was still
  // handing the socket bytes): completes chunks, takes no send marks.
  void observeAcked(uint64_t acked, FlowTime now, std::vector<Acked>& out);

  // How much of each outstanding chunk has reached the peer: the bytes below
  // `acked` (the cumulative ack), plus `beyond` bytes the peer holds past it
  // (SACKed beyond a hole), laid oldest first on bytes known to have left.
  // Where past the hole they lie is not known, but the total is what an
  // in-flight count needs. Appends the chunks whose figure changed since the
  // previous call. Call after observe/observeAcked with the same `acked`;
  // `beyond` > 0 (a hole) makes the next read's acks give no RTT sample.
  void credits(uint64_t acked, uint64_t beyond, std::vector<Credit>& out);

  bool empty() const { return chunks_.empty(); }
  size_t outstanding() const { return chunks_.size(); }

 private:
  struct Chunk {
    ChunkId id;
    uint64_t begin;
    uint64_t end;
    FlowTime queued;
    uint64_t credited = 0;  // last figure credits() gave
  };
  struct Mark {
    uint64_t byte;       // first byte of a newly sent range
    FlowTime unsent_at;  // when it was last known not to have left
    FlowTime left_by;    // when it was first seen gone
  };

  void takeAcks(uint64_t acked, FlowTime before, FlowTime after, std::vector<Acked>& out);
  std::deque<Chunk> chunks_;  // a few per lane
  std::deque<Mark> marks_;    // at most one per poll in flight
  uint64_t sent_ = 0;
  FlowDuration max_gap_;
  FlowTime last_obs_{};
  FlowTime last_ack_obs_{};  // the last read of the ack counter began here
  FlowDuration best_{0};     // smallest sample since the last completion
  FlowDuration latest_{0};   // last sample taken
  bool hole_ = false;        // the last credits() saw bytes SACKed beyond a hole
};

}  // namespace farlink::flow
