// Which lane carries each chunk, and what to do when a lane stops.
//
// Bulk chunks go to the lane whose queue would finish them first
// ((queued + in-flight + chunk) / that lane's delivery rate), so faster lanes
// get proportionally more. Small (priority) chunks go to the least-loaded
// lane and are handed out before any bulk chunk queued on it. A lane with
// data outstanding and no ack for max(4·srtt, 200 ms) is stalled: its queued
// chunks move and its in-flight chunks are re-sent on other lanes; the
// receiver drops whichever copy arrives second (it keeps a per-chunk bitmap),
// and here the first ack completes a chunk and later ones count as
// duplicates. Pure logic; not thread-safe; at most 64 lanes.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "farlink/status.h"
#include "flow/flow_time.h"

namespace farlink::flow {

inline constexpr LaneId kNoLane = ~LaneId{0};

struct SchedulerParams {
  FlowDuration stall_floor = std::chrono::milliseconds(200);
  int stall_srtt_multiple = 4;
  // Rate assumed for a lane before its first delivery-rate sample; equal
  // for all lanes, so they start evenly loaded.
  BytesPerSecond initial_lane_rate = 12.5e6;
  // Small chunks: at most this many bytes (bigger ones are scheduled as bulk).
  uint64_t small_max = 64 * 1024;
};

// A chunk that left a stalled or dead lane.
struct Reassignment {
  ChunkId chunk = 0;
  uint64_t bytes = 0;
  LaneId from = kNoLane;
  LaneId to = kNoLane;  // kNoLane: no lane is up; parked until one is
  bool resend = false;  // it had been sent on `from`: a copy may still arrive
};

enum class AckOutcome : uint8_t {
  kCompleted,  // first ack of this chunk
  kDuplicate,  // the chunk had already completed through another copy
  kUnknown,    // no such chunk outstanding on that lane (a confused peer)
};

struct LaneLoad {
  bool up = true;
  bool stalled = false;
  uint64_t queued_bytes = 0;  // assigned, not yet sent
  // Sent, not yet acked, less bytes known delivered (onPartialDelivery);
  // written-off copies excluded.
  uint64_t inflight_bytes = 0;
  uint32_t inflight_chunks = 0;
  BytesPerSecond rate = 0;  // delivery-rate estimate (0: none yet)
  FlowDuration srtt{0};
  FlowTime last_progress{};
  uint64_t acked_bytes = 0;  // completions credited to this lane
};

class LaneScheduler {
 public:
  // kInvalidArgument unless 1 <= lanes <= 64.
  static Result<LaneScheduler> create(int lanes, const SchedulerParams& params = {});

  // Picks a lane for a new chunk and queues it there. kAgain when no lane
  // can take it (all down or stalled): the chunk is parked and handed out
  // by onLaneUp. Duplicate ids are kInvalidArgument.
  Result<LaneId> assign(ChunkId id, uint64_t bytes, Priority prio, FlowTime now);
  // The next chunk `lane` should send (small before bulk, FIFO within each);
  // it stays queued until onSent.
  std::optional<ChunkId> next(LaneId lane);
  // The lane handed `id` to the wire. False if `id` is not queued on `lane`.
  bool onSent(LaneId lane, ChunkId id, FlowTime now);
  AckOutcome onAck(LaneId lane, ChunkId id, FlowTime now);
  // The datapath knows `id` was lost on `lane`: it goes to the front of
  // that lane's queue to be sent again. False if not in flight there.
  bool onLost(LaneId lane, ChunkId id);
  // `delivered` bytes of `id`, in flight on `lane`, are known to have reached
  // the peer before the chunk is acked as a whole (a TCP lane's cumulative
  // ack inside it, or SACKed data beyond a hole): only the rest counts as in
  // flight. A total, not an increment, and it may go down (a receiver may
  // renege on SACKed data). A lost or written-off copy counts in full again
  // when re-sent. False if `id` is not in flight on `lane`.
  bool onPartialDelivery(LaneId lane, ChunkId id, uint64_t delivered, FlowTime now);

  void setLaneRate(LaneId lane, BytesPerSecond rate);
  void setLaneRtt(LaneId lane, FlowDuration srtt);
  // Stall detection; returns the chunks moved off stalled lanes.
  std::vector<Reassignment> checkStalls(FlowTime now);
  std::vector<Reassignment> onLaneDown(LaneId lane, FlowTime now);
  // Returns parked chunks now assigned to lanes again.
  std::vector<Reassignment> onLaneUp(LaneId lane, FlowTime now);

  int lanes() const { return static_cast<int>(lanes_.size()); }
  const LaneLoad& lane(LaneId l) const { return lanes_[l].load; }
  // Bytes in flight on all lanes (what the congestion controller sees).
  uint64_t inflightBytes() const { return inflight_bytes_; }
  uint64_t queuedBytes() const;
  size_t outstandingChunks() const { return chunks_.size(); }
  size_t parkedChunks() const { return parked_.size(); }
  // Bytes of chunk `id` if it is outstanding.
  std::optional<uint64_t> chunkBytes(ChunkId id) const;
  std::optional<LaneId> chunkLane(ChunkId id) const;
  // The class the chunk is scheduled in (kSmall only if small enough).
  std::optional<Priority> chunkClass(ChunkId id) const;

  uint64_t completed() const { return completed_; }
  uint64_t completedBytes() const { return completed_bytes_; }
  uint64_t retransmits() const { return retransmits_; }
  uint64_t moved() const { return moved_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t stalls() const { return stalls_; }

 private:
  struct Chunk {
    uint64_t bytes = 0;
    Priority prio = Priority::kBulk;
    LaneId lane = kNoLane;
    bool sent = false;
    uint64_t credited = 0;      // bytes of the sent copy known delivered before its ack
    uint64_t stale_copies = 0;  // bitmask of lanes holding written-off copies
  };
  struct Lane {
    LaneLoad load;
    std::deque<ChunkId> small;
    std::deque<ChunkId> bulk;
  };

  LaneScheduler(int lanes, const SchedulerParams& params);
  bool eligible(const Lane& l) const { return l.load.up && !l.load.stalled; }
  Priority classOf(const Chunk& c) const;
  LaneId pickLane(uint64_t bytes, Priority prio) const;
  void enqueue(ChunkId id, Chunk& c, LaneId lane, bool front);
  // Takes every chunk off `lane` (queued: moved; in flight: written off and
  // re-sent) and places it elsewhere.
  std::vector<Reassignment> evacuate(LaneId lane);
  void progress(LaneId lane, FlowTime now);
  void complete(ChunkId id, const Chunk& c, LaneId by, uint64_t ghosts);
  // The sent copy of `c` on lane `l` leaves flight (acked, lost or written off).
  void dropInflight(LaneLoad& l, Chunk& c);

  SchedulerParams params_;
  std::vector<Lane> lanes_;
  std::unordered_map<ChunkId, Chunk> chunks_;     // outstanding
  std::unordered_map<ChunkId, uint64_t> ghosts_;  // completed; lanes with copies still out
  std::deque<ChunkId> parked_;
  uint64_t inflight_bytes_ = 0;
  uint64_t completed_ = 0;
  uint64_t completed_bytes_ = 0;
  uint64_t retransmits_ = 0;
  uint64_t moved_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t stalls_ = 0;
};

}  // namespace farlink::flow
