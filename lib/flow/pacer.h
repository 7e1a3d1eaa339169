// Token-bucket pacer: spreads sends at a rate in steps of at most one
// quantum (max(64 KiB, 1 ms at the current rate)), so a fast sender is not
// woken per chunk. A send needs at most one quantum of tokens; a chunk
// larger than that leaves the bucket in debt, so the long-run rate holds.
// The bucket holds two quanta: a sender woken up to a quantum late (timer
// slack, a busy host) loses none of the tokens it earned meanwhile. With a
// one-quantum bucket a 128 KiB chunk at 1 Gb/s left exactly when the bucket
// was full, and every late wake-up was rate lost: 0.85-0.88 of the pacing
// rate on farlink-wanem. Idle time banks at most two quanta (~2 ms).
// Pure logic; not thread-safe.
#pragma once

#include <cstdint>

#include "flow/flow_time.h"

namespace farlink::flow {

class Pacer {
 public:
  static constexpr uint64_t kMinQuantum = 64 * 1024;
  static constexpr int kBucketQuanta = 2;

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
  double capacity() const { return static_cast<double>(kBucketQuanta * quantum_); }

  BytesPerSecond rate_ = 0;
  uint64_t quantum_ = kMinQuantum;
  double tokens_ = 0;  // may go negative (debt)
  FlowTime stamp_{};
  bool started_ = false;
};

}  // namespace farlink::flow
