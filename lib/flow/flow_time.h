// Vocabulary shared by lib/flow: time is always passed in (never read from
// a clock here), rates are bytes per second, lanes and chunks are plain ids.
#pragma once

#include <chrono>
#include <cstdint>

namespace farlink::flow {

using FlowClock = std::chrono::steady_clock;
using FlowTime = FlowClock::time_point;
using FlowDuration = std::chrono::nanoseconds;

// Bytes per second. A double: rates span 1e3..1e11 and are only ever scaled.
using BytesPerSecond = double;

using LaneId = uint32_t;
using ChunkId = uint64_t;

// Small (latency-critical) messages are scheduled before bulk chunks and are
// never held back by pacing behind bulk data.
enum class Priority : uint8_t { kBulk = 0, kSmall = 1 };

inline double toSeconds(FlowDuration d) { return std::chrono::duration<double>(d).count(); }

inline FlowDuration fromSeconds(double s) {
  return std::chrono::duration_cast<FlowDuration>(std::chrono::duration<double>(s));
}

// Bytes that `rate` moves in `d`.
inline double bytesIn(BytesPerSecond rate, FlowDuration d) { return rate * toSeconds(d); }

// Gb/s for human-readable strings.
inline double toGbps(BytesPerSecond rate) { return rate * 8.0 / 1e9; }

}  // namespace farlink::flow
