// Flow control of one channel, as the datapath sees it: one object that
// runs the RTT and delivery-rate estimators (per lane and per channel), the
// congestion controller, the pacer and the lane scheduler. The datapath
// calls it on every event and asks it two questions: "which lane gets this
// chunk" (assign/next) and "may lane L send B bytes now, and if not, when"
// (maySend). Pure logic, time passed in; not thread-safe (the channel's
// progress thread owns it).
//
// Typical use:
//   lane = flow.assign(chunk_id, bytes, prio, now)
//   on a lane being writable: id = flow.next(lane); d = flow.maySend(lane, id, now);
//     d.allowed → write it, flow.onSend(lane, id, now); else retry after d.wait
//   on completion: flow.onAck(lane, id, now [, rtt]); on loss: flow.onLoss(lane, id, now)
//   on part of a chunk known delivered: flow.onPartialAck(lane, id, bytes, now)
//   on a timer (every few ms): for each r in flow.onTick(now) re-send r.chunk on r.to
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "farlink/status.h"
#include "flow/congestion_controller.h"
#include "flow/delivery_rate.h"
#include "flow/flow_stats.h"
#include "flow/lane_scheduler.h"
#include "flow/pacer.h"
#include "flow/rtt_estimator.h"

namespace farlink::flow {

struct FlowConfig {
  std::string controller = "model";  // or "fixed"
  ControllerParams params;
  int lanes = 4;
  SchedulerParams scheduler;
  // Most bytes one lane may have in flight (socket buffer / QP window from
  // recommendSizing); 0 = no per-lane limit.
  uint64_t lane_window = 0;
  FlowDuration min_rtt_window = std::chrono::seconds(10);
  // An ack passed without an RTT is measured from the chunk's onSend. False
  // when the datapath measures RTT itself and onSend is only when a chunk
  // was handed to a socket that may hold it (TCP): then no RTT means none.
  bool rtt_from_send_time = true;
};

struct SendDecision {
  enum class Blocker : uint8_t { kNone, kPacing, kInflightCap, kLaneWindow, kLaneUnavailable };
  bool allowed = false;
  Blocker blocker = Blocker::kNone;
  // kPacing: how long until the bytes may go. Otherwise zero: wait for an
  // ack (cap/window) or for the lane to come back.
  FlowDuration wait{0};
};

struct AckResult {
  AckOutcome outcome = AckOutcome::kUnknown;
  uint64_t bytes = 0;
};

class ChannelFlow {
 public:
  static Result<std::unique_ptr<ChannelFlow>> create(const FlowConfig& config);

  // Chunk placement (see LaneScheduler).
  Result<LaneId> assign(ChunkId id, uint64_t bytes, Priority prio, FlowTime now);
  std::optional<ChunkId> next(LaneId lane) { return sched_.next(lane); }

  // May `lane` send chunk `id` (assigned to it) now? Small chunks skip
  // pacing and the in-flight cap: they must never wait behind bulk.
  SendDecision maySend(LaneId lane, ChunkId id, FlowTime now) const;
  SendDecision maySendBytes(LaneId lane, uint64_t bytes, Priority prio, FlowTime now) const;

  // `id` went out on `lane`. kInvalidArgument if it is not queued there.
  Status onSend(LaneId lane, ChunkId id, FlowTime now);
  // `id` was acked/completed on `lane`. `rtt` zero: measured as now − send
  // time (only for the copy last sent; a written-off copy gives no sample),
  // unless config.rtt_from_send_time is false: then no sample.
  AckResult onAck(LaneId lane, ChunkId id, FlowTime now, FlowDuration rtt = FlowDuration::zero());
  // `delivered` bytes of `id` (in flight on `lane`) have reached the peer
  // though the chunk is not acked yet: the in-flight count, and so the cap,
  // sees only the rest. A total, not an increment (see
  // LaneScheduler::onPartialDelivery). kInvalidArgument if `id` is not in
  // flight there. The bytes count as delivered now for the delivery-rate
  // estimate (see DeliveryRateSampler::onDelivered); the RTT and rate
  // samples still come with the whole chunk's ack.
  Status onPartialAck(LaneId lane, ChunkId id, uint64_t delivered, FlowTime now);
  // The datapath knows `id` was lost on `lane`: it is queued again in front.
  Status onLoss(LaneId lane, ChunkId id, FlowTime now);
  // Nothing left to send: rate samples until the current flight is
  // delivered do not lower the estimates.
  void onAppLimited();
  // Timers: controller states that advance with time, and stalled lanes.
  // Returns chunks to (re-)send on other lanes; they are already queued there.
  std::vector<Reassignment> onTick(FlowTime now);
  std::vector<Reassignment> onLaneDown(LaneId lane, FlowTime now);
  std::vector<Reassignment> onLaneUp(LaneId lane, FlowTime now);

  FlowStats stats(FlowTime now) const;
  const CongestionController& controller() const { return *cc_; }
  const LaneScheduler& scheduler() const { return sched_; }
  const RttEstimator& rtt() const { return rtt_; }
  const RttEstimator& laneRtt(LaneId lane) const { return lanes_[lane].rtt; }
  BytesPerSecond bandwidth() const { return bw_.bandwidth(); }
  uint64_t inflightBytes() const { return sched_.inflightBytes(); }

 private:
  struct LaneEstimators {
    explicit LaneEstimators(FlowDuration window) : rtt(window) {}
    RttEstimator rtt;
    BandwidthEstimator bw;
  };
  // Delivery state of the copy of a chunk that was sent last.
  struct SentCopy {
    LaneId lane = kNoLane;
    uint64_t bytes = 0;
    uint64_t credited = 0;  // bytes already counted delivered by onPartialAck
    SendSnapshot channel;
    SendSnapshot lane_snap;
  };

  ChannelFlow(const FlowConfig& config, std::unique_ptr<CongestionController> cc,
              LaneScheduler sched);
  void syncPacer(FlowTime now);

  FlowConfig config_;
  std::unique_ptr<CongestionController> cc_;
  LaneScheduler sched_;
  Pacer pacer_;
  RttEstimator rtt_;
  BandwidthEstimator bw_;
  std::vector<LaneEstimators> lanes_;
  std::unordered_map<ChunkId, SentCopy> sent_;
  uint64_t losses_ = 0;
  // Credits taken back (a receiver reneged on SACKed bytes, or credits moved
  // between chunks) that the delivered count has already seen: later credits
  // repay them first, so that count never goes back and never counts twice.
  uint64_t credit_debt_ = 0;
  uint64_t delivered_at_ack_ = 0;  // bw_.delivered() when the controller last heard
  // Of `bytes` newly known delivered, what the delivered count has not seen.
  uint64_t repay(uint64_t bytes);
  // Drops the sent copy of `id` (lost, or moved to another lane).
  void forget(ChunkId id);
};

}  // namespace farlink::flow
