// Sliding windows of outstanding isends/irecvs (perftest's tx-depth), the
// receive-side meter and the payload pattern used by --verify.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "farlink/channel.h"
#include "perf/control.h"

namespace farlink::perf {

using Clock = std::chrono::steady_clock;

// A verified window never holds more buffer memory than this: it narrows
// to the distinct slots (unverified windows use one slot, slotCount()).
inline constexpr size_t kWindowBytes = size_t{64} << 20;
// No completion for this long fails the test instead of hanging.
inline constexpr std::chrono::seconds kStallTimeout{60};

// Deterministic bytes derived from `seed` (message index and direction).
void fillPattern(uint8_t* data, size_t size, uint64_t seed);
bool checkPattern(const uint8_t* data, size_t size, uint64_t seed);

// Page-aligned buffers, touched once so page faults stay out of the timing.
class SlotBuffers {
 public:
  SlotBuffers(size_t size, size_t count);
  uint8_t* slot(uint64_t index) { return slots_[index % slots_.size()].get(); }
  size_t count() const { return slots_.size(); }

 private:
  struct Free {
    void operator()(uint8_t* p) const noexcept;
  };
  std::vector<std::unique_ptr<uint8_t, Free>> slots_;
};
size_t slotCount(size_t size, unsigned depth, bool verify);

// Receive-side rate, timed from the start signal (ACCEPT) to the last
// completion: conservative, it includes the round trip that starts the
// sender, but a burst of already-buffered messages cannot inflate it.
// Peak: the best rate over intervals of max(100 ms, run / 20) that ended
// before the sender said it was done, so the final drain of data the
// library had buffered does not count; never below the average.
class RxMeter {
 public:
  void start(Clock::time_point now) { start_ = last_ = now; }
  void record(uint64_t bytes, Clock::time_point now);
  void senderDone(Clock::time_point now) { sender_done_ = now; }
  void fill(RunReport* report) const;

 private:
  static constexpr size_t kMaxBuckets = 4096;
  static constexpr int64_t kMinIntervalNs = 100'000'000;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
  Clock::time_point sender_done_ = Clock::time_point::max();
  uint64_t messages_ = 0;
  uint64_t bytes_ = 0;
  int64_t bucket_ns_ = 1'000'000;  // doubles (pairs merged) past kMaxBuckets
  std::vector<uint64_t> buckets_;
};

// Detects a peer that stopped moving data.
class StallGuard {
 public:
  void progressed() { last_ = Clock::now(); }
  Status check(const Channel& ch, const char* what) const;

 private:
  Clock::time_point last_ = Clock::now();
};

// What both windows hold: the channel, the message shape, the buffers and
// the requests in flight. Destroying a window with requests still pending
// (error paths) aborts the channel so no request outlives its buffer.
class Window {
 public:
  Window(Channel& ch, uint64_t tag, size_t size, unsigned depth, bool verify, uint64_t seed);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

 protected:
  Channel& ch_;
  uint64_t tag_;
  size_t size_;
  unsigned depth_;
  bool verify_;
  uint64_t seed_;
  SlotBuffers buffers_;
  std::deque<Request> pending_;
};

class SendWindow : public Window {
 public:
  SendWindow(Channel& ch, uint64_t tag, size_t size, unsigned depth, bool verify, uint64_t seed);

  // Starts sends while fewer than `depth` are pending and fewer than `limit` started.
  Status post(uint64_t limit);
  // Waits up to `timeout` (0: just test) for the oldest send. True if one finished.
  Result<bool> reap(std::chrono::milliseconds timeout);
  uint64_t started() const { return started_; }
  size_t pending() const { return pending_.size(); }

 private:
  uint64_t started_ = 0;
};

class RecvWindow : public Window {
 public:
  using Window::Window;

  // Call when the start signal is sent or received (after allocation).
  void startClock() { meter_.start(Clock::now()); }
  // The sender's final count (from END); stops posting past it.
  void setExpected(uint64_t n) {
    expected_ = n;
    meter_.senderDone(Clock::now());
  }
  bool expectedKnown() const { return expected_ != kUnknown; }
  Status post();
  // Waits up to `timeout` (0: just test) for the oldest receive; checks size
  // and (with verify) the pattern, and meters it. True if one finished.
  Result<bool> reap(std::chrono::milliseconds timeout);
  bool complete() const { return expectedKnown() && completed_ == expected_; }
  // Receives posted beyond the expected count, i.e. fillers needed.
  uint64_t excess() const { return pending_.size(); }
  // Waits for the fillers that match the excess receives.
  Status drainFillers(std::chrono::milliseconds timeout);
  RunReport report() const;

 private:
  static constexpr uint64_t kUnknown = ~uint64_t{0};
  uint64_t posted_ = 0;
  uint64_t completed_ = 0;
  uint64_t expected_ = kUnknown;
  uint64_t verify_errors_ = 0;
  RxMeter meter_;
};

// Waits up to `timeout` for a window's oldest request, then collects whatever
// else already finished without blocking. Returns how many finished.
template <typename W>
Result<int> reapAll(W& w, std::chrono::milliseconds timeout) {
  int n = 0;
  for (;;) {
    Result<bool> r = w.reap(n == 0 ? timeout : std::chrono::milliseconds{0});
    if (!r) return r.status();
    if (!*r) return n;
    ++n;
  }
}

// Sends `count` 1-byte filler messages on `tag` (see control.h).
Status sendFillers(Channel& ch, uint64_t tag, uint64_t count, std::chrono::milliseconds timeout);

}  // namespace farlink::perf
