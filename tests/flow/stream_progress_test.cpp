// StreamProgress on synthetic socket-counter traces: completion order, and
// RTT samples taken on first bytes that never undercut the true RTT.
#include "flow/stream_progress.h"

#include <gtest/gtest.h>

#include <vector>

namespace farlink::flow {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr uint64_t kChunk = 256 * 1024;
constexpr uint64_t kSeg = 1448;

FlowTime at(FlowDuration d) { return FlowTime{} + d; }

TEST(StreamProgress, SampleRunsFromFirstByteSentToFirstByteAcked) {
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(7, 0, kChunk, at(milliseconds(0)));
  p.observe(kChunk, 0, at(milliseconds(1)), out);  // all left, nothing acked
  p.observe(kChunk, kSeg, at(milliseconds(31)), out);
  EXPECT_TRUE(out.empty());  // the chunk completes on its last byte only
  // The tail waited 40 ms for the receiver's delayed ACK: the sample must not.
  p.observe(kChunk, kChunk, at(milliseconds(71)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 7u);
  EXPECT_EQ(out[0].rtt, milliseconds(31));
  EXPECT_TRUE(p.empty());
}

TEST(StreamProgress, TimeSpentPacedInTheSocketIsNotRtt) {
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, kChunk, at(milliseconds(0)));
  p.onQueued(2, kChunk, 2 * kChunk, at(milliseconds(0)));
  // Chunk 2 sits behind chunk 1 in the socket until just after 10 ms.
  p.observe(kChunk, 0, at(milliseconds(2)), out);
  p.observe(kChunk, 0, at(milliseconds(10)), out);
  p.observe(2 * kChunk, 0, at(milliseconds(11)), out);
  p.observe(2 * kChunk, kSeg, at(milliseconds(30)), out);
  p.observe(2 * kChunk, kChunk + kSeg, at(milliseconds(41)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 1u);
  EXPECT_EQ(out[0].rtt, milliseconds(30));
  p.observe(2 * kChunk, 2 * kChunk, at(milliseconds(45)), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, 2u);
  EXPECT_EQ(out[1].rtt, milliseconds(31));  // 41 − 10, not 41 − 0
}

TEST(StreamProgress, ClumpedAcksCompleteInStreamOrder) {
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  for (uint64_t i = 0; i < 4; ++i)
    p.onQueued(10 + i, i * kChunk, (i + 1) * kChunk, at(milliseconds(i)));
  p.observe(4 * kChunk, 0, at(milliseconds(4)), out);
  p.observe(4 * kChunk, 4 * kChunk, at(milliseconds(40)), out);
  ASSERT_EQ(out.size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out[i].id, 10 + i);
    EXPECT_EQ(out[i].rtt, milliseconds(40));  // the one sample this flight gave
  }
}

TEST(StreamProgress, NothingCompletesWhileCountersStandStill) {
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.observe(100, 100, at(milliseconds(0)), out);  // earlier traffic, all acked
  p.onQueued(1, 100, 100 + kChunk, at(milliseconds(0)));
  for (int t = 1; t < 50; ++t) p.observe(100 + kChunk, 100, at(milliseconds(t)), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.outstanding(), 1u);
  p.observe(100 + kChunk, 100 + kChunk, at(milliseconds(60)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rtt, milliseconds(60));
}

TEST(StreamProgress, ALatePollDoesNotInflateTheChunksSample) {
  // One chunk paced out over 20 ms, polled every ms, the path's RTT 30 ms;
  // the polls from 15 to 20 ms did not run (the host was busy), so the
  // bytes sent then get inflated samples. The chunk's sample is the best one.
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, 20 * kSeg, at(milliseconds(0)));
  for (int t = 1; t <= 60 && out.empty(); ++t) {
    if (t >= 15 && t < 21) continue;
    uint64_t sent = std::min<uint64_t>(t, 20) * kSeg;  // one segment leaves per ms
    uint64_t acked = t > 30 ? std::min<uint64_t>(t - 30, 20) * kSeg : 0;
    p.observe(sent, acked, at(milliseconds(t)), out);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rtt, milliseconds(31));  // a byte sent in (t, t+1] ms, its ack seen at t+31
}

TEST(StreamProgress, BytesBetweenChunksSentWhileUnobservedGiveNoSample) {
  // A control frame (bytes 100-140) went out and was acked while the lane
  // had no chunk and nobody polled it; then a chunk is queued at 50 ms.
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, 100, at(milliseconds(0)));
  p.observe(100, 100, at(milliseconds(31)), out);
  ASSERT_EQ(out.size(), 1u);
  p.onQueued(2, 140, 140 + kChunk, at(milliseconds(50)));
  p.observe(140 + kChunk, 140, at(milliseconds(51)), out);  // the frame is long acked
  p.observe(140 + kChunk, 140 + kSeg, at(milliseconds(81)), out);
  p.observe(140 + kChunk, 140 + kChunk, at(milliseconds(85)), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, 2u);
  EXPECT_EQ(out[1].rtt, milliseconds(31));  // from the chunk's queueing at 50 ms, not 1 ms
}

TEST(StreamProgress, PollsThatSeeOnlyAcksDoNotVouchForUnsentBytes) {
  // At 20 ms only the ack counter could be trusted (a send was half done),
  // so byte kSeg is known unsent at 1 ms only: its sample must count from there.
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, kChunk, at(milliseconds(0)));
  p.observe(kSeg, 0, at(milliseconds(1)), out);
  p.observeAcked(0, at(milliseconds(20)), out);
  p.observe(kChunk, 0, at(milliseconds(21)), out);
  p.observe(kChunk, kChunk, at(milliseconds(52)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rtt, milliseconds(51));
}

TEST(StreamProgress, ASlowReadWidensSamplesNeverShrinksThem) {
  // The first read took from 1 to 9 ms (the thread was preempted): byte kSeg
  // is only known unsent at 1 ms, and the last acks only seen by 41 ms.
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, kChunk, at(milliseconds(0)));
  p.observe(kSeg, 0, at(milliseconds(1)), at(milliseconds(9)), out);
  p.observe(kChunk, 0, at(milliseconds(10)), at(milliseconds(10)), out);
  p.observe(kChunk, kChunk, at(milliseconds(38)), at(milliseconds(41)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rtt, milliseconds(40));  // 41 − 1, not 41 − 9 or 38 − 1
}

// Exhaustive over poll phases and pacing delays: with polls every `tick`,
// every sample lies in [true RTT, true RTT + 2 ticks].
TEST(StreamProgress, SamplesBoundTheTrueRttFromAbove) {
  const FlowDuration tick = microseconds(1250);
  const FlowDuration rtt = milliseconds(30);
  for (int phase_us = 0; phase_us < 1250; phase_us += 50) {
    for (int hold_us = 0; hold_us <= 8000; hold_us += 700) {
      StreamProgress p;
      std::vector<StreamProgress::Acked> out;
      const FlowTime queued = at(microseconds(300));
      const FlowTime left = queued + microseconds(hold_us);  // first byte leaves
      const FlowTime first_acked = left + rtt;
      p.onQueued(1, 0, kChunk, queued);
      for (FlowTime t = at(microseconds(phase_us)); out.empty(); t += tick) {
        if (t < queued) continue;
        uint64_t sent = t >= left ? kChunk : 0;
        uint64_t acked = t >= first_acked + milliseconds(5) ? kChunk : t >= first_acked ? kSeg : 0;
        p.observe(sent, acked, t, out);
      }
      ASSERT_EQ(out.size(), 1u);
      EXPECT_GE(out[0].rtt, rtt) << phase_us << " " << hold_us;
      EXPECT_LE(out[0].rtt, rtt + 2 * tick) << phase_us << " " << hold_us;
    }
  }
}

TEST(StreamProgress, CreditsCountBytesBelowTheAckAndSackedBeyondIt) {
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  std::vector<StreamProgress::Credit> cr;
  for (ChunkId id = 1; id <= 3; ++id)
    p.onQueued(id, (id - 1) * kChunk, id * kChunk, at(milliseconds(0)));
  // Two and a half chunks have left; a segment early in chunk 1 was lost,
  // so the cumulative ack stops there while the peer SACKs what followed.
  uint64_t sent = 2 * kChunk + kChunk / 2, hole = 10 * kSeg;
  p.observe(sent, hole, at(milliseconds(1)), out);
  p.credits(hole, sent - hole - kSeg, cr);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(cr.size(), 3u);
  uint64_t total = 0;
  for (const auto& c : cr) total += c.delivered;
  EXPECT_EQ(total, sent - kSeg);  // all that left but the lost segment
  // SACKed bytes are laid only on bytes that left: chunk 3 is half sent.
  EXPECT_EQ(cr[0].id, 1u);
  EXPECT_EQ(cr[0].delivered, kChunk);
  EXPECT_EQ(cr[1].delivered, kChunk);
  EXPECT_EQ(cr[2].delivered, kChunk / 2 - kSeg);
  // Nothing changed: nothing to report.
  cr.clear();
  p.credits(hole, sent - hole - kSeg, cr);
  EXPECT_TRUE(cr.empty());
  // SACK can never claim more than left the host.
  p.credits(hole, 100 * kChunk, cr);
  total = 0;
  for (const auto& c : cr) total += c.delivered;
  ASSERT_EQ(cr.size(), 1u);
  EXPECT_EQ(cr[0].delivered, kChunk / 2);
  // The retransmission repairs the hole: chunks 1 and 2 complete, and the
  // half of chunk 3 that is acked is its credit.
  p.observe(sent, sent, at(milliseconds(62)), out);
  ASSERT_EQ(out.size(), 2u);
  cr.clear();
  p.credits(sent, 0, cr);
  EXPECT_TRUE(cr.empty());  // chunk 3 already had that figure
  p.observe(3 * kChunk, sent + kSeg, at(milliseconds(63)), out);
  p.credits(sent + kSeg, 0, cr);
  ASSERT_EQ(cr.size(), 1u);
  EXPECT_EQ(cr[0].id, 3u);
  EXPECT_EQ(cr[0].delivered, kChunk / 2 + kSeg);
}

TEST(StreamProgress, SamplesAcrossPollGapsAreDropped) {
  // Polls every ms while the channel is driven; then the application is
  // busy elsewhere for 2 s with a chunk in flight, and nobody polls. The
  // sample that poll gap gives (2 s) bounds the RTT, uselessly: dropped.
  StreamProgress p(milliseconds(8));
  std::vector<StreamProgress::Acked> out;
  p.onQueued(1, 0, kChunk, at(milliseconds(0)));
  p.observe(kChunk, 0, at(milliseconds(1)), out);
  p.observe(kChunk, 0, at(milliseconds(2)), out);
  p.observe(kChunk, kChunk, at(milliseconds(2002)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rtt, FlowDuration::zero());  // no sample on this lane yet
  // The same when the gap was on the sending side: bytes seen unsent at
  // 2003 ms, seen gone only at 3500 ms.
  auto ms = [](int t) { return at(milliseconds(t)); };
  p.onQueued(2, kChunk, 2 * kChunk, ms(2003));
  p.observe(kChunk, kChunk, ms(2003), out);
  p.observe(2 * kChunk, kChunk, ms(3500), out);
  for (int t = 3501; t < 3540; ++t) p.observe(2 * kChunk, kChunk, ms(t), out);
  p.observe(2 * kChunk, 2 * kChunk, ms(3540), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].rtt, FlowDuration::zero());
  // Polls on time again: samples again.
  p.onQueued(3, 2 * kChunk, 3 * kChunk, ms(3541));
  p.observe(2 * kChunk, 2 * kChunk, ms(3541), out);
  p.observe(3 * kChunk, 2 * kChunk, ms(3542), out);
  for (int t = 3543; t < 3572; ++t) p.observe(3 * kChunk, 2 * kChunk, ms(t), out);
  p.observe(3 * kChunk, 3 * kChunk, ms(3572), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].rtt, milliseconds(31));
}

TEST(StreamProgress, AcksThatRepairAHoleGiveNoRttSample) {
  // 1% loss: the first segment is lost, the peer SACKs what follows, and the
  // retransmission fills the hole a round trip later. The ack's jump then
  // covers bytes that arrived 30 ms before: no RTT of 60 ms may come of it.
  StreamProgress p;
  std::vector<StreamProgress::Acked> out;
  std::vector<StreamProgress::Credit> cr;
  auto ms = [](int t) { return at(milliseconds(t)); };
  p.onQueued(1, 0, kChunk, ms(0));
  p.onQueued(2, kChunk, 2 * kChunk, ms(0));
  p.observe(0, 0, ms(0), out);
  p.observe(kChunk / 2, 0, ms(1), out);  // marks the first byte (unsent at 0)
  p.credits(0, 0, cr);
  p.observe(2 * kChunk, 0, ms(2), out);  // marks byte kChunk / 2 (unsent at 1)
  p.credits(0, 0, cr);
  p.observe(2 * kChunk, 0, ms(32), out);
  p.credits(0, kChunk, cr);  // the peer holds a chunk's worth beyond the hole
  EXPECT_TRUE(out.empty());
  p.observe(2 * kChunk, 2 * kChunk, ms(62), out);  // repaired: both complete
  p.credits(2 * kChunk, 0, cr);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rtt, FlowDuration::zero());  // not 62 ms
  EXPECT_EQ(out[1].rtt, FlowDuration::zero());
  // With the hole gone, samples resume.
  p.onQueued(3, 2 * kChunk, 3 * kChunk, ms(63));
  p.observe(2 * kChunk, 2 * kChunk, ms(63), out);
  p.observe(3 * kChunk, 2 * kChunk, ms(64), out);
  p.credits(2 * kChunk, 0, cr);
  p.observe(3 * kChunk, 3 * kChunk, ms(97), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].rtt, milliseconds(34));
}

}  // namespace
}  // namespace farlink::flow
