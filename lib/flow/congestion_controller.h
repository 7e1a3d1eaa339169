// The congestion controller of one channel: told about sends, acks, losses
// and the passage of time, it answers how fast to pace (bytes/s) and how many
// bytes may be outstanding. Implementations: "fixed" (lab mode: a set rate
// and window) and "model" (BBR-like, with a queueing-delay back-off and a
// loss response that ignores random loss). Pure logic: no I/O, no clock,
// not thread-safe; the owner (ChannelFlow) serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "farlink/status.h"
#include "flow/delivery_rate.h"
#include "flow/flow_time.h"

namespace farlink::flow {

struct SendEvent {
  FlowTime now{};
  uint64_t bytes = 0;
  uint64_t inflight = 0;  // outstanding bytes including this send
};

struct AckEvent {
  FlowTime now{};
  uint64_t bytes = 0;
  uint64_t inflight = 0;  // outstanding bytes after this ack
  FlowDuration rtt{0};    // this chunk's RTT sample; zero if none
  FlowDuration srtt{0};   // channel estimates after this sample
  FlowDuration min_rtt{0};
  RateSample rate;               // this ack's delivery-rate sample
  BytesPerSecond bandwidth = 0;  // windowed max of delivery rate
  // Bytes newly known delivered since the previous ack: this chunk's rest
  // plus parts of outstanding chunks credited in between (ChannelFlow::onPartialAck).
  uint64_t delivered = 0;
  uint64_t round = 0;            // round-trip count
  bool round_start = false;      // this ack began a new round
};

struct LossEvent {
  FlowTime now{};
  uint64_t bytes = 0;     // bytes declared lost (or stuck on a dead lane)
  uint64_t inflight = 0;  // outstanding bytes after removing them
};

struct ControllerParams {
  // fixed: the rate and window used as is; model: hard ceilings (0 = none).
  BytesPerSecond rate = 0;
  uint64_t window = 0;
  // Typical chunk size: the unit of the minimum window and burst allowance.
  uint64_t chunk_bytes = 64 * 1024;
  // Window before the first delivery-rate sample. Long-haul links make a
  // TCP-sized initial window (15 KB) take many round trips to grow.
  uint64_t initial_window = 1024 * 1024;
  // Fraction of a round's bytes lost above which loss means congestion even
  // without rising delay (BBRv2's loss threshold, scaled for lossy WANs).
  double loss_threshold = 0.2;
  // Min-RTT window; PROBE_RTT runs when no sample has refreshed it for this long.
  FlowDuration min_rtt_window = std::chrono::seconds(10);
  FlowDuration probe_rtt_duration = std::chrono::milliseconds(200);
  // Queueing delay above max(floor, fraction·min_rtt) for a whole round,
  // twice in a row, triggers the back-off.
  FlowDuration queue_delay_floor = std::chrono::milliseconds(2);
  double queue_delay_fraction = 0.1;
  // Pacing gain (× recent delivery rate) while backing off.
  double backoff_gain = 0.75;
  // Picks the first PROBE_BW gain phase (deterministic per channel).
  uint32_t seed = 1;

  Status validate() const;
};

class CongestionController {
 public:
  virtual ~CongestionController() = default;
  virtual void onSend(const SendEvent& ev) = 0;
  virtual void onAck(const AckEvent& ev) = 0;
  virtual void onLoss(const LossEvent& ev) = 0;
  // Lets time-driven states (PROBE_RTT) advance when no acks arrive.
  virtual void onTick(FlowTime now) = 0;
  virtual BytesPerSecond pacingRate() const = 0;
  virtual uint64_t inflightCap() const = 0;
  // "fixed", "startup", "drain", "probe_bw", "probe_bw/backoff", "probe_rtt".
  virtual std::string_view stateName() const = 0;
  // Human-readable: what currently limits the rate ("queueing delay 7 ms",
  // "bandwidth estimate", "fixed rate", ...).
  virtual std::string_view limitingFactor() const = 0;
};

// "model" or "fixed"; kInvalidArgument naming the bad name or parameter.
Result<std::unique_ptr<CongestionController>> makeController(std::string_view name,
                                                             const ControllerParams& params);

}  // namespace farlink::flow
