#include "flow/channel_flow.h"

#include <algorithm>

namespace farlink::flow {

Result<std::unique_ptr<ChannelFlow>> ChannelFlow::create(const FlowConfig& config) {
  auto cc = makeController(config.controller, config.params);
  if (!cc) return cc.status();
  auto sched = LaneScheduler::create(config.lanes, config.scheduler);
  if (!sched) return sched.status();
  if (config.min_rtt_window <= FlowDuration::zero())
    return Status(StatusCode::kInvalidArgument, "flow: min_rtt_window must be > 0");
  return std::unique_ptr<ChannelFlow>(new ChannelFlow(config, std::move(*cc), std::move(*sched)));
}

ChannelFlow::ChannelFlow(const FlowConfig& config, std::unique_ptr<CongestionController> cc,
                         LaneScheduler sched)
    : config_(config), cc_(std::move(cc)), sched_(std::move(sched)), rtt_(config.min_rtt_window) {
  lanes_.reserve(static_cast<size_t>(config.lanes));
  for (int i = 0; i < config.lanes; ++i) lanes_.emplace_back(config.min_rtt_window);
  pacer_.setRate(cc_->pacingRate(), FlowTime{});
}

void ChannelFlow::syncPacer(FlowTime now) { pacer_.setRate(cc_->pacingRate(), now); }

Result<LaneId> ChannelFlow::assign(ChunkId id, uint64_t bytes, Priority prio, FlowTime now) {
  return sched_.assign(id, bytes, prio, now);
}

SendDecision ChannelFlow::maySend(LaneId lane, ChunkId id, FlowTime now) const {
  auto bytes = sched_.chunkBytes(id);
  if (!bytes || sched_.chunkLane(id) != lane)
    return SendDecision{false, SendDecision::Blocker::kLaneUnavailable, FlowDuration::zero()};
  return maySendBytes(lane, *bytes, *sched_.chunkClass(id), now);
}

SendDecision ChannelFlow::maySendBytes(LaneId lane, uint64_t bytes, Priority prio,
                                       FlowTime now) const {
  using B = SendDecision::Blocker;
  if (lane >= lanes_.size()) return {false, B::kLaneUnavailable, FlowDuration::zero()};
  const LaneLoad& l = sched_.lane(lane);
  if (!l.up || l.stalled) return {false, B::kLaneUnavailable, FlowDuration::zero()};
  if (prio == Priority::kSmall && bytes <= config_.scheduler.small_max) return {true, B::kNone, {}};
  uint64_t inflight = sched_.inflightBytes();
  // Something may always be in flight, or a cap below one chunk would deadlock.
  if (inflight > 0 && inflight + bytes > cc_->inflightCap())
    return {false, B::kInflightCap, FlowDuration::zero()};
  if (config_.lane_window && l.inflight_bytes > 0 && l.inflight_bytes + bytes > config_.lane_window)
    return {false, B::kLaneWindow, FlowDuration::zero()};
  FlowDuration wait = pacer_.delayFor(bytes, now);
  if (wait > FlowDuration::zero()) return {false, B::kPacing, wait};
  return {true, B::kNone, FlowDuration::zero()};
}

Status ChannelFlow::onSend(LaneId lane, ChunkId id, FlowTime now) {
  auto bytes = sched_.chunkBytes(id);
  uint64_t before = sched_.inflightBytes();
  uint64_t lane_before = lane < lanes_.size() ? sched_.lane(lane).inflight_bytes : 0;
  if (!bytes || !sched_.onSent(lane, id, now))
    return Status(StatusCode::kInvalidArgument,
                  "flow: chunk " + std::to_string(id) + " is not queued on lane " +
                      std::to_string(lane) + "; send what next() returned");
  SentCopy copy;
  copy.lane = lane;
  copy.bytes = *bytes;
  copy.channel = bw_.onSend(now, before);
  copy.lane_snap = lanes_[lane].bw.onSend(now, lane_before);
  sent_[id] = copy;
  pacer_.onSend(*bytes, now);
  cc_->onSend(SendEvent{now, *bytes, sched_.inflightBytes()});
  syncPacer(now);
  return Status::ok();
}

AckResult ChannelFlow::onAck(LaneId lane, ChunkId id, FlowTime now, FlowDuration rtt) {
  auto copy = sent_.find(id);
  bool current = copy != sent_.end() && copy->second.lane == lane;
  uint64_t bytes = sched_.chunkBytes(id).value_or(0);
  AckOutcome outcome = sched_.onAck(lane, id, now);
  if (outcome != AckOutcome::kCompleted) return AckResult{outcome, 0};

  AckEvent ev;
  ev.now = now;
  ev.bytes = bytes;
  if (current) {
    const SentCopy& c = copy->second;
    uint64_t fresh = repay(bytes - std::min(bytes, c.credited));
    FlowDuration sample = rtt;
    if (sample <= FlowDuration::zero() && config_.rtt_from_send_time)
      sample = now - c.channel.sent_time;
    LaneEstimators& le = lanes_[lane];
    if (sample > FlowDuration::zero()) {  // else no sample: ev.rtt stays zero
      rtt_.addSample(sample, now);
      le.rtt.addSample(sample, now);
      ev.rtt = sample;
    }
    ev.rate = bw_.onAck(c.channel, fresh, now, rtt_.minRtt());
    le.bw.onAck(c.lane_snap, fresh, now, le.rtt.minRtt());
    sched_.setLaneRate(lane, le.bw.bandwidth());
    sched_.setLaneRtt(lane, le.rtt.srtt());
    ev.round_start = bw_.roundStarted();
  }
  // A written-off copy completed the chunk: which send it answers is
  // unknown, so it gives no RTT or rate sample, but in-flight still drops.
  if (copy != sent_.end()) sent_.erase(copy);
  ev.inflight = sched_.inflightBytes();
  ev.srtt = rtt_.srtt();
  ev.min_rtt = rtt_.minRtt();
  ev.bandwidth = bw_.bandwidth();
  ev.round = bw_.rounds();
  ev.delivered = bw_.delivered() - delivered_at_ack_;
  delivered_at_ack_ = bw_.delivered();
  cc_->onAck(ev);
  syncPacer(now);
  return AckResult{outcome, bytes};
}

Status ChannelFlow::onPartialAck(LaneId lane, ChunkId id, uint64_t delivered, FlowTime now) {
  if (!sched_.onPartialDelivery(lane, id, delivered, now))
    return Status(StatusCode::kInvalidArgument, "flow: partial ack of chunk " + std::to_string(id) +
                                                    " on lane " + std::to_string(lane) +
                                                    ", but it is not in flight there");
  auto copy = sent_.find(id);
  if (copy == sent_.end() || copy->second.lane != lane) return Status::ok();
  SentCopy& c = copy->second;
  uint64_t credit = std::min(delivered, c.bytes);
  if (credit < c.credited) {
    credit_debt_ += c.credited - credit;
  } else if (uint64_t fresh = repay(credit - c.credited); fresh > 0) {
    bw_.onDelivered(fresh, now);
    lanes_[lane].bw.onDelivered(fresh, now);
  }
  c.credited = credit;
  return Status::ok();
}

void ChannelFlow::forget(ChunkId id) {
  auto copy = sent_.find(id);
  if (copy == sent_.end()) return;
  // Its credited bytes will be delivered, and counted, again.
  credit_debt_ += copy->second.credited;
  sent_.erase(copy);
}

uint64_t ChannelFlow::repay(uint64_t bytes) {
  uint64_t paid = std::min(bytes, credit_debt_);
  credit_debt_ -= paid;
  return bytes - paid;
}

Status ChannelFlow::onLoss(LaneId lane, ChunkId id, FlowTime now) {
  uint64_t bytes = sched_.chunkBytes(id).value_or(0);
  if (!sched_.onLost(lane, id))
    return Status(StatusCode::kInvalidArgument, "flow: loss of chunk " + std::to_string(id) +
                                                    " reported on lane " + std::to_string(lane) +
                                                    ", but it is not in flight there");
  forget(id);
  losses_++;
  cc_->onLoss(LossEvent{now, bytes, sched_.inflightBytes()});
  syncPacer(now);
  return Status::ok();
}

void ChannelFlow::onAppLimited() {
  bw_.markAppLimited(sched_.inflightBytes());
  for (LaneId i = 0; i < lanes_.size(); ++i)
    lanes_[i].bw.markAppLimited(sched_.lane(i).inflight_bytes);
}

std::vector<Reassignment> ChannelFlow::onTick(FlowTime now) {
  cc_->onTick(now);
  auto moved = sched_.checkStalls(now);
  // Re-sent copies get fresh snapshots when they go out again. A stall is
  // not congestion (the path may be fine, one connection is not), so the
  // controller is not told of a loss.
  for (const Reassignment& r : moved)
    if (r.resend) forget(r.chunk);
  syncPacer(now);
  return moved;
}

std::vector<Reassignment> ChannelFlow::onLaneDown(LaneId lane, FlowTime now) {
  auto moved = sched_.onLaneDown(lane, now);
  for (const Reassignment& r : moved)
    if (r.resend) forget(r.chunk);
  return moved;
}

std::vector<Reassignment> ChannelFlow::onLaneUp(LaneId lane, FlowTime now) {
  return sched_.onLaneUp(lane, now);
}

FlowStats ChannelFlow::stats(FlowTime now) const {
  FlowStats s;
  s.rtt_min = rtt_.minRtt();
  s.rtt_smoothed = rtt_.srtt();
  s.rtt_var = rtt_.rttvar();
  s.rtt_p99 = rtt_.p99(now);
  s.queueing_delay = rtt_.queueingDelay();
  s.delivery_rate = bw_.bandwidth();
  s.pacing_rate = cc_->pacingRate();
  s.inflight_bytes = sched_.inflightBytes();
  s.inflight_cap = cc_->inflightCap();
  s.queued_bytes = sched_.queuedBytes();
  s.lanes = sched_.lanes();
  s.chunks_completed = sched_.completed();
  s.bytes_completed = sched_.completedBytes();
  s.retransmits = sched_.retransmits();
  s.duplicates = sched_.duplicates();
  s.losses = losses_;
  s.rounds = bw_.rounds();
  s.controller = config_.controller;
  s.state = std::string(cc_->stateName());
  s.limiting_factor =
      bw_.appLimited() ? "application: nothing queued to send" : std::string(cc_->limitingFactor());
  for (LaneId i = 0; i < lanes_.size(); ++i) {
    const LaneLoad& l = sched_.lane(i);
    s.lanes_up += l.up ? 1 : 0;
    s.lanes_stalled += l.stalled ? 1 : 0;
    s.lane.push_back(LaneFlowStats{l.up, l.stalled, lanes_[i].bw.bandwidth(), lanes_[i].rtt.srtt(),
                                   lanes_[i].rtt.minRtt(), l.inflight_bytes, l.queued_bytes,
                                   l.acked_bytes});
  }
  return s;
}

}  // namespace farlink::flow
