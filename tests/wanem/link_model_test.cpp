// The link model with injected time: every property the emulator promises,
// checked without a clock or a device.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "link_model.h"
#include "release_queue.h"

namespace farlink::wanem {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kUs = 1'000;

TEST(LinkModel, DelayOnlyAddsTheDelay) {
  LinkParams p;
  p.delay_ns = 15 * kMs;
  LinkModel m(p, 1);
  for (int64_t t : {int64_t{0}, 3 * kUs, 7 * kMs}) {
    Admission a = m.admit(1500, t);
    ASSERT_EQ(a.fate, Fate::kForward);
    EXPECT_EQ(a.due_ns, t + 15 * kMs);
  }
  EXPECT_EQ(m.counters().arrived_packets, 3u);
}

TEST(LinkModel, RateSerializesBackToBackPackets) {
  LinkParams p;
  p.rate_bps = 8e6;  // one byte per microsecond
  p.delay_ns = 10 * kMs;
  p.queue_bytes = 0;  // unlimited
  LinkModel m(p, 1);
  // Three packets at once leave the bottleneck 1 ms apart.
  EXPECT_EQ(m.admit(1000, 0).due_ns, 1 * kMs + 10 * kMs);
  EXPECT_EQ(m.admit(1000, 0).due_ns, 2 * kMs + 10 * kMs);
  EXPECT_EQ(m.admit(1000, 0).due_ns, 3 * kMs + 10 * kMs);
  EXPECT_EQ(m.backlogBytes(0), 3000);
  EXPECT_EQ(m.backlogBytes(2 * kMs), 1000);
  // After the bottleneck went idle a packet waits only for itself.
  EXPECT_EQ(m.admit(500, 20 * kMs).due_ns, 20 * kMs + 500 * kUs + 10 * kMs);
}

TEST(LinkModel, TailDropAtTheByteLimit) {
  LinkParams p;
  p.rate_bps = 8e6;
  p.queue_bytes = 3000;
  LinkModel m(p, 1);
  EXPECT_EQ(m.admit(1000, 0).fate, Fate::kForward);
  EXPECT_EQ(m.admit(1000, 0).fate, Fate::kForward);
  EXPECT_EQ(m.admit(1000, 0).fate, Fate::kForward);  // exactly at the limit
  EXPECT_EQ(m.admit(1, 0).fate, Fate::kDropQueue);
  EXPECT_EQ(m.admit(1000, 0).fate, Fate::kDropQueue);
  EXPECT_EQ(m.counters().dropped_queue, 2u);
  // One packet time later there is room for exactly one more.
  EXPECT_EQ(m.admit(1000, 1 * kMs).fate, Fate::kForward);
  EXPECT_EQ(m.admit(1000, 1 * kMs).fate, Fate::kDropQueue);
}

TEST(LinkModel, DefaultQueueIsOneBdpWithAFloor) {
  LinkParams p;
  EXPECT_EQ(p.queueLimit(), 0);  // no rate: no queue limit
  p.rate_bps = 1e9;
  p.delay_ns = 15 * kMs;
  EXPECT_EQ(p.queueLimit(), 3'750'000);  // 1 Gbit/s x 30 ms
  p.delay_ns = 0;
  EXPECT_EQ(p.queueLimit(), 64 * 1024);
  p.queue_bytes = 1000;
  EXPECT_EQ(p.queueLimit(), 1000);
}

TEST(LinkModel, RandomLossRateWithinBounds) {
  LinkParams p;
  p.loss = 0.05;
  LinkModel m(p, 42);
  constexpr int kN = 200'000;
  for (int i = 0; i < kN; ++i) (void)m.admit(100, i * kUs);
  double rate = static_cast<double>(m.counters().dropped_loss) / kN;
  // 5% +- 0.3% is more than 6 standard deviations (0.049%) wide.
  EXPECT_NEAR(rate, 0.05, 0.003);
}

TEST(LinkModel, NoLossAndTotalLoss) {
  LinkParams p;
  LinkModel none(p, 7);
  p.loss = 1.0;
  LinkModel all(p, 7);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(none.admit(100, i).fate, Fate::kForward);
    EXPECT_EQ(all.admit(100, i).fate, Fate::kDropLoss);
  }
}

TEST(LinkModel, GilbertElliottLossComesInBursts) {
  LinkParams p;
  p.ge.p = 0.01;
  p.ge.r = 0.25;  // mean burst 4 packets, stationary bad share 0.01/0.26
  LinkModel m(p, 3);
  constexpr int kN = 400'000;
  int bursts = 0;
  bool prev_lost = false;
  for (int i = 0; i < kN; ++i) {
    bool lost = m.admit(100, i * kUs).fate == Fate::kDropLoss;
    if (lost && !prev_lost) ++bursts;
    prev_lost = lost;
  }
  double loss = static_cast<double>(m.counters().dropped_loss) / kN;
  EXPECT_NEAR(loss, 0.01 / 0.26, 0.004);
  double mean_burst = static_cast<double>(m.counters().dropped_loss) / bursts;
  EXPECT_GT(mean_burst, 3.5);
  EXPECT_LT(mean_burst, 4.5);
}

TEST(LinkModel, LossStillUsesTheBottleneck) {
  LinkParams p;
  p.rate_bps = 8e6;
  p.queue_bytes = 0;
  p.loss = 1.0;
  LinkModel m(p, 1);
  (void)m.admit(1000, 0);
  EXPECT_EQ(m.backlogBytes(0), 1000);
}

TEST(LinkModel, JitterWithoutReorderKeepsOrder) {
  LinkParams p;
  p.delay_ns = 10 * kMs;
  p.jitter_ns = 2 * kMs;
  LinkModel m(p, 5);
  int64_t last = 0;
  int changed = 0;
  for (int i = 0; i < 10'000; ++i) {
    int64_t t = i * 100 * kUs;
    Admission a = m.admit(1500, t);
    ASSERT_GE(a.due_ns, last);
    ASSERT_GE(a.due_ns, t);
    if (a.due_ns != t + 10 * kMs) ++changed;
    last = a.due_ns;
  }
  EXPECT_GT(changed, 9000);  // jitter did move nearly every packet
}

TEST(LinkModel, JitterWithReorderReordersAroundTheDelay) {
  LinkParams p;
  p.delay_ns = 10 * kMs;
  p.jitter_ns = 2 * kMs;
  p.jitter_dist = JitterDist::kUniform;
  p.reorder = true;
  LinkModel m(p, 5);
  int64_t last = 0;
  int inversions = 0;
  double sum = 0;
  constexpr int kN = 10'000;
  for (int i = 0; i < kN; ++i) {
    int64_t t = i * 100 * kUs;
    Admission a = m.admit(1500, t);
    int64_t extra = a.due_ns - t;
    ASSERT_GE(extra, 8 * kMs);   // uniform: within delay +- jitter
    ASSERT_LE(extra, 12 * kMs);
    sum += static_cast<double>(extra);
    if (a.due_ns < last) ++inversions;
    last = a.due_ns;
  }
  EXPECT_GT(inversions, kN / 10);
  EXPECT_NEAR(sum / kN, 10.0 * kMs, 0.1 * kMs);
}

TEST(LinkModel, NormalJitterHasTheRequestedSpread) {
  LinkParams p;
  p.delay_ns = 50 * kMs;
  p.jitter_ns = 1 * kMs;
  p.reorder = true;
  LinkModel m(p, 9);
  double sum = 0, sq = 0;
  constexpr int kN = 20'000;
  for (int i = 0; i < kN; ++i) {
    double d = static_cast<double>(m.admit(100, 0).due_ns - 50 * kMs);
    sum += d;
    sq += d * d;
  }
  double mean = sum / kN;
  EXPECT_NEAR(mean, 0.0, 0.05 * kMs);
  EXPECT_NEAR(std::sqrt(sq / kN - mean * mean), 1.0 * kMs, 0.05 * kMs);
}

TEST(LinkModel, BlackoutDropsOnlyWhileItLasts) {
  LinkParams p;
  p.delay_ns = 1 * kMs;
  LinkModel m(p, 1);
  m.blackoutUntil(100 * kMs);
  EXPECT_EQ(m.admit(100, 0).fate, Fate::kDropBlackout);
  EXPECT_EQ(m.admit(100, 100 * kMs - 1).fate, Fate::kDropBlackout);
  EXPECT_EQ(m.admit(100, 100 * kMs).fate, Fate::kForward);
  EXPECT_EQ(m.counters().dropped_blackout, 2u);
  EXPECT_EQ(m.counters().arrived_packets, 3u);
}

TEST(LinkModel, NewParamsApplyToNewPackets) {
  LinkParams p;
  p.delay_ns = 10 * kMs;
  LinkModel m(p, 1);
  EXPECT_EQ(m.admit(100, 0).due_ns, 10 * kMs);
  p.delay_ns = 30 * kMs;
  m.setParams(p);
  EXPECT_EQ(m.admit(100, 1 * kMs).due_ns, 31 * kMs);
}

TEST(LinkModel, LatenessCounters) {
  LinkModel m(LinkParams{}, 1);
  m.released(100, 1000, 1000);
  m.released(200, 1000, 1500);
  m.released(300, 2000, 1900);  // early counts as 0
  const auto& c = m.counters();
  EXPECT_EQ(c.forwarded_packets, 3u);
  EXPECT_EQ(c.forwarded_bytes, 600u);
  EXPECT_EQ(c.lateness_max_ns, 500);
  EXPECT_EQ(c.lateness_sum_ns, 500);
  m.droppedForBuffer(100);
  EXPECT_EQ(c.dropped_buffer, 1u);
}

TEST(ReleaseQueue, EarliestFirstAndFifoOnTies) {
  ReleaseQueue q(16);
  q.push(30, 0, 1);
  q.push(10, 1, 1);
  q.push(20, 2, 1);
  q.push(10, 3, 1);
  std::vector<uint32_t> order;
  while (!q.empty()) order.push_back(q.pop().slot);
  EXPECT_EQ(order, (std::vector<uint32_t>{1, 3, 2, 0}));
}

}  // namespace
}  // namespace farlink::wanem
