#include "flow/rtt_estimator.h"

#include <algorithm>

namespace farlink::flow {

RttEstimator::RttEstimator(FlowDuration min_window) : min_(min_window), hist_(min_window) {}

void RttEstimator::addSample(FlowDuration rtt, FlowTime now) {
  if (rtt <= FlowDuration::zero()) return;
  latest_ = rtt;
  min_.update(rtt, now);
  hist_.add(rtt, now);
  if (samples_ == 0) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
  } else {
    // RFC 6298 §2.3: RTTVAR first (it uses the old SRTT).
    FlowDuration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
  }
  samples_++;
}

FlowDuration RttEstimator::queueingDelay() const {
  if (samples_ == 0) return FlowDuration::zero();
  return std::max(FlowDuration::zero(), srtt_ - minRtt());
}

}  // namespace farlink::flow
