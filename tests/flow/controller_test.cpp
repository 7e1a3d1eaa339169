// The controller factory, the fixed controller, and the model controller's
// state machine driven by hand-made ack events (no link model).
#include <gtest/gtest.h>

#include <algorithm>

#include "flow/congestion_controller.h"
#include "flow/model_controller.h"

namespace farlink::flow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(MakeController, KnowsModelAndFixed) {
  ControllerParams p;
  auto m = makeController("model", p);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ((*m)->stateName(), "startup");
  auto bad = makeController("cubic", p);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("cubic"), std::string::npos);
  // fixed needs both a rate and a window.
  auto f0 = makeController("fixed", p);
  EXPECT_FALSE(f0.isOk());
  p.rate = 1e8;
  p.window = 4 << 20;
  auto f = makeController("fixed", p);
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ((*f)->pacingRate(), 1e8);
  EXPECT_EQ((*f)->inflightCap(), 4u << 20);
  (*f)->onLoss(LossEvent{FlowTime{}, 1 << 20, 0});
  EXPECT_EQ((*f)->pacingRate(), 1e8);  // lab mode ignores the network
}

TEST(MakeController, RejectsBadParameters) {
  ControllerParams p;
  p.loss_threshold = 0;
  EXPECT_FALSE(makeController("model", p).isOk());
  p = {};
  p.backoff_gain = 1.5;
  EXPECT_FALSE(makeController("model", p).isOk());
  p = {};
  p.chunk_bytes = 0;
  EXPECT_FALSE(makeController("model", p).isOk());
}

// Feeds a model controller acks of a path with constant bandwidth and RTT,
// one round per call, with `bw_of_round` giving the measured rate.
struct Driver {
  ControllerParams params;
  ModelController cc{params};
  FlowTime now = FlowTime{} + seconds(1);
  uint64_t round = 0;
  uint64_t inflight = 0;
  // Acks carry what `bw` delivers over the round (else 100 kB each).
  bool bytes_from_rate = false;
  // The bandwidth estimate is the max of all rates so far (a windowed max
  // that has not expired), not the round's own rate.
  bool max_bandwidth = false;
  BytesPerSecond best = 0;
  // Rate samples taken while the sender had run dry.
  bool app_limited = false;

  void round_with(BytesPerSecond bw, FlowDuration rtt, uint64_t lost = 0, int acks = 10) {
    round++;
    for (int i = 0; i < acks; ++i) {
      AckEvent ev;
      ev.now = now;
      ev.bytes = bytes_from_rate ? static_cast<uint64_t>(bw * toSeconds(rtt) / acks) : 100000;
      ev.delivered = ev.bytes;
      ev.inflight = inflight;
      ev.rtt = rtt;
      ev.srtt = rtt;
      ev.min_rtt = rtt;
      ev.rate.valid = true;
      ev.rate.rate = bw;
      ev.rate.app_limited = app_limited;
      if (!app_limited || bw > best) best = std::max(best, bw);
      ev.bandwidth = max_bandwidth ? best : bw;
      ev.round = round;
      ev.round_start = i == 0;
      cc.onAck(ev);
      now += rtt / acks;
    }
    // Reported late in the round: judged when the next round starts.
    if (lost) cc.onLoss(LossEvent{now, lost, inflight});
  }
};

TEST(ModelController, StartupNeverPacesOrCapsBelowTheInitialWindow) {
  // A first sample from a tiny control message (a few KB/s) must not pace a
  // 30 ms link so slowly that no bigger sample can ever arrive.
  Driver d;
  d.round_with(4000, milliseconds(30));
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kStartup);
  EXPECT_NEAR(d.cc.pacingRate(), ModelController::kHighGain * 1024 * 1024 / 0.03, 1);
  // Nor caps bytes in flight below it.
  EXPECT_EQ(d.cc.inflightCap(), d.params.initial_window);
}

TEST(ModelController, StartupExitsAfterThreeFlatRoundsThenDrainsToProbeBw) {
  Driver d;
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kStartup);
  EXPECT_NEAR(d.cc.pacingRate(), ModelController::kHighGain * 1024 * 1024 / 1e-3,
              1);  // no RTT yet: 1 ms guess
  // Bandwidth doubling each round: stays in STARTUP.
  BytesPerSecond bw = 1e6;
  for (int i = 0; i < 6; ++i, bw *= 2) d.round_with(bw, milliseconds(30));
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kStartup);
  // Start-up paces at the higher of the measured rate and the initial
  // window per round trip.
  EXPECT_NEAR(d.cc.pacingRate(), ModelController::kHighGain * std::max(bw / 2, 1024 * 1024 / 0.03),
              1);
  // Flat: three rounds without 25% growth end STARTUP.
  d.inflight = 10 << 20;  // queue built during startup
  for (int i = 0; i < 4; ++i) d.round_with(bw, milliseconds(30));
  EXPECT_TRUE(d.cc.filledPipe());
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kDrain);
  EXPECT_LT(d.cc.pacingRate(), bw);
  // In-flight down to the BDP: PROBE_BW.
  d.inflight = static_cast<uint64_t>(bw * 0.03);
  d.round_with(bw, milliseconds(30));
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kProbeBw);
  uint64_t bdp = static_cast<uint64_t>(bw * 0.03);
  EXPECT_EQ(d.cc.inflightCap(), 2 * bdp + 2 * d.params.chunk_bytes);
}

TEST(ModelController, ProbeBwCyclesGains) {
  Driver d;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 5; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = static_cast<uint64_t>(bw * 0.03);
  for (int i = 0; i < 3; ++i) d.round_with(bw, milliseconds(30));
  ASSERT_EQ(d.cc.mode(), ModelController::Mode::kProbeBw);
  // Over 16 rounds every phase is visited, including the 1.25 probe (which
  // needs in-flight to reach 1.25 BDP) and the 0.75 drain.
  bool saw_up = false, saw_down = false;
  for (int i = 0; i < 16; ++i) {
    d.inflight = static_cast<uint64_t>(bw * 0.03 * (d.cc.cycleIndex() == 0 ? 1.3 : 1.0));
    d.round_with(bw, milliseconds(30));
    saw_up = saw_up || d.cc.pacingRate() > bw * 1.2;
    saw_down = saw_down || d.cc.pacingRate() < bw * 0.8;
  }
  EXPECT_TRUE(saw_up);
  EXPECT_TRUE(saw_down);
}

TEST(ModelController, ProbeRttAfterMinRttWindowWithoutNewLow) {
  Driver d;
  d.params.min_rtt_window = seconds(10);
  d.cc = ModelController(d.params);
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 8; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 1 << 20;
  // 11 s of slightly higher RTTs: the 30 ms minimum expires.
  while (d.now < FlowTime{} + seconds(13) && d.cc.mode() != ModelController::Mode::kProbeRtt)
    d.round_with(bw, milliseconds(31));
  ASSERT_EQ(d.cc.mode(), ModelController::Mode::kProbeRtt);
  EXPECT_EQ(d.cc.inflightCap(), 4 * d.params.chunk_bytes);
  d.inflight = 4 * d.params.chunk_bytes;
  for (int i = 0; i < 10 && d.cc.mode() == ModelController::Mode::kProbeRtt; ++i)
    d.round_with(bw, milliseconds(31));
  EXPECT_EQ(d.cc.mode(), ModelController::Mode::kProbeBw);
  EXPECT_EQ(d.cc.minRtt(), milliseconds(31));
}

TEST(ModelController, LossBelowThresholdWithoutDelayIsIgnored) {
  Driver d;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = static_cast<uint64_t>(bw * 0.03);
  uint64_t cap = d.cc.inflightCap();
  double rate = d.cc.pacingRate();
  // 10 acks of 100 kB per round = 1 MB; lose 100 kB (~9%) every round.
  for (int i = 0; i < 20; ++i) d.round_with(bw, milliseconds(30), 100000);
  EXPECT_EQ(d.cc.lossCap(), std::numeric_limits<uint64_t>::max());
  EXPECT_GE(d.cc.inflightCap(), cap * 9 / 10);
  EXPECT_GE(d.cc.pacingRate(), rate * 0.74);  // gain cycling only
}

TEST(ModelController, HeavyLossCutsCapBoundedPerRoundAndRecovers) {
  Driver d;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 3000000;
  d.round_with(bw, milliseconds(30), 500000);  // 33% of the round lost
  d.round_with(bw, milliseconds(30));          // round end evaluates it
  uint64_t cap1 = d.cc.lossCap();
  EXPECT_LE(cap1, 2100000u);  // 0.7 × 3 MB
  EXPECT_GE(cap1, 2000000u);
  // Many heavy rounds never go below the 4-chunk floor.
  for (int i = 0; i < 40; ++i) d.round_with(bw, milliseconds(30), 800000);
  EXPECT_GE(d.cc.inflightCap(), 4 * d.params.chunk_bytes);
  // Clean rounds grow it back until the cap disappears.
  for (int i = 0; i < 60; ++i) d.round_with(bw, milliseconds(30));
  EXPECT_EQ(d.cc.lossCap(), std::numeric_limits<uint64_t>::max());
}

TEST(ModelController, LossWithRisingDelayCountsAsCongestion) {
  Driver d;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 3000000;
  // 1% loss, but with a standing 10 ms queue.
  d.round_with(bw, milliseconds(40), 10000);
  d.round_with(bw, milliseconds(40));
  EXPECT_LT(d.cc.lossCap(), 3000000u);
}

TEST(ModelController, StandingQueueTriggersBackoffAndDrainEndsIt) {
  Driver d;
  d.bytes_from_rate = true;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 3000000;
  // Two rounds with an 8 ms standing queue (> max(2 ms, 3 ms)).
  d.round_with(bw, milliseconds(38));
  d.round_with(bw, milliseconds(38));
  d.round_with(bw, milliseconds(38));
  EXPECT_TRUE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.pacingRate(), 0.75 * bw, 1);
  EXPECT_EQ(d.cc.stateName().substr(d.cc.stateName().size() - 7), "backoff");
  // Draining (RTT falling each round), then back at the base RTT.
  d.round_with(bw, milliseconds(35));
  d.round_with(bw, milliseconds(32));
  EXPECT_TRUE(d.cc.backingOff());
  d.round_with(bw, milliseconds(30));
  d.round_with(bw, milliseconds(30));
  EXPECT_FALSE(d.cc.backingOff());
  EXPECT_EQ(d.cc.minRtt(), milliseconds(30));
}

TEST(ModelController, BackoffPaceDoesNotCompoundWhileTheQueueDrains) {
  Driver d;
  d.bytes_from_rate = true;
  d.max_bandwidth = true;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 3000000;
  for (int i = 0; i < 3; ++i) d.round_with(bw, milliseconds(40));
  ASSERT_TRUE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.pacingRate(), 0.75 * bw, 1);
  // Rounds now deliver only what the back-off paces; the queue shrinks
  // slowly. Pacing below each round's delivery would halve the rate in
  // three rounds; the target set when the back-off began must hold.
  d.round_with(0.75 * bw, milliseconds(38));
  d.round_with(0.75 * bw, milliseconds(36));
  ASSERT_TRUE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.pacingRate(), 0.75 * bw, 1);
  // Drained: the model stays bounded by what the queued rounds delivered.
  d.round_with(0.75 * bw, milliseconds(30));
  EXPECT_FALSE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.bandwidth(), bw, 0.01 * bw);
}

TEST(ModelController, BoundFromAQueueRisesOnlyWithoutAQueue) {
  Driver d;
  d.bytes_from_rate = true;
  d.max_bandwidth = true;
  // Noisy samples once claimed 1.2e8 on a path that delivers 1e8.
  d.round_with(1.2e8, milliseconds(30));
  for (int i = 0; i < 9; ++i) d.round_with(1e8, milliseconds(30));
  d.inflight = 3000000;
  for (int i = 0; i < 3; ++i) d.round_with(1e8, milliseconds(40));
  ASSERT_TRUE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.bandwidth(), 1e8, 1e6);
  // Still queued: rounds that look faster (timing noise) must not lift the bound.
  d.round_with(1.1e8, milliseconds(40));
  EXPECT_NEAR(d.cc.bandwidth(), 1e8, 1e6);
  // No queue and more delivered: the path has room, the bound follows.
  for (int i = 0; i < 2; ++i) d.round_with(1.1e8, milliseconds(30));
  EXPECT_FALSE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.bandwidth(), 1.1e8, 1e6);
}

TEST(ModelController, QueueThatDoesNotDrainIsRebased) {
  Driver d;
  d.bytes_from_rate = true;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  d.inflight = 3000000;
  for (int i = 0; i < 3; ++i) d.round_with(bw, milliseconds(45));
  ASSERT_TRUE(d.cc.backingOff());
  for (int i = 0; i < 4; ++i) d.round_with(bw, milliseconds(45));
  EXPECT_FALSE(d.cc.backingOff());
  EXPECT_EQ(d.cc.minRtt(), milliseconds(45));
}

TEST(ModelController, RoundsSpanningIdleGapsDoNotBoundTheModel) {
  // Bursts with idle gaps (an allreduce's pieces): each round spans a gap
  // of a second, so it delivers 3% of the path's rate on average, and its
  // samples are app-limited. Its RTTs run high (another flow's queue, or
  // samples stretched by a host that polled late). None of that is ours to
  // drain: bounding the model by those rounds once paced the next burst
  // at 3.4 Mbit/s on a 1 Gbit/s path.
  Driver d;
  d.bytes_from_rate = true;
  d.max_bandwidth = true;
  BytesPerSecond bw = 1e8;
  for (int i = 0; i < 10; ++i) d.round_with(bw, milliseconds(30));
  ASSERT_EQ(d.cc.mode(), ModelController::Mode::kProbeBw);
  d.app_limited = true;
  for (int i = 0; i < 4; ++i) {
    d.now += seconds(1);
    d.round_with(bw, milliseconds(40));
  }
  EXPECT_FALSE(d.cc.backingOff());
  EXPECT_GE(d.cc.pacingRate(), 0.75 * bw);
  EXPECT_NEAR(d.cc.bandwidth(), bw, 0.01 * bw);
  // The same high RTT while sending flat out is our queue: back off, bounded
  // by what those rounds delivered.
  d.app_limited = false;
  d.inflight = 3000000;
  for (int i = 0; i < 3; ++i) d.round_with(0.9 * bw, milliseconds(40));
  EXPECT_TRUE(d.cc.backingOff());
  EXPECT_NEAR(d.cc.bandwidth(), 0.9 * bw, 0.01 * bw);
}

}  // namespace
}  // namespace farlink::flow
