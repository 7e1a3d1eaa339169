#include "flow/model_controller.h"

#include <algorithm>
#include <array>

namespace farlink::flow {
namespace {

constexpr std::array<double, ModelController::kCycleLength> kCycleGains = {1.25, 0.75, 1, 1,
                                                                           1,    1,    1, 1};
constexpr double kFullBwGrowth = 1.25;
constexpr int kFullBwRounds = 3;
constexpr double kLossBeta = 0.7;      // cap multiplier per congested round
constexpr double kCapRegrowth = 1.25;  // cap multiplier per clean round
constexpr int kElevatedRoundsToBackOff = 2;
constexpr int kStuckRoundsToRebase = 3;
constexpr int kHoldoffRoundsAfterRebase = 16;

}  // namespace

ModelController::ModelController(const ControllerParams& params) : params_(params) {}

BytesPerSecond ModelController::bandwidth() const {
  return bw_lo_ > 0 ? std::min(btlbw_, bw_lo_) : btlbw_;
}

uint64_t ModelController::bdp(double gain) const {
  return static_cast<uint64_t>(gain * bytesIn(bandwidth(), min_rtt_));
}

FlowDuration ModelController::queueThreshold() const {
  auto frac = std::chrono::duration_cast<FlowDuration>(min_rtt_ * params_.queue_delay_fraction);
  return std::max(params_.queue_delay_floor, frac);
}

double ModelController::cyclePacingGain() const {
  double g = kCycleGains[static_cast<size_t>(cycle_index_)];
  // No probing for more while we are trying to drain a queue.
  if (backoff_ && g > 1) return 1.0;
  return g;
}

void ModelController::onSend(const SendEvent& ev) {
  inflight_ = ev.inflight;
  round_max_inflight_ = std::max(round_max_inflight_, ev.inflight);
}

void ModelController::onLoss(const LossEvent& ev) {
  inflight_ = ev.inflight;
  round_lost_ += ev.bytes;
  loss_in_round_ = true;
}

void ModelController::updateMinRtt(const AckEvent& ev) {
  if (ev.rtt <= FlowDuration::zero()) return;
  bool expired = min_rtt_valid_ && ev.now - min_rtt_stamp_ > params_.min_rtt_window;
  if (!min_rtt_valid_ || ev.rtt <= min_rtt_ || expired) {
    min_rtt_ = ev.rtt;
    min_rtt_stamp_ = ev.now;
    min_rtt_valid_ = true;
  }
  if (expired && mode_ != Mode::kProbeRtt && params_.probe_rtt_duration > FlowDuration::zero())
    enterProbeRtt(ev.now);
}

void ModelController::onAck(const AckEvent& ev) {
  inflight_ = ev.inflight;
  srtt_ = ev.srtt;
  btlbw_ = ev.bandwidth;
  // Partial credits included: under random loss chunks complete in clumps
  // behind each hole, but their bytes reached the peer all along.
  round_delivered_ += ev.delivered;
  // App-limited samples measure the application, not the path: they may
  // not bound the model (see onRoundEnd).
  if (ev.rate.valid && !ev.rate.app_limited)
    round_max_rate_ = std::max(round_max_rate_, ev.rate.rate);
  if (ev.rate.app_limited) round_app_limited_ = true;
  // bw_lo_ is dropped once the windowed max has forgotten the stale peak.
  if (bw_lo_ > 0 && btlbw_ <= bw_lo_) bw_lo_ = 0;
  if (ev.rtt > FlowDuration::zero()) round_min_rtt_ = std::min(round_min_rtt_, ev.rtt);
  updateMinRtt(ev);
  if (ev.round_start) onRoundEnd(ev);

  switch (mode_) {
    case Mode::kStartup:
      break;  // exit decided once per round in onRoundEnd
    case Mode::kDrain:
      checkDrain(ev);
      break;
    case Mode::kProbeBw:
      advanceCycle(ev);
      break;
    case Mode::kProbeRtt:
      handleProbeRtt(ev);
      break;
  }
}

void ModelController::onRoundEnd(const AckEvent& ev) {
  // The round's average delivery rate. Unlike the per-ack samples (and so
  // their windowed max) it is not inflated by acks seen late and in clumps:
  // only the round's two ends carry timing error, over a whole round trip.
  FlowDuration round_len = ev.now - round_start_time_;
  BytesPerSecond round_rate = 0;
  // A round in which the sender ran dry (an idle gap between bursts: an
  // allreduce's pieces) delivered what the application gave, over however
  // long it paused: bounding the model by that rate paced the next burst
  // at a few Mbit/s.
  if (round_started_ && min_rtt_valid_ && round_len >= min_rtt_ / 2 && !round_app_limited_)
    round_rate = static_cast<double>(round_delivered_) / toSeconds(round_len);
  round_started_ = true;
  round_start_time_ = ev.now;
  bool have_round_rtt = round_min_rtt_ != FlowDuration::max() && min_rtt_valid_;
  FlowDuration standing = have_round_rtt ? round_min_rtt_ - min_rtt_ : FlowDuration::zero();
  bool elevated = have_round_rtt && standing > queueThreshold();

  // Loss: only congestion when heavy, or when it comes with a standing queue.
  uint64_t total = round_lost_ + round_delivered_;
  double loss_rate = total ? static_cast<double>(round_lost_) / static_cast<double>(total) : 0;
  bool congestion_loss = round_lost_ > 0 && (loss_rate > params_.loss_threshold || elevated);
  if (congestion_loss) {
    uint64_t base = std::min(loss_cap_, std::max(round_max_inflight_, ev.inflight));
    loss_cap_ = std::max(minWindow(), static_cast<uint64_t>(kLossBeta * static_cast<double>(base)));
    if (mode_ == Mode::kStartup) filled_pipe_ = true;  // BBRv2: heavy loss ends STARTUP
  } else if (loss_cap_ != kNoCap) {
    loss_cap_ = static_cast<uint64_t>(kCapRegrowth * static_cast<double>(loss_cap_));
    if (btlbw_ > 0 && loss_cap_ > bdp(2 * kHighGain)) loss_cap_ = kNoCap;
  }

  // bw_lo_ follows the path back up when whole rounds deliver more without
  // building a queue. With a queue the path is full: a higher round rate
  // is timing noise, and following it would creep past the bottleneck.
  if (bw_lo_ > 0 && !round_app_limited_ && !elevated && round_rate > bw_lo_)
    bw_lo_ = std::min(btlbw_, round_rate);
  if (bw_lo_ > 0 && btlbw_ <= bw_lo_) bw_lo_ = 0;

  // Queueing-delay back-off.
  // A queue we built shows in rounds where we sent all we could; an
  // app-limited round neither adds to the count nor clears it.
  if (!elevated)
    elevated_rounds_ = 0;
  else if (!round_app_limited_)
    elevated_rounds_++;
  queue_elevated_ = elevated;
  if (backoff_holdoff_ > 0) backoff_holdoff_--;
  if (!backoff_) {
    if (filled_pipe_ && mode_ != Mode::kProbeRtt && backoff_holdoff_ == 0 &&
        elevated_rounds_ >= kElevatedRoundsToBackOff) {
      backoff_ = true;
      backoff_stuck_rounds_ = 0;
      // A standing queue means the windowed max is above what the path
      // delivers now (it slowed down, others joined, or noisy samples
      // inflated it): bound the model by what the queued rounds delivered
      // (the bottleneck's rate while it has a queue), so ending the
      // back-off does not rebuild the queue at the stale rate.
      BytesPerSecond delivered = std::max(round_rate, prev_round_rate_);
      if (delivered <= 0) delivered = round_max_rate_;
      if (delivered > 0) bw_lo_ = std::min(btlbw_, delivered);
    }
  } else if (!have_round_rtt) {
    // No RTT sample this round: nothing to judge.
  } else if (standing < queueThreshold() / 2) {
    backoff_ = false;  // drained
  } else {
    // Sending below the delivery rate shrinks our own queue every round; a
    // queue that does not shrink belongs to the path or to someone else.
    FlowDuration eps = queueThreshold() / 4;
    if (prev_round_min_rtt_ != FlowDuration::max() && round_min_rtt_ + eps >= prev_round_min_rtt_)
      backoff_stuck_rounds_++;
    else
      backoff_stuck_rounds_ = 0;
    if (backoff_stuck_rounds_ >= kStuckRoundsToRebase) {
      min_rtt_ = round_min_rtt_;
      min_rtt_stamp_ = ev.now;
      backoff_ = false;
      elevated_rounds_ = 0;
      // Someone else keeps a queue here (a loss-based flow): yielding again
      // at once would only hand them the link.
      backoff_holdoff_ = kHoldoffRoundsAfterRebase;
    }
  }
  prev_round_min_rtt_ = have_round_rtt ? round_min_rtt_ : FlowDuration::max();

  if (mode_ == Mode::kStartup) checkFullPipe(ev);

  prev_round_rate_ = round_rate;
  round_max_rate_ = 0;
  round_app_limited_ = false;
  round_min_rtt_ = FlowDuration::max();
  round_lost_ = 0;
  round_delivered_ = 0;
  round_max_inflight_ = ev.inflight;
  loss_in_round_ = false;
  if (mode_ == Mode::kProbeBw) pacing_gain_ = cyclePacingGain();
}

void ModelController::checkFullPipe(const AckEvent& ev) {
  if (!filled_pipe_ && !ev.rate.app_limited && btlbw_ > 0) {
    if (btlbw_ >= full_bw_ * kFullBwGrowth) {
      full_bw_ = btlbw_;
      full_bw_count_ = 0;
    } else if (++full_bw_count_ >= kFullBwRounds) {
      filled_pipe_ = true;
    }
  }
  if (filled_pipe_) {
    mode_ = Mode::kDrain;
    pacing_gain_ = 1.0 / kHighGain;
    cwnd_gain_ = kHighGain;
    checkDrain(ev);
  }
}

void ModelController::checkDrain(const AckEvent& ev) {
  if (mode_ == Mode::kDrain && ev.inflight <= bdp(1.0)) enterProbeBw(ev.now);
}

void ModelController::enterProbeBw(FlowTime now) {
  mode_ = Mode::kProbeBw;
  cwnd_gain_ = kProbeBwCwndGain;
  // Start anywhere but the 0.75 phase (as BBR does), but deterministically.
  cycle_index_ = static_cast<int>((2 + params_.seed % (kCycleLength - 1)) % kCycleLength);
  cycle_stamp_ = now;
  pacing_gain_ = cyclePacingGain();
}

void ModelController::advanceCycle(const AckEvent& ev) {
  FlowDuration elapsed = ev.now - cycle_stamp_;
  bool full = elapsed > min_rtt_;
  double g = cyclePacingGain();
  bool advance;
  if (g > 1)  // probe until in-flight shows the extra, or loss says stop
    advance = (full && (loss_in_round_ || ev.inflight >= bdp(1.25))) || elapsed > 2 * min_rtt_;
  else if (g < 1)  // drain until the probe's extra is gone
    advance = full || ev.inflight <= bdp(1.0);
  else
    advance = full;
  if (advance) {
    cycle_index_ = (cycle_index_ + 1) % kCycleLength;
    cycle_stamp_ = ev.now;
  }
  pacing_gain_ = cyclePacingGain();
}

void ModelController::enterProbeRtt(FlowTime) {
  mode_ = Mode::kProbeRtt;
  pacing_gain_ = 1.0;
  cwnd_gain_ = 1.0;
  probe_rtt_done_set_ = false;
  probe_rtt_round_done_ = false;
  backoff_ = false;
  elevated_rounds_ = 0;
}

void ModelController::handleProbeRtt(const AckEvent& ev) {
  if (!probe_rtt_done_set_) {
    if (ev.inflight <= minWindow()) {
      probe_rtt_done_ = ev.now + params_.probe_rtt_duration;
      probe_rtt_done_set_ = true;
      probe_rtt_round_done_ = false;
    }
    return;
  }
  if (ev.round_start) probe_rtt_round_done_ = true;
  if (probe_rtt_round_done_ && ev.now >= probe_rtt_done_) exitProbeRtt(ev.now);
}

void ModelController::exitProbeRtt(FlowTime now) {
  min_rtt_stamp_ = now;
  if (filled_pipe_) {
    enterProbeBw(now);
  } else {
    mode_ = Mode::kStartup;
    pacing_gain_ = cwnd_gain_ = kHighGain;
  }
}

void ModelController::onTick(FlowTime now) {
  // With few chunks in flight acks may stop; time alone can end PROBE_RTT.
  if (mode_ == Mode::kProbeRtt && probe_rtt_done_set_ && now >= probe_rtt_done_ &&
      (probe_rtt_round_done_ || inflight_ == 0))
    exitProbeRtt(now);
}

BytesPerSecond ModelController::pacingRate() const {
  BytesPerSecond rate;
  // The initial window over one (guessed) round trip.
  FlowDuration rtt = srtt_ > FlowDuration::zero() ? srtt_ : std::chrono::milliseconds(1);
  BytesPerSecond initial = kHighGain * static_cast<double>(params_.initial_window) / toSeconds(rtt);
  if (btlbw_ <= 0) {
    rate = initial;
  } else if (mode_ == Mode::kStartup) {
    // As in Linux BBR, start-up never paces below its initial rate: the
    // first samples come from small (app-limited) messages and would
    // otherwise pace a long link at a few KB/s, starving its own samples.
    rate = std::max(initial, pacing_gain_ * bandwidth());
  } else if (backoff_) {
    // Below what the path delivered while queued (bw_lo_, set when the
    // back-off began), so the queue shrinks every round. A fixed target:
    // pacing below the last round's rate instead would compound, each
    // round's lower delivery lowering the next round's pace.
    rate = params_.backoff_gain * bandwidth();
  } else {
    rate = pacing_gain_ * bandwidth();
  }
  if (params_.rate > 0) rate = std::min(rate, params_.rate);
  return rate;
}

uint64_t ModelController::inflightCap() const {
  uint64_t cap;
  if (mode_ == Mode::kProbeRtt)
    cap = minWindow();
  else if (btlbw_ <= 0 || !min_rtt_valid_)
    cap = params_.initial_window;
  else
    cap = bdp(cwnd_gain_) + 2 * params_.chunk_bytes;  // allowance for ack clumps
  // As its pacing, start-up's cap never falls below the initial window: a
  // first sample from a small message (a few KB/s) made it 4 chunks.
  if (mode_ == Mode::kStartup) cap = std::max<uint64_t>(cap, params_.initial_window);
  cap = std::min(cap, loss_cap_);
  if (params_.window > 0) cap = std::min<uint64_t>(cap, params_.window);
  return std::max(cap, minWindow());
}

std::string_view ModelController::stateName() const {
  if (backoff_) return mode_ == Mode::kDrain ? "drain/backoff" : "probe_bw/backoff";
  switch (mode_) {
    case Mode::kStartup:
      return "startup";
    case Mode::kDrain:
      return "drain";
    case Mode::kProbeBw:
      return "probe_bw";
    case Mode::kProbeRtt:
      return "probe_rtt";
  }
  return "unknown";
}

std::string_view ModelController::limitingFactor() const {
  if (mode_ == Mode::kProbeRtt) return "probe_rtt: measuring the path's base RTT";
  if (backoff_) return "queueing delay: pacing below delivery rate to drain the bottleneck queue";
  if (loss_cap_ != kNoCap && btlbw_ > 0 && loss_cap_ < bdp(cwnd_gain_))
    return "congestion loss: in-flight cap reduced";
  if (params_.rate > 0 && pacing_gain_ * bandwidth() >= params_.rate)
    return "configured maximum rate";
  if (bw_lo_ > 0) return "recent delivery rate (a queue showed the bandwidth estimate was stale)";
  if (mode_ == Mode::kStartup) return "startup: probing for bandwidth";
  return "bottleneck bandwidth estimate";
}

}  // namespace farlink::flow
