// Percentiles of recent delay samples in fixed memory: a log-linear histogram
// (8 sub-buckets per power of two of microseconds, so a reported value is
// within 12.5% of the truth) kept in two generations. The current generation
// fills for one `period`, then becomes the previous one; a query merges both,
// so it always covers between one and two periods of samples.
// Not thread-safe; O(1) memory (about 5 KiB), O(buckets) per query.
#pragma once

#include <array>
#include <cstdint>

#include "flow/flow_time.h"

namespace farlink::flow {

class DelayHistogram {
 public:
  explicit DelayHistogram(FlowDuration period = std::chrono::seconds(10)) : period_(period) {}

  void add(FlowDuration sample, FlowTime now);
  // The q-quantile (0 < q <= 1) of samples from the last one to two periods:
  // the upper edge of the bucket holding it. Zero when there are none.
  FlowDuration quantile(double q, FlowTime now) const;
  uint64_t count(FlowTime now) const;

  static constexpr int kSubBits = 3;   // 8 sub-buckets per octave
  static constexpr int kOctaves = 40;  // 1 µs .. ~12 days
  static constexpr int kBuckets = kOctaves << kSubBits;
  // Bucket index of a delay in microseconds, and that bucket's upper edge.
  static int bucketOf(uint64_t micros);
  static uint64_t upperEdgeMicros(int bucket);

 private:
  using Counts = std::array<uint32_t, kBuckets>;
  void rotate(FlowTime now);
  // Whether each generation still lies within the query horizon at `now`.
  bool currentLive(FlowTime now) const;
  bool previousLive(FlowTime now) const;

  FlowDuration period_;
  FlowTime current_start_{};
  bool started_ = false;
  Counts current_{};
  Counts previous_{};
  uint64_t current_total_ = 0;
  uint64_t previous_total_ = 0;
};

}  // namespace farlink::flow
