// BBR-like model-based controller for long, shared, sometimes lossy paths.
//
// STARTUP (gain 2/ln2 until the bandwidth estimate stops growing by 25% for
// 3 rounds) → DRAIN (until in-flight ≤ BDP) → PROBE_BW (pacing gain cycles
// 1.25, 0.75, 1 ×6, one min-RTT each) → PROBE_RTT (when min RTT has not been
// refreshed for a window: in-flight drops to 4 chunks for 200 ms + 1 round).
// In-flight cap = cwnd gain × BtlBw × min RTT (+ 2 chunks for ack clumping).
//
// Two departures from BBRv1, both for farlink's job of not filling WAN
// buffers and not collapsing on random loss:
//   - Queueing-delay back-off: when the smallest RTT of a round exceeds
//     min RTT by max(2 ms, 0.1·min RTT) for two rounds in a row, bound the
//     model by the average delivery rate of those rounds (bw_lo) and pace at
//     0.75 × that until the queue drains. If it does not
//     drain within 3 rounds while we send below the delivery rate, the queue
//     is not ours (a route change or another flow's standing queue): the round's
//     minimum becomes the new min RTT, the back-off ends, and no new one
//     starts for 16 rounds (so a loss-based competitor cannot starve us).
//   - Loss response: loss reduces the cap (×0.7 per round, never below 4
//     chunks) only when the round's loss rate exceeds loss_threshold or the
//     loss comes with an elevated queue. The cap then grows back ×1.25 per
//     clean round.
#pragma once

#include <limits>

#include "flow/congestion_controller.h"

namespace farlink::flow {

class ModelController final : public CongestionController {
 public:
  explicit ModelController(const ControllerParams& params);

  void onSend(const SendEvent& ev) override;
  void onAck(const AckEvent& ev) override;
  void onLoss(const LossEvent& ev) override;
  void onTick(FlowTime now) override;
  BytesPerSecond pacingRate() const override;
  uint64_t inflightCap() const override;
  std::string_view stateName() const override;
  std::string_view limitingFactor() const override;

  enum class Mode { kStartup, kDrain, kProbeBw, kProbeRtt };
  Mode mode() const { return mode_; }
  bool backingOff() const { return backoff_; }
  bool filledPipe() const { return filled_pipe_; }
  FlowDuration minRtt() const { return min_rtt_; }
  // The bandwidth the model uses: the windowed max, bounded by bw_lo after
  // a back-off showed it to be stale.
  BytesPerSecond bandwidth() const;
  uint64_t lossCap() const { return loss_cap_; }
  // Gain-cycle phase in PROBE_BW (0 = the 1.25 probe, 1 = the 0.75 drain).
  int cycleIndex() const { return cycle_index_; }

  static constexpr double kHighGain = 2.885;  // 2/ln 2: doubles delivery each round
  static constexpr double kProbeBwCwndGain = 2.0;
  static constexpr int kCycleLength = 8;

 private:
  static constexpr uint64_t kNoCap = std::numeric_limits<uint64_t>::max();

  uint64_t bdp(double gain) const;
  uint64_t minWindow() const { return 4 * params_.chunk_bytes; }
  FlowDuration queueThreshold() const;
  void updateMinRtt(const AckEvent& ev);
  void onRoundEnd(const AckEvent& ev);
  void checkFullPipe(const AckEvent& ev);
  void checkDrain(const AckEvent& ev);
  void advanceCycle(const AckEvent& ev);
  void enterProbeBw(FlowTime now);
  void enterProbeRtt(FlowTime now);
  void handleProbeRtt(const AckEvent& ev);
  void exitProbeRtt(FlowTime now);
  double cyclePacingGain() const;

  ControllerParams params_;
  Mode mode_ = Mode::kStartup;
  double pacing_gain_ = kHighGain;
  double cwnd_gain_ = kHighGain;

  BytesPerSecond btlbw_ = 0;
  BytesPerSecond bw_lo_ = 0;  // 0: no bound
  BytesPerSecond round_max_rate_ = 0;
  BytesPerSecond prev_round_rate_ = 0;  // average delivery rate of the last round
  FlowTime round_start_time_{};
  bool round_started_ = false;
  bool round_app_limited_ = false;
  FlowDuration srtt_{0};
  FlowDuration min_rtt_{0};
  FlowTime min_rtt_stamp_{};
  bool min_rtt_valid_ = false;

  // STARTUP exit
  BytesPerSecond full_bw_ = 0;
  int full_bw_count_ = 0;
  bool filled_pipe_ = false;

  // PROBE_BW
  int cycle_index_ = 0;
  FlowTime cycle_stamp_{};
  uint64_t inflight_ = 0;
  bool loss_in_round_ = false;

  // PROBE_RTT
  FlowTime probe_rtt_done_{};
  bool probe_rtt_done_set_ = false;
  bool probe_rtt_round_done_ = false;

  // Queueing-delay back-off
  FlowDuration round_min_rtt_{FlowDuration::max()};
  FlowDuration prev_round_min_rtt_{FlowDuration::max()};
  int elevated_rounds_ = 0;
  bool backoff_ = false;
  int backoff_stuck_rounds_ = 0;
  int backoff_holdoff_ = 0;  // rounds before another back-off may start
  bool queue_elevated_ = false;

  // Loss response
  uint64_t round_lost_ = 0;
  uint64_t round_delivered_ = 0;
  uint64_t round_max_inflight_ = 0;
  uint64_t loss_cap_ = kNoCap;
};

}  // namespace farlink::flow
