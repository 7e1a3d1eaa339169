// One direction of the emulator: a thread that reads packets from one TUN
// device, runs them through the LinkModel and writes each to the other TUN
// device at its due time. Control calls (setParams, blackout, snapshot) are
// thread-safe and never block the packet path for long.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "link_model.h"
#include "packet_pool.h"
#include "release_queue.h"
#include "tcp_reset.h"

namespace farlink::wanem {

// CLOCK_MONOTONIC in nanoseconds.
int64_t monotonicNs();

struct DirectionSnapshot {
  LinkParams params;
  LinkCounters counters;
  int64_t backlog_bytes = 0;   // at the bottleneck
  uint64_t in_flight = 0;      // packets scheduled but not yet released
  int64_t blackout_left_ns = 0;
  std::string error;           // why the thread stopped early, if it did
};

class Direction {
 public:
  // Does not own the fds; they must outlive the Direction. Each packet on
  // them starts with `header_bytes` that are passed through but not modelled.
  // `resets` (shared by both directions, may be null) says which TCP
  // connections to reset; it must outlive the Direction.
  Direction(std::string name, int src_fd, int dst_fd, size_t header_bytes, const LinkParams& params,
            uint64_t seed, PacketPool pool, ResetPlan* resets = nullptr);
  ~Direction();
  Direction(const Direction&) = delete;
  Direction& operator=(const Direction&) = delete;

  void start();
  // Stops and joins the thread (within ~50 ms). Packets still scheduled are dropped.
  void stop();

  void setParams(const LinkParams& params);
  void blackout(int64_t duration_ns);
  DirectionSnapshot snapshot() const;
  const std::string& name() const { return name_; }

 private:
  void run();
  void applyControl(int64_t now);
  void releaseDue(int64_t& now);
  bool readOne(int64_t& now);
  void waitForWork(int64_t now);
  void publish(int64_t now);

  const std::string name_;
  const int src_fd_;
  const int dst_fd_;
  const size_t header_bytes_;
  LinkModel model_;
  PacketPool pool_;
  ReleaseQueue queue_;
  ResetPlan* const resets_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  // Control inputs, picked up by the thread at its next loop.
  std::mutex control_mu_;
  LinkParams pending_params_;
  std::atomic<bool> params_pending_{false};
  std::atomic<int64_t> blackout_until_ns_{0};

  // Published by the thread for snapshot().
  mutable std::mutex snapshot_mu_;
  DirectionSnapshot published_;
};

}  // namespace farlink::wanem
