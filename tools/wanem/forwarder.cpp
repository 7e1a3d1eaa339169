// The packet path. One thread per direction: read -> timestamp -> model ->
// release at the due time. Waiting uses ppoll() until shortly before the next
// due time and then spins, because timer wake-ups are tens of microseconds
// late while a 1500-byte packet at 1 Gb/s lasts 12 us.
#include "forwarder.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace farlink::wanem {
namespace {

constexpr int64_t kSpinNs = 50'000;         // spin instead of sleeping when this close
constexpr int64_t kIdleWaitNs = 50'000'000; // bounds how long stop() waits
constexpr int64_t kPublishNs = 1'000'000;

}  // namespace

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Direction::Direction(std::string name, int src_fd, int dst_fd, size_t header_bytes,
                     const LinkParams& params, uint64_t seed, PacketPool pool, ResetPlan* resets)
    : name_(std::move(name)),
      src_fd_(src_fd),
      dst_fd_(dst_fd),
      header_bytes_(header_bytes),
      model_(params, seed),
      pool_(std::move(pool)),
      queue_(pool_.slots()),
      resets_(resets) {
  published_.params = params;
}

Direction::~Direction() { stop(); }

void Direction::start() { thread_ = std::thread([this] { run(); }); }

void Direction::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Direction::setParams(const LinkParams& params) {
  std::lock_guard lock(control_mu_);
  pending_params_ = params;
  params_pending_.store(true, std::memory_order_release);
}

void Direction::blackout(int64_t duration_ns) {
  blackout_until_ns_.store(monotonicNs() + duration_ns, std::memory_order_release);
}

DirectionSnapshot Direction::snapshot() const {
  std::lock_guard lock(snapshot_mu_);
  DirectionSnapshot s = published_;
  s.blackout_left_ns = std::max<int64_t>(0, blackout_until_ns_.load() - monotonicNs());
  return s;
}

void Direction::applyControl(int64_t now) {
  (void)now;
  if (params_pending_.load(std::memory_order_acquire)) {
    std::lock_guard lock(control_mu_);
    model_.setParams(pending_params_);
    params_pending_.store(false, std::memory_order_relaxed);
  }
  model_.blackoutUntil(blackout_until_ns_.load(std::memory_order_acquire));
}

void Direction::publish(int64_t now) {
  std::lock_guard lock(snapshot_mu_);
  published_.params = model_.params();
  published_.counters = model_.counters();
  published_.backlog_bytes = model_.backlogBytes(now);
  published_.in_flight = queue_.size();
}

void Direction::releaseDue(int64_t& now) {
  while (!queue_.empty() && queue_.top().due_ns <= now) {
    Scheduled s = queue_.pop();
    // A TUN write hands the packet to the far namespace's stack and does not
    // block; a failure (e.g. the far device is going down) loses this packet only.
    ssize_t n;
    do {
      n = ::write(dst_fd_, pool_.data(s.slot), s.len + header_bytes_);
    } while (n < 0 && errno == EINTR);
    now = monotonicNs();
    pool_.give(s.slot);
    model_.released(s.len, s.due_ns, now);
  }
}

bool Direction::readOne(int64_t& now) {
  uint32_t slot = 0;
  bool have_slot = !pool_.exhausted();
  // Out of buffers: still read (into a scratch slot-sized buffer) so the
  // kernel queue drains, and count the packet as dropped by the emulator.
  static thread_local std::vector<uint8_t> scratch;
  uint8_t* buf;
  if (have_slot) {
    slot = pool_.peek();
    buf = pool_.data(slot);
  } else {
    scratch.resize(pool_.slotBytes());
    buf = scratch.data();
  }
  ssize_t n = ::read(src_fd_, buf, pool_.slotBytes());
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return false;
    std::lock_guard lock(snapshot_mu_);
    published_.error = fmt::format("{}: read from TUN device failed: {}", name_, std::strerror(errno));
    stop_.store(true);
    return false;
  }
  now = monotonicNs();
  if (static_cast<size_t>(n) <= header_bytes_) return true;  // nothing but a header: not a packet
  auto len = static_cast<uint32_t>(static_cast<size_t>(n) - header_bytes_);
  if (!have_slot) {
    model_.droppedForBuffer(len);
    return true;
  }
  // ctl reset: this segment becomes a RST that takes its place in line, so
  // it arrives right behind the segments sent before it.
  if (resets_ != nullptr && resets_->armed()) {
    ResetTake t = resets_->take(buf + header_bytes_, len);
    if (t != ResetTake::kPass) {
      std::memset(buf, 0, header_bytes_);  // no offloads: the RST's checksums are complete
      len = rewriteAsReset(buf + header_bytes_);
      model_.noteReset(t == ResetTake::kKill);
    }
  }
  Admission a = model_.admit(len, now);
  if (a.fate == Fate::kForward) {
    pool_.take();
    queue_.push(a.due_ns, slot, len);
  }
  return true;
}

void Direction::waitForWork(int64_t now) {
  int64_t wait = queue_.empty() ? kIdleWaitNs : queue_.top().due_ns - now;
  if (wait <= kSpinNs) return;  // spin: the caller loops straight back
  wait = std::min(wait - kSpinNs, kIdleWaitNs);
  publish(now);
  pollfd pfd{src_fd_, POLLIN, 0};
  timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
  ::ppoll(&pfd, 1, &ts, nullptr);
}

void Direction::run() {
  // Timer slack defaults to 50 us, which would make every sleep that late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  pthread_setname_np(pthread_self(), ("wanem-" + name_).substr(0, 15).c_str());
  int64_t now = monotonicNs();
  int64_t last_publish = now;
  while (!stop_.load(std::memory_order_relaxed)) {
    applyControl(now);
    now = monotonicNs();
    releaseDue(now);
    // One read, then due packets again: a burst of arrivals must not delay
    // releases by more than one packet's read time.
    bool got = readOne(now);
    if (now - last_publish > kPublishNs) {
      publish(now);
      last_publish = now;
    }
    if (!got) waitForWork(now);
  }
  publish(monotonicNs());
  // Packets still scheduled die with the link, as they would on a cut fiber.
  while (!queue_.empty()) pool_.give(queue_.pop().slot);
}

}  // namespace farlink::wanem
