#include "perf/windows.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace farlink::perf {
namespace {

// splitmix64: cheap, and every word of every message differs.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t patternWord(uint64_t seed, size_t index) { return mix(seed * 0x100000001B3ull + index); }

Status wrongSize(const Channel& ch, size_t got, size_t want) {
  return Status(StatusCode::kProtocolError, "received a " + std::to_string(got) +
                                                "-byte message from " + ch.peer() + ", expected " +
                                                std::to_string(want));
}

Result<bool> waitOrTest(Request& r, std::chrono::milliseconds timeout) {
  if (timeout.count() == 0) return r.test();
  Status s = r.wait(timeout);
  if (s.code() == StatusCode::kTimedOut) return false;
  return true;  // finished; the caller reads r.status()
}

}  // namespace

void fillPattern(uint8_t* data, size_t size, uint64_t seed) {
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const uint64_t w = patternWord(seed, i / 8);
    std::memcpy(data + i, &w, 8);
  }
  if (i < size) {
    const uint64_t w = patternWord(seed, i / 8);
    std::memcpy(data + i, &w, size - i);
  }
}

bool checkPattern(const uint8_t* data, size_t size, uint64_t seed) {
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const uint64_t w = patternWord(seed, i / 8);
    if (std::memcmp(data + i, &w, 8) != 0) return false;
  }
  if (i < size) {
    const uint64_t w = patternWord(seed, i / 8);
    if (std::memcmp(data + i, &w, size - i) != 0) return false;
  }
  return true;
}

void SlotBuffers::Free::operator()(uint8_t* p) const noexcept { std::free(p); }

SlotBuffers::SlotBuffers(size_t size, size_t count) {
  const size_t alloc = (std::max<size_t>(size, 1) + 4095) / 4096 * 4096;
  for (size_t i = 0; i < count; ++i) {
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(4096, alloc));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, alloc);
    slots_.emplace_back(p);
  }
}

size_t slotCount(size_t size, unsigned depth, bool verify) {
  // Unverified, every request of a window shares one buffer, as in iperf3
  // and perftest: the payload is never looked at, and a window of distinct
  // buffers (up to 64 MiB a side) would measure DRAM bandwidth, not the
  // transport, once it no longer fits in the cache.
  if (!verify) return 1;
  const size_t fit = std::max<size_t>(kWindowBytes / std::max<size_t>(size, 1), 2);
  return std::min<size_t>(depth, fit);
}

void RxMeter::record(uint64_t bytes, Clock::time_point now) {
  ++messages_;
  bytes_ += bytes;
  last_ = now;
  auto index = static_cast<size_t>((now - start_).count() / bucket_ns_);
  while (index >= kMaxBuckets) {
    for (size_t i = 0; i < buckets_.size(); ++i)
      buckets_[i / 2] = (i % 2 == 0 ? 0 : buckets_[i / 2]) + buckets_[i];
    buckets_.resize((buckets_.size() + 1) / 2);
    bucket_ns_ *= 2;
    index = static_cast<size_t>((now - start_).count() / bucket_ns_);
  }
  if (buckets_.size() <= index) buckets_.resize(index + 1, 0);
  buckets_[index] += bytes;
}

void RxMeter::fill(RunReport* r) const {
  r->messages = messages_;
  r->bytes = bytes_;
  r->elapsed_ns = static_cast<uint64_t>(std::chrono::nanoseconds(last_ - start_).count());
  const double avg_bps =
      r->elapsed_ns ? static_cast<double>(bytes_) * 8e9 / static_cast<double>(r->elapsed_ns) : 0;
  const int64_t elapsed = static_cast<int64_t>(r->elapsed_ns);
  const int64_t interval = std::max(kMinIntervalNs, elapsed / 20);
  const auto group = static_cast<size_t>((interval + bucket_ns_ - 1) / bucket_ns_);
  const int64_t done_ns = sender_done_ == Clock::time_point::max()
                              ? elapsed
                              : std::chrono::nanoseconds(sender_done_ - start_).count();
  double peak_bps = 0;
  for (size_t start = 0; start + group <= buckets_.size(); start += group) {
    if (static_cast<int64_t>(start + group) * bucket_ns_ > done_ns) break;
    uint64_t sum = 0;
    for (size_t i = start; i < start + group; ++i) sum += buckets_[i];
    const double seconds = static_cast<double>(group) * static_cast<double>(bucket_ns_) * 1e-9;
    peak_bps = std::max(peak_bps, static_cast<double>(sum) * 8 / seconds);
  }
  r->peak_bps = static_cast<uint64_t>(std::max(peak_bps, avg_bps));
}

Status StallGuard::check(const Channel& ch, const char* what) const {
  if (Clock::now() - last_ < kStallTimeout) return Status::ok();
  return Status(StatusCode::kTimedOut, std::string(what) + ": no progress with " + ch.peer() +
                                           " for " + std::to_string(kStallTimeout.count()) + " s");
}

Window::Window(Channel& ch, uint64_t tag, size_t size, unsigned depth, bool verify,
               uint64_t seed)
    : ch_(ch),
      tag_(tag),
      size_(size),
      depth_(depth),
      verify_(verify),
      seed_(seed),
      buffers_(size, slotCount(size, depth, verify)) {
  // Distinct slots per pending request keep verified payloads stable.
  if (verify_) depth_ = static_cast<unsigned>(buffers_.count());
}

Window::~Window() {
  if (!pending_.empty()) (void)ch_.close(std::chrono::milliseconds{0});
}

SendWindow::SendWindow(Channel& ch, uint64_t tag, size_t size, unsigned depth, bool verify,
                       uint64_t seed)
    : Window(ch, tag, size, depth, verify, seed) {
  // Without --verify the payload never changes: fill each slot once.
  if (!verify_) {
    for (size_t i = 0; i < buffers_.count(); ++i) fillPattern(buffers_.slot(i), size_, seed_);
  }
}

Status SendWindow::post(uint64_t limit) {
  while (pending_.size() < depth_ && started_ < limit) {
    uint8_t* buf = buffers_.slot(started_);
    if (verify_) fillPattern(buf, size_, seed_ + started_);
    Result<Request> r = ch_.isend(buf, size_, tag_);
    if (!r) return r.status();
    pending_.push_back(std::move(r).value());
    ++started_;
  }
  return Status::ok();
}

Result<bool> SendWindow::reap(std::chrono::milliseconds timeout) {
  if (pending_.empty()) return false;
  Result<bool> done = waitOrTest(pending_.front(), timeout);
  if (!done || !*done) return done;
  if (Status s = pending_.front().status(); !s) return s;
  pending_.pop_front();
  return true;
}

Status RecvWindow::post() {
  while (pending_.size() < depth_ && (!expectedKnown() || posted_ < expected_)) {
    Result<Request> r = ch_.irecv(buffers_.slot(posted_), size_, tag_);
    if (!r) return r.status();
    pending_.push_back(std::move(r).value());
    ++posted_;
  }
  return Status::ok();
}

Result<bool> RecvWindow::reap(std::chrono::milliseconds timeout) {
  if (pending_.empty() || complete()) return false;
  Request& head = pending_.front();
  Result<bool> done = waitOrTest(head, timeout);
  if (!done || !*done) return done;
  if (Status s = head.status(); !s) return s;
  const auto now = Clock::now();
  if (head.bytes() != size_) return wrongSize(ch_, head.bytes(), size_);
  if (verify_ && !checkPattern(buffers_.slot(completed_), size_, seed_ + completed_))
    ++verify_errors_;
  meter_.record(size_, now);
  pending_.pop_front();
  ++completed_;
  return true;
}

Status RecvWindow::drainFillers(std::chrono::milliseconds timeout) {
  while (!pending_.empty()) {
    Request& r = pending_.front();
    if (Status s = r.wait(timeout); !s) return s;
    if (r.bytes() != 1) return wrongSize(ch_, r.bytes(), 1);
    pending_.pop_front();
  }
  return Status::ok();
}

RunReport RecvWindow::report() const {
  RunReport r;
  meter_.fill(&r);
  r.excess = excess();
  r.verify_errors = verify_errors_;
  return r;
}

Status sendFillers(Channel& ch, uint64_t tag, uint64_t count, std::chrono::milliseconds timeout) {
  static const uint8_t kFiller = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (Status s = ch.send(&kFiller, 1, tag, timeout); !s) return s;
  }
  return Status::ok();
}

}  // namespace farlink::perf
