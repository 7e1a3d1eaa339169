// The model of one direction of a long link: blackout, a bottleneck that
// serializes packets at `rate` behind a tail-drop queue of `queue` bytes,
// random (and burst) loss on the line, then propagation delay with jitter.
// Pure logic: time is an argument in nanoseconds, no I/O, no clock. Not
// thread-safe; the forwarder thread of its direction owns it.
#pragma once

#include <cstdint>
#include <random>

#include "link_params.h"

namespace farlink::wanem {

// Per-direction counters. Every arriving packet is counted exactly once as
// forwarded (at release) or in one of the drop counters (or is still queued).
struct LinkCounters {
  uint64_t arrived_packets = 0, arrived_bytes = 0;
  uint64_t forwarded_packets = 0, forwarded_bytes = 0;
  uint64_t dropped_queue = 0;     // tail drop at the bottleneck queue
  uint64_t dropped_loss = 0;      // random or burst loss
  uint64_t dropped_blackout = 0;  // arrived during a blackout
  uint64_t dropped_buffer = 0;    // emulator out of packet buffers (it could not keep up)
  uint64_t resets = 0;            // connections killed by ctl reset (first RST sent this way)
  uint64_t reset_segments = 0;    // segments replaced by a RST, the first and any later ones
  int64_t lateness_max_ns = 0;    // how late a packet left versus its due time
  int64_t lateness_sum_ns = 0;
};

enum class Fate : uint8_t { kForward, kDropQueue, kDropLoss, kDropBlackout };

struct Admission {
  Fate fate = Fate::kForward;
  int64_t due_ns = 0;  // when to hand the packet to the far side (kForward only)
};

class LinkModel {
 public:
  LinkModel(const LinkParams& params, uint64_t seed);

  // New parameters take effect for packets arriving from now on; packets
  // already scheduled keep their due times.
  void setParams(const LinkParams& params) { params_ = params; }
  const LinkParams& params() const { return params_; }

  // Drop every packet that arrives before `until_ns`.
  void blackoutUntil(int64_t until_ns) { blackout_until_ns_ = until_ns; }

  // Decides the fate of a packet of `bytes` arriving at `now_ns`.
  Admission admit(uint32_t bytes, int64_t now_ns);
  // The forwarder handed a packet due at `due_ns` to the far side at `now_ns`.
  void released(uint32_t bytes, int64_t due_ns, int64_t now_ns);
  // The forwarder had no buffer for an arriving packet.
  void droppedForBuffer(uint32_t bytes);
  // The forwarder replaced a segment by a RST (the RST is admitted as a
  // packet); `first` when that killed its connection.
  void noteReset(bool first) {
    counters_.reset_segments++;
    if (first) counters_.resets++;
  }

  // Bytes waiting at (not yet serialized by) the bottleneck at `now_ns`.
  int64_t backlogBytes(int64_t now_ns) const;
  const LinkCounters& counters() const { return counters_; }

 private:
  int64_t jitterSample();
  bool lost();

  LinkParams params_;
  std::mt19937_64 rng_;
  LinkCounters counters_;
  int64_t busy_until_ns_ = 0;  // when the bottleneck finishes the last admitted packet
  int64_t last_due_ns_ = 0;    // keeps order when reordering is off
  int64_t blackout_until_ns_ = 0;
  bool ge_bad_ = false;
};

}  // namespace farlink::wanem
