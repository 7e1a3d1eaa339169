#include "flow/lane_scheduler.h"

#include <algorithm>

namespace farlink::flow {
namespace {

uint64_t bit(LaneId lane) { return uint64_t{1} << lane; }

}  // namespace

Result<LaneScheduler> LaneScheduler::create(int lanes, const SchedulerParams& params) {
  // Written-off copies are tracked as a 64-bit lane mask.
  if (lanes < 1 || lanes > 64)
    return Status(StatusCode::kInvalidArgument,
                  "lane scheduler: " + std::to_string(lanes) + " lanes; use 1..64");
  if (params.stall_floor <= FlowDuration::zero() || params.stall_srtt_multiple < 1 ||
      !(params.initial_lane_rate > 0))
    return Status(
        StatusCode::kInvalidArgument,
        "lane scheduler: stall_floor, stall_srtt_multiple and initial_lane_rate must be > 0");
  return LaneScheduler(lanes, params);
}

LaneScheduler::LaneScheduler(int lanes, const SchedulerParams& params)
    : params_(params), lanes_(static_cast<size_t>(lanes)) {}

Priority LaneScheduler::classOf(const Chunk& c) const {
  return c.prio == Priority::kSmall && c.bytes <= params_.small_max ? Priority::kSmall
                                                                    : Priority::kBulk;
}

LaneId LaneScheduler::pickLane(uint64_t bytes, Priority prio) const {
  LaneId best = kNoLane;
  double best_key = 0;
  uint64_t best_load = 0;
  for (LaneId i = 0; i < lanes_.size(); ++i) {
    const Lane& l = lanes_[i];
    if (!eligible(l)) continue;
    uint64_t load = l.load.queued_bytes + l.load.inflight_bytes;
    double key;
    if (prio == Priority::kSmall) {
      key = static_cast<double>(load);
    } else {
      BytesPerSecond rate = l.load.rate > 0 ? l.load.rate : params_.initial_lane_rate;
      key = static_cast<double>(load + bytes) / rate;  // expected completion time
    }
    if (best == kNoLane || key < best_key || (key == best_key && load < best_load)) {
      best = i;
      best_key = key;
      best_load = load;
    }
  }
  return best;
}

void LaneScheduler::enqueue(ChunkId id, Chunk& c, LaneId lane, bool front) {
  c.lane = lane;
  c.sent = false;
  Lane& l = lanes_[lane];
  l.load.queued_bytes += c.bytes;
  auto& q = classOf(c) == Priority::kSmall ? l.small : l.bulk;
  if (front)
    q.push_front(id);
  else
    q.push_back(id);
}

Result<LaneId> LaneScheduler::assign(ChunkId id, uint64_t bytes, Priority prio, FlowTime) {
  if (chunks_.count(id) || ghosts_.count(id))
    return Status(StatusCode::kInvalidArgument,
                  "lane scheduler: chunk " + std::to_string(id) + " is already outstanding");
  Chunk& c = chunks_[id];
  c.bytes = bytes;
  c.prio = prio;
  LaneId to = pickLane(bytes, classOf(c));
  if (to == kNoLane) {
    parked_.push_back(id);
    return Status(StatusCode::kAgain, "lane scheduler: no lane is up or unstalled; chunk " +
                                          std::to_string(id) + " parked until a lane comes back");
  }
  enqueue(id, c, to, false);
  return to;
}

std::optional<ChunkId> LaneScheduler::next(LaneId lane) {
  if (lane >= lanes_.size()) return std::nullopt;
  Lane& l = lanes_[lane];
  for (auto* q : {&l.small, &l.bulk}) {
    // Entries of chunks that moved, completed or were sent are dropped lazily.
    while (!q->empty()) {
      auto it = chunks_.find(q->front());
      if (it != chunks_.end() && it->second.lane == lane && !it->second.sent) return q->front();
      q->pop_front();
    }
  }
  return std::nullopt;
}

bool LaneScheduler::onSent(LaneId lane, ChunkId id, FlowTime now) {
  auto it = chunks_.find(id);
  if (lane >= lanes_.size() || it == chunks_.end() || it->second.lane != lane || it->second.sent)
    return false;
  Chunk& c = it->second;
  LaneLoad& l = lanes_[lane].load;
  c.sent = true;
  l.queued_bytes -= c.bytes;
  // The stall clock starts when data becomes outstanding on an idle lane.
  if (l.inflight_chunks == 0) l.last_progress = now;
  l.inflight_bytes += c.bytes;
  l.inflight_chunks++;
  inflight_bytes_ += c.bytes;
  return true;
}

void LaneScheduler::dropInflight(LaneLoad& l, Chunk& c) {
  uint64_t counted = c.bytes - c.credited;
  l.inflight_bytes -= counted;
  l.inflight_chunks--;
  inflight_bytes_ -= counted;
  c.credited = 0;  // a copy sent again counts in full until it, too, is partly acked
}

bool LaneScheduler::onPartialDelivery(LaneId lane, ChunkId id, uint64_t delivered, FlowTime now) {
  auto it = chunks_.find(id);
  if (lane >= lanes_.size() || it == chunks_.end() || it->second.lane != lane || !it->second.sent)
    return false;
  Chunk& c = it->second;
  uint64_t credit = std::min(delivered, c.bytes);
  if (credit == c.credited) return true;
  LaneLoad& l = lanes_[lane].load;
  // Going down is allowed: a receiver may renege on SACKed data.
  l.inflight_bytes = l.inflight_bytes + c.credited - credit;
  inflight_bytes_ = inflight_bytes_ + c.credited - credit;
  if (credit > c.credited) progress(lane, now);
  c.credited = credit;
  return true;
}

void LaneScheduler::progress(LaneId lane, FlowTime now) {
  LaneLoad& l = lanes_[lane].load;
  l.last_progress = now;
  l.stalled = false;  // acks flow again: the lane may take chunks again
}

void LaneScheduler::complete(ChunkId id, const Chunk& c, LaneId by, uint64_t ghosts) {
  completed_++;
  completed_bytes_ += c.bytes;
  lanes_[by].load.acked_bytes += c.bytes;
  if (ghosts) ghosts_[id] = ghosts;
  chunks_.erase(id);
}

AckOutcome LaneScheduler::onAck(LaneId lane, ChunkId id, FlowTime now) {
  if (lane >= lanes_.size()) return AckOutcome::kUnknown;
  if (auto g = ghosts_.find(id); g != ghosts_.end()) {
    if (!(g->second & bit(lane))) return AckOutcome::kUnknown;
    g->second &= ~bit(lane);
    if (!g->second) ghosts_.erase(g);
    duplicates_++;
    progress(lane, now);
    return AckOutcome::kDuplicate;
  }
  auto it = chunks_.find(id);
  if (it == chunks_.end()) return AckOutcome::kUnknown;
  Chunk& c = it->second;
  if (c.lane == lane && c.sent) {
    dropInflight(lanes_[lane].load, c);
    progress(lane, now);
    complete(id, c, lane, c.stale_copies);
    return AckOutcome::kCompleted;
  }
  if (!(c.stale_copies & bit(lane))) return AckOutcome::kUnknown;
  // A written-off copy won the race: withdraw the current placement.
  uint64_t ghosts = c.stale_copies & ~bit(lane);
  if (c.lane == kNoLane) {
    auto p = std::find(parked_.begin(), parked_.end(), id);
    if (p != parked_.end()) parked_.erase(p);
  } else if (c.sent) {
    dropInflight(lanes_[c.lane].load, c);
    ghosts |= bit(c.lane);
  } else {
    lanes_[c.lane].load.queued_bytes -= c.bytes;
  }
  progress(lane, now);
  complete(id, c, lane, ghosts);
  return AckOutcome::kCompleted;
}

bool LaneScheduler::onLost(LaneId lane, ChunkId id) {
  auto it = chunks_.find(id);
  if (lane >= lanes_.size() || it == chunks_.end() || it->second.lane != lane || !it->second.sent)
    return false;
  Chunk& c = it->second;
  dropInflight(lanes_[lane].load, c);
  retransmits_++;
  enqueue(id, c, lane, true);  // re-sent first: the receiver is waiting for it
  return true;
}

void LaneScheduler::setLaneRate(LaneId lane, BytesPerSecond rate) {
  if (lane < lanes_.size()) lanes_[lane].load.rate = rate;
}

void LaneScheduler::setLaneRtt(LaneId lane, FlowDuration srtt) {
  if (lane < lanes_.size()) lanes_[lane].load.srtt = srtt;
}

std::vector<Reassignment> LaneScheduler::evacuate(LaneId lane) {
  Lane& from = lanes_[lane];
  std::vector<ChunkId> ids;
  for (const auto& [id, c] : chunks_)
    if (c.lane == lane) ids.push_back(id);
  // Oldest first: deterministic, and the receiver waits longest for those.
  std::sort(ids.begin(), ids.end());
  std::vector<Reassignment> out;
  out.reserve(ids.size());
  for (ChunkId id : ids) {
    Chunk& c = chunks_[id];
    Reassignment r{id, c.bytes, lane, kNoLane, c.sent};
    if (c.sent) {
      dropInflight(from.load, c);
      c.stale_copies |= bit(lane);
      retransmits_++;
    } else {
      from.load.queued_bytes -= c.bytes;
      moved_++;
    }
    c.lane = kNoLane;
    c.sent = false;
    r.to = pickLane(c.bytes, classOf(c));
    if (r.to == kNoLane)
      parked_.push_back(id);
    else
      enqueue(id, c, r.to, false);
    out.push_back(r);
  }
  from.small.clear();
  from.bulk.clear();
  return out;
}

std::vector<Reassignment> LaneScheduler::checkStalls(FlowTime now) {
  std::vector<Reassignment> out;
  for (LaneId i = 0; i < lanes_.size(); ++i) {
    LaneLoad& l = lanes_[i].load;
    if (!l.up || l.stalled || l.inflight_chunks == 0) continue;
    FlowDuration limit = std::max(params_.stall_floor, params_.stall_srtt_multiple * l.srtt);
    if (now - l.last_progress <= limit) continue;
    l.stalled = true;
    stalls_++;
    auto moved = evacuate(i);
    out.insert(out.end(), moved.begin(), moved.end());
  }
  return out;
}

std::vector<Reassignment> LaneScheduler::onLaneDown(LaneId lane, FlowTime) {
  if (lane >= lanes_.size()) return {};
  lanes_[lane].load.up = false;
  lanes_[lane].load.stalled = false;
  auto out = evacuate(lane);
  // A dead lane delivers nothing more: forget its written-off copies.
  for (auto& [id, c] : chunks_) c.stale_copies &= ~bit(lane);
  for (auto it = ghosts_.begin(); it != ghosts_.end();) {
    it->second &= ~bit(lane);
    it = it->second ? std::next(it) : ghosts_.erase(it);
  }
  return out;
}

std::vector<Reassignment> LaneScheduler::onLaneUp(LaneId lane, FlowTime now) {
  if (lane >= lanes_.size()) return {};
  LaneLoad& l = lanes_[lane].load;
  l.up = true;
  l.stalled = false;
  l.last_progress = now;
  std::vector<Reassignment> out;
  std::deque<ChunkId> parked;
  parked.swap(parked_);
  for (ChunkId id : parked) {
    Chunk& c = chunks_[id];
    Reassignment r{id, c.bytes, kNoLane, pickLane(c.bytes, classOf(c)), false};
    if (r.to == kNoLane)
      parked_.push_back(id);
    else
      enqueue(id, c, r.to, false);
    out.push_back(r);
  }
  return out;
}

uint64_t LaneScheduler::queuedBytes() const {
  uint64_t q = 0;
  for (const Lane& l : lanes_) q += l.load.queued_bytes;
  for (ChunkId id : parked_) q += chunks_.at(id).bytes;
  return q;
}

std::optional<uint64_t> LaneScheduler::chunkBytes(ChunkId id) const {
  auto it = chunks_.find(id);
  if (it == chunks_.end()) return std::nullopt;
  return it->second.bytes;
}

std::optional<Priority> LaneScheduler::chunkClass(ChunkId id) const {
  auto it = chunks_.find(id);
  if (it == chunks_.end()) return std::nullopt;
  return classOf(it->second);
}

std::optional<LaneId> LaneScheduler::chunkLane(ChunkId id) const {
  auto it = chunks_.find(id);
  if (it == chunks_.end()) return std::nullopt;
  return it->second.lane;
}

}  // namespace farlink::flow
