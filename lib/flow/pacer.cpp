#include "flow/pacer.h"

#include <algorithm>
#include <cmath>

namespace farlink::flow {

double Pacer::tokensAt(FlowTime now) const {
  // Before the first send the bucket holds one quantum: a fresh flow may
  // burst that much, as after any short pause.
  if (!started_) return static_cast<double>(quantum_);
  double t = tokens_ + (now > stamp_ ? bytesIn(rate_, now - stamp_) : 0.0);
  return std::min(t, capacity());
}

void Pacer::setRate(BytesPerSecond rate, FlowTime now) {
  if (started_) {
    tokens_ = tokensAt(now);
    stamp_ = std::max(stamp_, now);
  }
  rate_ = std::max(0.0, rate);
  quantum_ = std::max<uint64_t>(
      kMinQuantum, static_cast<uint64_t>(bytesIn(rate_, std::chrono::milliseconds(1))));
  tokens_ = std::min(tokens_, capacity());
}

FlowDuration Pacer::delayFor(uint64_t bytes, FlowTime now) const {
  if (rate_ <= 0) return FlowDuration::zero();
  double need = static_cast<double>(std::min<uint64_t>(bytes, quantum_));
  double have = tokensAt(now);
  // Half a byte of slack absorbs floating-point rounding of the refill.
  if (have + 0.5 >= need) return FlowDuration::zero();
  // Round up so that waiting exactly this long always suffices.
  auto ns = std::ceil((need - have) / rate_ * 1e9);
  return FlowDuration(static_cast<FlowDuration::rep>(ns));
}

void Pacer::onSend(uint64_t bytes, FlowTime now) {
  tokens_ = tokensAt(now) - static_cast<double>(bytes);
  stamp_ = started_ ? std::max(stamp_, now) : now;
  started_ = true;
}

}  // namespace farlink::flow
