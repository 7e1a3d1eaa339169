// Pacer: long-run rate, burst quantum, big chunks, rate changes.
#include "flow/pacer.h"

#include <gtest/gtest.h>

namespace farlink::flow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Pacer, UnpacedNeverWaits) {
  Pacer p;
  EXPECT_EQ(p.delayFor(1 << 30, FlowTime{}), FlowDuration::zero());
}

TEST(Pacer, QuantumIsOneMillisecondButAtLeast64KiB) {
  Pacer slow(1e6);
  EXPECT_EQ(slow.quantum(), 64u * 1024);
  Pacer fast(1.25e9);  // 10 Gb/s: 1 ms = 1.25 MB
  EXPECT_EQ(fast.quantum(), 1250000u);
}

TEST(Pacer, FreshBucketAllowsOneQuantumThenPaces) {
  Pacer p(1e7);  // 10 MB/s, quantum 64 KiB
  FlowTime t = FlowTime{} + seconds(1);
  EXPECT_EQ(p.delayFor(64 * 1024, t), FlowDuration::zero());
  p.onSend(64 * 1024, t);
  FlowDuration d = p.delayFor(10000, t);
  EXPECT_NEAR(toSeconds(d), 10000 / 1e7, 1e-9);
  EXPECT_EQ(p.delayFor(10000, t + d), FlowDuration::zero());
}

// Drive a sender that always sends as soon as allowed: the long-run rate
// equals the pacing rate, for chunks below and above the quantum.
// `late`: how long after the allowed moment the sender wakes (a timer's
// slack, a busy host).
double runRate(BytesPerSecond rate, uint64_t chunk, FlowDuration span,
               FlowDuration late = FlowDuration::zero()) {
  Pacer p(rate);
  FlowTime start = FlowTime{} + seconds(1), t = start;
  uint64_t sent = 0;
  while (t - start < span) {
    FlowDuration d = p.delayFor(chunk, t);
    if (d > FlowDuration::zero()) t += d + late;
    p.onSend(chunk, t);
    sent += chunk;
  }
  return static_cast<double>(sent) / toSeconds(t - start);
}

TEST(Pacer, LongRunRateMatches) {
  EXPECT_NEAR(runRate(1.25e8, 9000, seconds(2)) / 1.25e8, 1.0, 0.01);
  // 1 MiB chunks at 1 Gb/s: each waits for a full 125 kB bucket, then debt.
  EXPECT_NEAR(runRate(1.25e8, 1 << 20, seconds(2)) / 1.25e8, 1.0, 0.01);
}

// 128 KiB chunks at 1 Gb/s are just over the 125 kB quantum: with a
// one-quantum bucket each left when the bucket was full, so every late
// wake-up was lost (0.96 of the rate at 50 us late, 0.72 at 400 us).
TEST(Pacer, LateWakeupsUpToAQuantumLoseNoRate) {
  using std::chrono::microseconds;
  for (auto late : {microseconds(50), microseconds(400), microseconds(900)})
    EXPECT_NEAR(runRate(1.25e8, 128 * 1024, seconds(2), late) / 1.25e8, 1.0, 0.01)
        << late.count() << " us late";
  EXPECT_NEAR(runRate(1.25e8, 9000, seconds(2), microseconds(400)) / 1.25e8, 1.0, 0.01);
}

TEST(Pacer, IdleTimeDoesNotBankMoreThanTwoQuanta) {
  Pacer p(1e7);
  FlowTime t = FlowTime{} + seconds(1);
  p.onSend(1000, t);
  t += seconds(10);  // idle: would be 100 MB of credit without the cap
  uint64_t burst = 0;
  while (p.delayFor(1000, t) == FlowDuration::zero()) {
    p.onSend(1000, t);
    burst += 1000;
  }
  EXPECT_LE(burst, 2 * 64u * 1024 + 1000);
  EXPECT_GE(burst, 2 * 64u * 1024 - 1000);
}

TEST(Pacer, RateChangeAppliesToFutureTokens) {
  Pacer p(1e6);
  FlowTime t = FlowTime{} + seconds(1);
  p.onSend(64 * 1024, t);  // bucket empty
  p.setRate(1e8, t);
  EXPECT_NEAR(toSeconds(p.delayFor(100000, t)), 100000 / 1e8, 1e-8);
}

}  // namespace
}  // namespace farlink::flow
