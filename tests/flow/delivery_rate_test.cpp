// Delivery-rate sampling on synthetic send/ack traces.
#include "flow/delivery_rate.h"

#include <gtest/gtest.h>

#include <deque>

namespace farlink::flow {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr uint64_t kPkt = 10000;

// A sender keeping `window` bytes in flight over a path of `rate` and
// `rtt`: each ack arrives one serialisation time after the previous one.
struct Trace {
  BandwidthEstimator est;
  std::deque<SendSnapshot> flight;
  FlowTime now{};
  uint64_t inflight = 0;

  void send() {
    flight.push_back(est.onSend(now, inflight));
    inflight += kPkt;
  }
  RateSample ack(FlowDuration min_rtt) {
    SendSnapshot s = flight.front();
    flight.pop_front();
    inflight -= kPkt;
    return est.onAck(s, kPkt, now, min_rtt);
  }
};

TEST(DeliveryRate, MeasuresBottleneckRateWhenWindowExceedsBdp) {
  // 100 MB/s, 10 ms: BDP 1 MB = 100 packets; keep 150 in flight.
  Trace tr;
  const FlowDuration ser = microseconds(100);  // 10 kB at 100 MB/s
  const FlowDuration rtt = milliseconds(10);
  for (int i = 0; i < 150; ++i) tr.send();
  // Acks then come one per serialisation time, starting one RTT in.
  tr.now += rtt;
  RateSample last;
  for (int i = 0; i < 2000; ++i) {
    last = tr.ack(rtt);
    tr.send();
    tr.now += ser;
  }
  ASSERT_TRUE(last.valid);
  EXPECT_NEAR(last.rate / 1e8, 1.0, 0.02);
  EXPECT_NEAR(tr.est.bandwidth() / 1e8, 1.0, 0.02);
  EXPECT_GT(tr.est.rounds(), 10u);
}

TEST(DeliveryRate, AckCompressionDoesNotInflateRate) {
  // Ten packets sent 1 ms apart (10 MB/s) but acked in one clump: the send
  // interval bounds the sample.
  Trace tr;
  for (int i = 0; i < 10; ++i) {
    tr.send();
    tr.now += milliseconds(1);
  }
  tr.now += milliseconds(20);
  RateSample rs;
  for (int i = 0; i < 10; ++i) rs = tr.ack(FlowDuration::zero());
  ASSERT_TRUE(rs.valid);
  EXPECT_LE(rs.rate, 10 * kPkt / 0.009 * 1.001);
}

TEST(DeliveryRate, RejectsIntervalsShorterThanMinRtt) {
  Trace tr;
  tr.send();
  tr.now += milliseconds(5);
  RateSample rs = tr.ack(milliseconds(10));
  EXPECT_FALSE(rs.valid);
  EXPECT_FALSE(tr.est.hasEstimate());
}

TEST(DeliveryRate, AppLimitedSamplesDoNotLowerEstimate) {
  Trace tr;
  const FlowDuration rtt = milliseconds(10);
  // Busy: 100 packets per RTT (100 MB/s).
  for (int i = 0; i < 100; ++i) tr.send();
  tr.now += rtt;
  for (int i = 0; i < 500; ++i) {
    tr.ack(rtt);
    tr.send();
    tr.now += microseconds(100);
  }
  double busy = tr.est.bandwidth();
  // Drain, then the application sends one packet per RTT for 50 RTTs — far
  // longer than the 10-round window.
  while (!tr.flight.empty()) {
    tr.ack(rtt);
    tr.now += microseconds(100);
  }
  for (int i = 0; i < 50; ++i) {
    tr.est.markAppLimited(tr.inflight);
    tr.send();
    tr.now += rtt;
    RateSample rs = tr.ack(rtt);
    EXPECT_TRUE(rs.app_limited);
  }
  EXPECT_DOUBLE_EQ(tr.est.bandwidth(), busy);

  // The same idle pattern without app-limited marking lets it decay.
  Trace plain;
  for (int i = 0; i < 100; ++i) plain.send();
  plain.now += rtt;
  for (int i = 0; i < 500; ++i) {
    plain.ack(rtt);
    plain.send();
    plain.now += microseconds(100);
  }
  while (!plain.flight.empty()) {
    plain.ack(rtt);
    plain.now += microseconds(100);
  }
  for (int i = 0; i < 50; ++i) {
    plain.send();
    plain.now += rtt;
    plain.ack(rtt);
  }
  EXPECT_LT(plain.est.bandwidth(), busy / 10);
}

TEST(DeliveryRate, RoundsCountFlights) {
  Trace tr;
  const FlowDuration rtt = milliseconds(10);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 4; ++i) tr.send();
    tr.now += rtt;
    for (int i = 0; i < 4; ++i) {
      tr.ack(rtt);
      EXPECT_EQ(tr.est.roundStarted(), i == 0);
    }
  }
  EXPECT_EQ(tr.est.rounds(), 5u);
}

}  // namespace
}  // namespace farlink::flow
