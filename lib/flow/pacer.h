// Token-bucket pacer: spreads sends at a rate, allowing bursts of one
// quantum (max(64 KiB, 1 ms at the current rate)) so a fast sender is not
// woken per chunk yet never dumps more than ~1 ms of data into a queue at
// once. A chunk larger than the quantum waits for a full bucket and then
// leaves the bucket in debt, so the long-run rate still holds.
// Pure logic; not thread-safe.
#pragma once

#include <cstdint>

#include "flow/flow_time.h"

namespace farlink::flow {

class Pacer {
 public:
  static constexpr uint64_t kMinQuantum = 64 * 1024;

  // rate 0 = unpaced.
  explicit Pacer(BytesPerSecond rate = 0) { setRate(rate, FlowTime{}); }

  // Changes the rate; tokens earned so far at the old rate are kept.
  void setRate(BytesPerSecond rate, FlowTime now);
  BytesPerSecond rate() const { return rate_; }
  uint64_t quantum() const { return quantum_; }

  // How long until `bytes` may leave (zero: now).
  FlowDuration delayFor(uint64_t bytes, FlowTime now) const;
  // `bytes` left at `now` (call after delayFor said zero; sending early is
  // allowed and simply deepens the debt).
  void onSend(uint64_t bytes, FlowTime now);

 private:
  double tokensAt(FlowTime now) const;

  BytesPerSecond rate_ = 0;
  uint64_t quantum_ = kMinQuantum;
  double tokens_ = 0;  // may go negative (debt)
  FlowTime stamp_{};
  bool started_ = false;
};

}  // namespace farlink::flow
