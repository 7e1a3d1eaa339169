#include "flow/delay_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace farlink::flow {

int DelayHistogram::bucketOf(uint64_t micros) {
  // Values below 8 µs get one bucket each; above, the top 3 bits after the
  // leading one pick the sub-bucket within the octave.
  if (micros < (1u << kSubBits)) return static_cast<int>(micros);
  int octave = std::bit_width(micros) - 1;  // >= kSubBits
  int sub = static_cast<int>((micros >> (octave - kSubBits)) & ((1u << kSubBits) - 1));
  int b = ((octave - kSubBits + 1) << kSubBits) + sub;
  return std::min(b, kBuckets - 1);
}

uint64_t DelayHistogram::upperEdgeMicros(int bucket) {
  if (bucket < (1 << kSubBits)) return static_cast<uint64_t>(bucket) + 1;
  int octave = (bucket >> kSubBits) + kSubBits - 1;
  uint64_t sub = static_cast<uint64_t>(bucket & ((1 << kSubBits) - 1));
  return ((uint64_t{1} << kSubBits) + sub + 1) << (octave - kSubBits);
}

void DelayHistogram::rotate(FlowTime now) {
  if (!started_) {
    current_start_ = now;
    started_ = true;
    return;
  }
  if (now - current_start_ < period_) return;
  if (now - current_start_ < 2 * period_) {
    previous_ = current_;
    previous_total_ = current_total_;
    current_start_ += period_;
  } else {  // idle for more than a period: both generations are stale
    previous_.fill(0);
    previous_total_ = 0;
    current_start_ = now;
  }
  current_.fill(0);
  current_total_ = 0;
}

void DelayHistogram::add(FlowDuration sample, FlowTime now) {
  rotate(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(sample).count();
  current_[static_cast<size_t>(bucketOf(us < 0 ? 0 : static_cast<uint64_t>(us)))]++;
  current_total_++;
}

bool DelayHistogram::currentLive(FlowTime now) const {
  return started_ && now - current_start_ < 2 * period_;
}

bool DelayHistogram::previousLive(FlowTime now) const {
  return started_ && now - current_start_ < period_;
}

uint64_t DelayHistogram::count(FlowTime now) const {
  return (currentLive(now) ? current_total_ : 0) + (previousLive(now) ? previous_total_ : 0);
}

FlowDuration DelayHistogram::quantile(double q, FlowTime now) const {
  bool cur = currentLive(now), prev = previousLive(now);
  uint64_t total = count(now);
  if (total == 0) return FlowDuration::zero();
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample we want (1-based), rounded up: p99 of 100 samples is
  // the 99th smallest.
  auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    auto i = static_cast<size_t>(b);
    seen += (cur ? current_[i] : 0) + (prev ? previous_[i] : 0);
    if (seen >= rank) return std::chrono::microseconds(upperEdgeMicros(b));
  }
  return std::chrono::microseconds(upperEdgeMicros(kBuckets - 1));
}

}  // namespace farlink::flow
