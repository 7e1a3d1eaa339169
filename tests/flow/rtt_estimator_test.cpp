// RttEstimator and DelayHistogram on synthetic RTT traces.
#include "flow/rtt_estimator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace farlink::flow {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

FlowTime t0() { return FlowTime{} + seconds(100); }

TEST(RttEstimator, FirstSampleSeedsSrttAndVar) {
  RttEstimator r;
  EXPECT_FALSE(r.hasSamples());
  EXPECT_EQ(r.queueingDelay(), FlowDuration::zero());
  r.addSample(milliseconds(40), t0());
  EXPECT_EQ(r.srtt(), milliseconds(40));
  EXPECT_EQ(r.rttvar(), milliseconds(20));
  EXPECT_EQ(r.minRtt(), milliseconds(40));
  EXPECT_EQ(r.rto(), milliseconds(120));
}

TEST(RttEstimator, Rfc6298Update) {
  RttEstimator r;
  r.addSample(milliseconds(40), t0());
  r.addSample(milliseconds(48), t0() + milliseconds(40));
  // rttvar = 3/4·20 + 1/4·|40−48| = 17; srtt = 7/8·40 + 1/8·48 = 41.
  EXPECT_EQ(r.rttvar(), milliseconds(17));
  EXPECT_EQ(r.srtt(), milliseconds(41));
}

TEST(RttEstimator, IgnoresNonPositiveSamples) {
  RttEstimator r;
  r.addSample(FlowDuration::zero(), t0());
  r.addSample(-milliseconds(3), t0());
  EXPECT_FALSE(r.hasSamples());
}

TEST(RttEstimator, QueueingDelayIsSrttAboveMin) {
  RttEstimator r;
  FlowTime t = t0();
  for (int i = 0; i < 50; ++i, t += milliseconds(1)) r.addSample(milliseconds(30), t);
  EXPECT_EQ(r.queueingDelay(), FlowDuration::zero());
  // A queue builds: RTT rises to 45 ms; srtt converges there, min stays 30.
  for (int i = 0; i < 200; ++i, t += milliseconds(1)) r.addSample(milliseconds(45), t);
  EXPECT_EQ(r.minRtt(), milliseconds(30));
  EXPECT_NEAR(toSeconds(r.queueingDelay()), 0.015, 0.0002);
}

TEST(RttEstimator, MinRttFollowsRouteChangeAfterWindow) {
  RttEstimator r(seconds(10));
  FlowTime t = t0();
  for (int i = 0; i < 100; ++i, t += milliseconds(50)) r.addSample(milliseconds(20), t);  // 5 s
  for (int i = 0; i < 300; ++i, t += milliseconds(50)) {  // then 15 s at 35 ms
    r.addSample(milliseconds(35), t);
    if (t - (t0() + seconds(5)) < seconds(4)) {
      EXPECT_EQ(r.minRtt(), milliseconds(20));
    }
  }
  EXPECT_EQ(r.minRtt(), milliseconds(35));
  EXPECT_EQ(r.queueingDelay(), FlowDuration::zero());
}

TEST(DelayHistogram, BucketsCoverEveryValueWithBoundedError) {
  for (uint64_t us :
       {0ull, 1ull, 7ull, 8ull, 9ull, 15ull, 16ull, 17ull, 1000ull, 30000ull, 123456789ull}) {
    int b = DelayHistogram::bucketOf(us);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, DelayHistogram::kBuckets);
    uint64_t hi = DelayHistogram::upperEdgeMicros(b);
    EXPECT_GT(hi, us);
    EXPECT_LE(static_cast<double>(hi), static_cast<double>(us) * 1.125 + 1.0) << us;
    if (b > 0) {
      EXPECT_LE(DelayHistogram::upperEdgeMicros(b - 1), us) << us;
    }
  }
  // Monotone: larger values never land in lower buckets.
  int prev = 0;
  for (uint64_t us = 0; us < 200000; us += 7) {
    int b = DelayHistogram::bucketOf(us);
    ASSERT_GE(b, prev);
    prev = b;
  }
}

TEST(DelayHistogram, P99MatchesSortedTraceWithin12Percent) {
  DelayHistogram h(seconds(10));
  std::mt19937 rng(7);
  std::vector<double> v;
  FlowTime t = t0();
  for (int i = 0; i < 10000; ++i, t += microseconds(500)) {
    // Mostly 30 ms with a tail up to 80 ms.
    double ms = 30 + (rng() % 100 == 0 ? static_cast<double>(rng() % 50) : (rng() % 1000) / 500.0);
    v.push_back(ms);
    h.add(fromSeconds(ms / 1e3), t);
  }
  std::sort(v.begin(), v.end());
  double truth = v[static_cast<size_t>(0.99 * static_cast<double>(v.size())) - 1];
  double got = toSeconds(h.quantile(0.99, t)) * 1e3;
  EXPECT_GE(got, truth);
  EXPECT_LE(got, truth * 1.125 + 0.001);
  EXPECT_EQ(h.count(t), 10000u);
}

TEST(DelayHistogram, OldSamplesAgeOut) {
  DelayHistogram h(seconds(1));
  FlowTime t = t0();
  for (int i = 0; i < 100; ++i) h.add(milliseconds(500), t);
  t += milliseconds(1500);
  for (int i = 0; i < 100; ++i) h.add(milliseconds(10), t);
  // The 500 ms samples are in the previous generation: still counted.
  EXPECT_EQ(h.count(t), 200u);
  EXPECT_GE(h.quantile(0.99, t), milliseconds(500));
  t += milliseconds(1000);
  h.add(milliseconds(10), t);
  EXPECT_EQ(h.count(t), 101u);
  EXPECT_LT(h.quantile(0.99, t), milliseconds(12));
  // Idle for long: everything is stale.
  EXPECT_EQ(h.count(t + seconds(5)), 0u);
  EXPECT_EQ(h.quantile(0.99, t + seconds(5)), FlowDuration::zero());
}

}  // namespace
}  // namespace farlink::flow
