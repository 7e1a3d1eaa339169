// The RTT-scale dead-peer rules (lib/transport/tcp/liveness.h) over
// made-up TCP_INFO readings: when a quiet lane is probed, when bytes left
// unacknowledged make a lane dead, and the cases that must never be.
#include <gtest/gtest.h>

#include "transport/tcp/liveness.h"

namespace farlink::tcp {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

LanePulse pulse(uint32_t rtt_ms, uint32_t unacked, uint32_t since_ack_ms, uint32_t quiet_ms = 0) {
  LanePulse p;
  p.rtt_us = rtt_ms * 1000;
  p.rttvar_us = rtt_ms * 1000 / 4;
  p.unacked = unacked;
  p.since_ack_ms = since_ack_ms;
  p.since_send_ms = quiet_ms;
  p.since_recv_ms = quiet_ms;
  return p;
}

TEST(Liveness, RetransmitTimeoutFollowsLinux) {
  LanePulse p;
  EXPECT_EQ(retransmitTimeout(p), std::chrono::seconds(1)) << "no sample: the initial RTO";
  p.rtt_us = 50;  // loopback: the 200 ms floor on the variance term rules
  p.rttvar_us = 20;
  EXPECT_EQ(retransmitTimeout(p), microseconds(200050));
  p.rtt_us = 100'000;  // a long, jittery path: 4 x rttvar
  p.rttvar_us = 80'000;
  EXPECT_EQ(retransmitTimeout(p), microseconds(420'000));
}

TEST(Liveness, BoundIsSixRtosUnlessSetExplicitly) {
  ChannelOptions o;
  LanePulse p = pulse(100, 0, 0);  // RTO 100 + 200 ms
  EXPECT_EQ(silenceBound(o, p), milliseconds(1800));
  o.dead_peer_timeout = milliseconds(250);
  EXPECT_EQ(silenceBound(o, p), milliseconds(250));
  EXPECT_EQ(checkInterval(milliseconds(1800)), milliseconds(150));
  EXPECT_EQ(checkInterval(milliseconds(60)), milliseconds(10)) << "a floor on wakeups";
}

TEST(Liveness, QuietLaneIsProbedAfterOneRto) {
  const milliseconds bound(1800);  // 6 x 300 ms
  LivenessWatch w;
  auto now = Clock::now();
  EXPECT_EQ(judge(pulse(100, 0, 299, 299), bound, now, &w), Pulse::kAlive);
  EXPECT_EQ(judge(pulse(100, 0, 300, 300), bound, now, &w), Pulse::kProbe);
  LanePulse receiving = pulse(100, 0, 5000, 5000);
  receiving.since_recv_ms = 20;  // the peer's data is proof enough
  EXPECT_EQ(judge(receiving, bound, now, &w), Pulse::kAlive);
}

TEST(Liveness, UnansweredProbeIsDeadAfterTheBound) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  // Quiet for a long time: probe; the last ACK is 10 s old.
  ASSERT_EQ(judge(pulse(100, 0, 10000, 10000), bound, t0, &w), Pulse::kProbe);
  noteProbe(t0, &w);
  // The probe stays unacknowledged; an old last ACK alone proves nothing.
  for (int ms = 150; ms <= 1800; ms += 150)
    EXPECT_EQ(judge(pulse(100, 1, 10000 + ms, 0), bound, t0 + milliseconds(ms), &w), Pulse::kAlive)
        << ms;
  EXPECT_EQ(judge(pulse(100, 1, 11950, 0), bound, t0 + milliseconds(1950), &w), Pulse::kDead);
}

TEST(Liveness, AnsweredProbeKeepsTheLaneAlive) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  noteProbe(t0, &w);
  EXPECT_EQ(judge(pulse(100, 0, 10, 10), bound, t0 + milliseconds(150), &w), Pulse::kAlive);
  EXPECT_FALSE(w.pending);
}

// The false alarm a naive "unacked and no ACK for the bound" check raises:
// a lane idle for long that has just sent something.
TEST(Liveness, LaneThatJustSentAfterLongQuietIsNotDead) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  EXPECT_EQ(judge(pulse(100, 4, 60000, 0), bound, t0, &w), Pulse::kAlive);
  EXPECT_EQ(judge(pulse(100, 4, 60100, 0), bound, t0 + milliseconds(100), &w), Pulse::kAlive);
}

// Seen in flight at t0, ACKed soon after, then nobody looked until new
// bytes went out much later: their clock starts at the next look.
TEST(Liveness, AckAfterTheLastLookRestartsTheClock) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  EXPECT_EQ(judge(pulse(100, 1, 0, 0), bound, t0, &w), Pulse::kAlive);
  auto later = t0 + milliseconds(5000);
  // ACK at t0 + 50 ms; the new bytes are unacknowledged.
  EXPECT_EQ(judge(pulse(100, 1, 4950, 0), bound, later, &w), Pulse::kAlive);
  EXPECT_EQ(judge(pulse(100, 1, 4950 + 1800, 0), bound, later + bound, &w), Pulse::kAlive);
  EXPECT_EQ(judge(pulse(100, 1, 4950 + 1900, 0), bound, later + milliseconds(1900), &w),
            Pulse::kDead);
}

TEST(Liveness, BusyLaneWithAcksFlowingIsNeverDead) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  for (int ms = 0; ms < 60000; ms += 150)
    ASSERT_EQ(judge(pulse(100, 40, 120, 0), bound, t0 + milliseconds(ms), &w), Pulse::kAlive) << ms;
}

// A peer application that stopped reading: nothing in flight, bytes queued
// behind the closed window. Neither probed nor dead, however long.
TEST(Liveness, ClosedWindowIsNeitherProbedNorDead) {
  const milliseconds bound(1800);
  LivenessWatch w;
  auto t0 = Clock::now();
  LanePulse p = pulse(100, 0, 0, 0);
  p.notsent_bytes = 4 << 20;
  for (int ms = 0; ms < 60000; ms += 150) {
    p.since_send_ms = p.since_recv_ms = static_cast<uint32_t>(ms);
    p.since_ack_ms = static_cast<uint32_t>(ms % 5000);  // window probes answered now and then
    ASSERT_EQ(judge(p, bound, t0 + milliseconds(ms), &w), Pulse::kAlive) << ms;
  }
}

}  // namespace
}  // namespace farlink::tcp
