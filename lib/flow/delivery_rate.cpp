#include "flow/delivery_rate.h"

#include <algorithm>

namespace farlink::flow {

SendSnapshot DeliveryRateSampler::onSend(FlowTime now, uint64_t inflight) {
  // Nothing in flight: a new flight starts now, so the idle gap before it
  // is not counted in anyone's interval.
  if (inflight == 0) {
    first_sent_time_ = now;
    delivered_time_ = now;
  }
  return SendSnapshot{delivered_, delivered_time_, first_sent_time_, now, app_limited_until_ != 0};
}

RateSample DeliveryRateSampler::onAck(const SendSnapshot& snap, uint64_t bytes, FlowTime now,
                                      FlowDuration min_rtt) {
  delivered_ += bytes;
  if (app_limited_until_ != 0 && delivered_ > app_limited_until_) app_limited_until_ = 0;

  RateSample rs;
  rs.prior_delivered = snap.delivered;
  rs.app_limited = snap.app_limited;
  rs.delivered = delivered_ - snap.delivered;
  FlowDuration send_elapsed = snap.sent_time - snap.first_sent_time;
  FlowDuration ack_elapsed = now - snap.delivered_time;
  rs.interval = std::max(send_elapsed, ack_elapsed);
  // The next sample's send interval starts at this chunk's send time.
  first_sent_time_ = snap.sent_time;
  delivered_time_ = now;
  // An interval shorter than the minimum RTT means the acks came in a
  // clump; such a rate says nothing about the path (tcp_rate.c does the same).
  if (rs.interval <= FlowDuration::zero() || rs.interval < min_rtt) return rs;
  rs.valid = true;
  rs.rate = static_cast<double>(rs.delivered) / toSeconds(rs.interval);
  return rs;
}

void DeliveryRateSampler::onDelivered(uint64_t bytes, FlowTime now) {
  if (bytes == 0) return;
  delivered_ += bytes;
  delivered_time_ = now;
  if (app_limited_until_ != 0 && delivered_ > app_limited_until_) app_limited_until_ = 0;
}

void DeliveryRateSampler::markAppLimited(uint64_t inflight) {
  app_limited_until_ = std::max<uint64_t>(delivered_ + inflight, 1);
}

RateSample BandwidthEstimator::onAck(const SendSnapshot& snap, uint64_t bytes, FlowTime now,
                                     FlowDuration min_rtt) {
  RateSample rs = sampler_.onAck(snap, bytes, now, min_rtt);
  round_start_ = false;
  if (snap.delivered >= next_round_delivered_) {
    next_round_delivered_ = sampler_.delivered();
    rounds_++;
    round_start_ = true;
  }
  // App-limited samples only count when they beat the current estimate.
  if (rs.valid && (!rs.app_limited || rs.rate >= max_.best())) max_.update(rs.rate, rounds_);
  return rs;
}

}  // namespace farlink::flow
