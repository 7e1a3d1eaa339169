// Round-trip time of one lane or of a whole channel, from samples the
// datapath measures (send → ack/completion):
//   - min RTT over a sliding window (default 10 s), so a route change that
//     lengthens the path is noticed within one window;
//   - smoothed RTT and variance as in RFC 6298 (gains 1/8 and 1/4), and the
//     retransmission-style timeout srtt + 4·rttvar;
//   - p99 of recent samples (DelayHistogram, fixed memory);
//   - queueing delay = srtt − min RTT: how much of the RTT is buffers.
// Pure logic; not thread-safe.
#pragma once

#include "flow/delay_histogram.h"
#include "flow/flow_time.h"
#include "flow/windowed_filter.h"

namespace farlink::flow {

class RttEstimator {
 public:
  explicit RttEstimator(FlowDuration min_window = std::chrono::seconds(10));

  // A new sample; non-positive samples are ignored (clock steps, bogus acks).
  void addSample(FlowDuration rtt, FlowTime now);
  bool hasSamples() const { return samples_ > 0; }
  uint64_t samples() const { return samples_; }

  FlowDuration minRtt() const { return min_.best(); }
  FlowTime minRttStamp() const { return min_.bestKey(); }
  FlowDuration srtt() const { return srtt_; }
  FlowDuration rttvar() const { return rttvar_; }
  FlowDuration latest() const { return latest_; }
  // srtt + 4·rttvar (RFC 6298 without its 1 s floor: long-haul paths need
  // sub-second reactions; callers clamp to their own floor).
  FlowDuration rto() const { return srtt_ + 4 * rttvar_; }
  FlowDuration p99(FlowTime now) const { return hist_.quantile(0.99, now); }
  FlowDuration quantile(double q, FlowTime now) const { return hist_.quantile(q, now); }
  // srtt − min RTT, never negative.
  FlowDuration queueingDelay() const;

  // Route change known from elsewhere (e.g. a lane reconnected): restart the
  // min RTT window from `rtt`.
  void resetMin(FlowDuration rtt, FlowTime now) { min_.reset(rtt, now); }

 private:
  WindowedMin<FlowDuration, FlowTime, FlowDuration> min_;
  DelayHistogram hist_;
  FlowDuration srtt_{0};
  FlowDuration rttvar_{0};
  FlowDuration latest_{0};
  uint64_t samples_ = 0;
};

}  // namespace farlink::flow
