// Delivery-rate estimation as in BBR (Linux net/ipv4/tcp_rate.c): each chunk
// carries a snapshot of the connection's delivery state taken when it was
// sent; its ack yields "bytes delivered between that snapshot and now, over
// the longer of the send and ack intervals". The longer interval keeps ack
// compression from inflating a sample. A windowed max over ~10 round trips
// gives the bottleneck-bandwidth estimate. Samples taken while the sender had
// nothing to send are marked app-limited: they may raise the estimate but
// never lower it, so idle periods do not make the estimate decay.
// Pure logic; not thread-safe.
#pragma once

#include <cstdint>

#include "flow/flow_time.h"
#include "flow/windowed_filter.h"

namespace farlink::flow {

// Delivery state at the moment a chunk was sent; the datapath (or
// ChannelFlow) stores it with the chunk and hands it back on the ack.
struct SendSnapshot {
  uint64_t delivered = 0;      // bytes delivered before this send
  FlowTime delivered_time{};   // when `delivered` was last advanced
  FlowTime first_sent_time{};  // send time of the chunk that started this flight
  FlowTime sent_time{};
  bool app_limited = false;
};

struct RateSample {
  bool valid = false;  // false: interval too short to mean anything
  BytesPerSecond rate = 0;
  uint64_t delivered = 0;  // bytes delivered over the interval
  FlowDuration interval{0};
  uint64_t prior_delivered = 0;  // snapshot.delivered of the acked chunk
  bool app_limited = false;
};

class DeliveryRateSampler {
 public:
  // Call before handing a chunk to the lane; `inflight` is bytes outstanding
  // before this send.
  SendSnapshot onSend(FlowTime now, uint64_t inflight);
  // The chunk `snap` (of `bytes`) was acked at `now`. `min_rtt` rejects
  // samples over intervals shorter than one round trip (zero: accept all).
  RateSample onAck(const SendSnapshot& snap, uint64_t bytes, FlowTime now, FlowDuration min_rtt);
  // `bytes` of chunks still outstanding reached the peer (TCP: acked below a
  // hole or SACKed beyond it). They count as delivered now, so a chunk held
  // back by one lost segment does not make the path look slower than it is;
  // the chunk's own ack then passes only its remaining bytes.
  void onDelivered(uint64_t bytes, FlowTime now);
  // The sender ran out of data with `inflight` bytes outstanding: samples
  // until those are delivered are app-limited.
  void markAppLimited(uint64_t inflight);
  bool appLimited() const { return app_limited_until_ != 0; }
  uint64_t delivered() const { return delivered_; }

 private:
  uint64_t delivered_ = 0;
  FlowTime delivered_time_{};
  FlowTime first_sent_time_{};
  uint64_t app_limited_until_ = 0;  // 0: not app-limited
};

// Sampler + round counting + windowed max: the bottleneck-bandwidth estimate
// of one lane or one channel.
class BandwidthEstimator {
 public:
  explicit BandwidthEstimator(uint64_t window_rounds = 10) : max_(window_rounds) {}

  SendSnapshot onSend(FlowTime now, uint64_t inflight) { return sampler_.onSend(now, inflight); }
  // Returns the sample; also updates rounds and the max filter.
  RateSample onAck(const SendSnapshot& snap, uint64_t bytes, FlowTime now, FlowDuration min_rtt);
  void onDelivered(uint64_t bytes, FlowTime now) { sampler_.onDelivered(bytes, now); }
  void markAppLimited(uint64_t inflight) { sampler_.markAppLimited(inflight); }

  BytesPerSecond bandwidth() const { return max_.best(); }
  bool hasEstimate() const { return max_.valid(); }
  // Round trips counted as in BBR: a round ends when a chunk sent after the
  // previous round ended is acked.
  uint64_t rounds() const { return rounds_; }
  bool roundStarted() const { return round_start_; }
  uint64_t delivered() const { return sampler_.delivered(); }
  bool appLimited() const { return sampler_.appLimited(); }

 private:
  DeliveryRateSampler sampler_;
  WindowedMax<BytesPerSecond, uint64_t, uint64_t> max_;
  uint64_t rounds_ = 0;
  uint64_t next_round_delivered_ = 0;
  bool round_start_ = false;
};

}  // namespace farlink::flow
