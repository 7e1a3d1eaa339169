// LaneScheduler: placement, priority, stalls, dead lanes and the
// exactly-once accounting of completions.
#include "flow/lane_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace farlink::flow {
namespace {

using std::chrono::milliseconds;

FlowTime at(int ms) { return FlowTime{} + std::chrono::seconds(1) + milliseconds(ms); }

LaneScheduler make(int lanes) {
  auto s = LaneScheduler::create(lanes);
  EXPECT_TRUE(s.isOk());
  return std::move(*s);
}

TEST(LaneScheduler, RejectsBadLaneCounts) {
  EXPECT_FALSE(LaneScheduler::create(0).isOk());
  EXPECT_FALSE(LaneScheduler::create(65).isOk());
  EXPECT_TRUE(LaneScheduler::create(64).isOk());
}

TEST(LaneScheduler, EqualLanesShareEvenly) {
  LaneScheduler s = make(4);
  std::map<LaneId, int> per;
  for (ChunkId id = 0; id < 40; ++id) per[*s.assign(id, 1 << 20, Priority::kBulk, at(0))]++;
  for (LaneId l = 0; l < 4; ++l) EXPECT_EQ(per[l], 10);
  EXPECT_EQ(s.queuedBytes(), 40u << 20);
}

TEST(LaneScheduler, FasterLaneGetsProportionallyMore) {
  LaneScheduler s = make(3);
  s.setLaneRate(0, 1e8);
  s.setLaneRate(1, 2e8);
  s.setLaneRate(2, 3e8);
  std::map<LaneId, int> per;
  for (ChunkId id = 0; id < 600; ++id) per[*s.assign(id, 1 << 16, Priority::kBulk, at(0))]++;
  EXPECT_NEAR(per[0], 100, 2);
  EXPECT_NEAR(per[1], 200, 2);
  EXPECT_NEAR(per[2], 300, 2);
}

TEST(LaneScheduler, SmallMessagesJumpTheQueue) {
  LaneScheduler s = make(2);
  s.setLaneRate(0, 1e9);  // lane 0 is much faster: bulk piles up there
  s.setLaneRate(1, 1e6);
  for (ChunkId id = 0; id < 8; ++id) ASSERT_EQ(*s.assign(id, 1 << 20, Priority::kBulk, at(0)), 0u);
  // Small goes to the least-loaded lane, whatever its rate...
  EXPECT_EQ(*s.assign(100, 200, Priority::kSmall, at(0)), 1u);
  // ...and on a loaded lane it is handed out before the bulk queued earlier.
  ASSERT_EQ(*s.assign(9, 1 << 20, Priority::kBulk, at(0)), 0u);
  s.setLaneRate(1, 1e9);
  ASSERT_TRUE(s.assign(101, 200, Priority::kSmall, at(0)).isOk());
  LaneId small_lane = *s.chunkLane(101);
  EXPECT_EQ(s.next(small_lane), std::optional<ChunkId>(small_lane == 1 ? 100 : 101));
  // A "small" priority chunk above small_max is scheduled as bulk.
  LaneScheduler t = make(1);
  ASSERT_TRUE(t.assign(1, 1 << 20, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(t.assign(2, 1 << 20, Priority::kSmall, at(0)).isOk());
  EXPECT_EQ(t.next(0), std::optional<ChunkId>(1));
  ASSERT_TRUE(t.assign(3, 100, Priority::kSmall, at(0)).isOk());
  EXPECT_EQ(t.next(0), std::optional<ChunkId>(3));
}

// Sends everything queued on every lane at `when`.
void sendAll(LaneScheduler& s, FlowTime when, std::map<ChunkId, LaneId>* sent_on = nullptr) {
  for (LaneId l = 0; l < static_cast<LaneId>(s.lanes()); ++l)
    while (auto id = s.next(l)) {
      ASSERT_TRUE(s.onSent(l, *id, when));
      if (sent_on) (*sent_on)[*id] = l;
    }
}

TEST(LaneScheduler, StoppedLaneChunksMoveAndCompleteExactlyOnce) {
  LaneScheduler s = make(3);
  constexpr int kChunks = 30;
  constexpr uint64_t kBytes = 1 << 20;
  for (ChunkId id = 0; id < kChunks; ++id)
    ASSERT_TRUE(s.assign(id, kBytes, Priority::kBulk, at(0)).isOk());
  std::map<ChunkId, LaneId> sent_on;
  sendAll(s, at(0), &sent_on);
  EXPECT_EQ(s.inflightBytes(), kChunks * kBytes);
  // Lanes 0 and 2 ack; lane 1 goes silent.
  std::set<ChunkId> on_lane1;
  for (auto [id, l] : sent_on) {
    if (l == 1)
      on_lane1.insert(id);
    else
      ASSERT_EQ(s.onAck(l, id, at(30)), AckOutcome::kCompleted);
  }
  ASSERT_EQ(on_lane1.size(), 10u);
  s.setLaneRtt(1, milliseconds(30));  // 4·srtt = 120 ms < 200 ms floor
  EXPECT_TRUE(s.checkStalls(at(200)).empty());
  auto moved = s.checkStalls(at(201));
  ASSERT_EQ(moved.size(), 10u);
  EXPECT_TRUE(s.lane(1).stalled);
  for (const Reassignment& r : moved) {
    EXPECT_EQ(r.from, 1u);
    EXPECT_NE(r.to, 1u);
    EXPECT_NE(r.to, kNoLane);
    EXPECT_TRUE(r.resend);
    EXPECT_TRUE(on_lane1.count(r.chunk));
  }
  EXPECT_EQ(s.retransmits(), 10u);
  EXPECT_EQ(s.lane(1).inflight_bytes, 0u);
  // No new chunk goes to the stalled lane.
  ASSERT_TRUE(s.assign(1000, kBytes, Priority::kBulk, at(201)).isOk());
  EXPECT_NE(*s.chunkLane(1000), 1u);
  std::map<ChunkId, LaneId> resent;
  sendAll(s, at(201), &resent);
  for (auto [id, l] : resent) ASSERT_EQ(s.onAck(l, id, at(240)), AckOutcome::kCompleted);
  EXPECT_EQ(s.completed(), kChunks + 1u);
  EXPECT_EQ(s.completedBytes(), (kChunks + 1) * kBytes);
  EXPECT_EQ(s.outstandingChunks(), 0u);
  EXPECT_EQ(s.inflightBytes(), 0u);
  // Lane 1 wakes up: its late acks are duplicates, not new completions.
  for (ChunkId id : on_lane1) EXPECT_EQ(s.onAck(1, id, at(300)), AckOutcome::kDuplicate);
  EXPECT_EQ(s.duplicates(), 10u);
  EXPECT_EQ(s.completed(), kChunks + 1u);
  EXPECT_FALSE(s.lane(1).stalled);  // progress again
  // Every copy is accounted for: a third ack is unknown.
  EXPECT_EQ(s.onAck(1, *on_lane1.begin(), at(301)), AckOutcome::kUnknown);
}

TEST(LaneScheduler, LateAckOfOldCopyWinsAndWithdrawsQueuedCopy) {
  LaneScheduler s = make(2);
  ASSERT_EQ(*s.assign(7, 1000, Priority::kBulk, at(0)), 0u);
  ASSERT_TRUE(s.onSent(0, 7, at(0)));
  auto moved = s.checkStalls(at(300));
  ASSERT_EQ(moved.size(), 1u);
  ASSERT_EQ(moved[0].to, 1u);
  EXPECT_EQ(s.lane(1).queued_bytes, 1000u);
  // The original arrives before the copy is sent.
  EXPECT_EQ(s.onAck(0, 7, at(310)), AckOutcome::kCompleted);
  EXPECT_EQ(s.lane(1).queued_bytes, 0u);
  EXPECT_EQ(s.next(1), std::nullopt);
  EXPECT_EQ(s.completed(), 1u);
  EXPECT_EQ(s.outstandingChunks(), 0u);
}

TEST(LaneScheduler, LateAckOfOldCopyWhileNewCopyInFlight) {
  LaneScheduler s = make(2);
  ASSERT_EQ(*s.assign(7, 1000, Priority::kBulk, at(0)), 0u);
  ASSERT_TRUE(s.onSent(0, 7, at(0)));
  ASSERT_EQ(s.checkStalls(at(300)).size(), 1u);
  ASSERT_TRUE(s.onSent(1, 7, at(300)));
  EXPECT_EQ(s.onAck(0, 7, at(310)), AckOutcome::kCompleted);
  EXPECT_EQ(s.inflightBytes(), 0u);
  EXPECT_EQ(s.onAck(1, 7, at(330)), AckOutcome::kDuplicate);
  EXPECT_EQ(s.completed(), 1u);
  EXPECT_EQ(s.duplicates(), 1u);
}

TEST(LaneScheduler, DeadLaneParksWhenNoLaneLeftAndResumesOnLaneUp) {
  LaneScheduler s = make(1);
  ASSERT_TRUE(s.assign(1, 1000, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(s.assign(2, 1000, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(s.onSent(0, 1, at(0)));
  auto moved = s.onLaneDown(0, at(5));
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved[0].to, kNoLane);
  EXPECT_TRUE(moved[0].resend);
  EXPECT_FALSE(moved[1].resend);
  EXPECT_EQ(s.parkedChunks(), 2u);
  auto r = s.assign(3, 1000, Priority::kBulk, at(6));
  EXPECT_EQ(r.status().code(), StatusCode::kAgain);
  EXPECT_EQ(s.parkedChunks(), 3u);
  auto back = s.onLaneUp(0, at(50));
  EXPECT_EQ(back.size(), 3u);
  EXPECT_EQ(s.parkedChunks(), 0u);
  sendAll(s, at(50));
  for (ChunkId id = 1; id <= 3; ++id) EXPECT_EQ(s.onAck(0, id, at(80)), AckOutcome::kCompleted);
  // The dead lane's old copy of chunk 1 is forgotten, not a duplicate.
  EXPECT_EQ(s.onAck(0, 1, at(81)), AckOutcome::kUnknown);
  EXPECT_EQ(s.completed(), 3u);
}

TEST(LaneScheduler, ConfusedPeerCannotCorruptAccounting) {
  LaneScheduler s = make(2);
  ASSERT_TRUE(s.assign(1, 1000, Priority::kBulk, at(0)).isOk());
  EXPECT_FALSE(s.assign(1, 1000, Priority::kBulk, at(0)).isOk());
  LaneId l = *s.chunkLane(1);
  EXPECT_EQ(s.onAck(l, 1, at(1)), AckOutcome::kUnknown);  // acked before sent
  EXPECT_FALSE(s.onSent(1 - l, 1, at(1)));                // wrong lane
  ASSERT_TRUE(s.onSent(l, 1, at(1)));
  EXPECT_EQ(s.onAck(1 - l, 1, at(2)), AckOutcome::kUnknown);  // wrong lane
  EXPECT_EQ(s.onAck(99, 1, at(2)), AckOutcome::kUnknown);     // no such lane
  EXPECT_EQ(s.onAck(l, 12345, at(2)), AckOutcome::kUnknown);  // no such chunk
  EXPECT_EQ(s.inflightBytes(), 1000u);
  EXPECT_EQ(s.onAck(l, 1, at(3)), AckOutcome::kCompleted);
  EXPECT_EQ(s.inflightBytes(), 0u);
}

TEST(LaneScheduler, LostChunkIsResentFirstOnSameLane) {
  LaneScheduler s = make(1);
  for (ChunkId id = 0; id < 3; ++id) ASSERT_TRUE(s.assign(id, 1000, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(s.onSent(0, 0, at(0)));
  EXPECT_TRUE(s.onLost(0, 0));
  EXPECT_FALSE(s.onLost(0, 0));
  EXPECT_EQ(s.next(0), std::optional<ChunkId>(0));
  EXPECT_EQ(s.retransmits(), 1u);
  EXPECT_EQ(s.inflightBytes(), 0u);
}

TEST(LaneScheduler, PartlyDeliveredChunksHoldOnlyTheirRest) {
  LaneScheduler s = make(2);
  for (ChunkId id = 0; id < 2; ++id) ASSERT_TRUE(s.assign(id, 1000, Priority::kBulk, at(0)).isOk());
  LaneId l0 = *s.chunkLane(0), l1 = *s.chunkLane(1);
  ASSERT_NE(l0, l1);
  ASSERT_TRUE(s.onSent(l0, 0, at(0)));
  ASSERT_TRUE(s.onSent(l1, 1, at(0)));
  EXPECT_EQ(s.inflightBytes(), 2000u);
  // Only a chunk in flight on that lane can be credited.
  EXPECT_FALSE(s.onPartialDelivery(l1, 0, 500, at(1)));
  EXPECT_FALSE(s.onPartialDelivery(l0, 7, 500, at(1)));
  EXPECT_TRUE(s.onPartialDelivery(l0, 0, 600, at(1)));
  EXPECT_EQ(s.inflightBytes(), 1400u);
  EXPECT_EQ(s.lane(l0).inflight_bytes, 400u);
  // A total, not an increment; never more than the chunk; may go back down.
  EXPECT_TRUE(s.onPartialDelivery(l0, 0, 5000, at(2)));
  EXPECT_EQ(s.lane(l0).inflight_bytes, 0u);
  EXPECT_TRUE(s.onPartialDelivery(l0, 0, 300, at(3)));
  EXPECT_EQ(s.lane(l0).inflight_bytes, 700u);
  EXPECT_EQ(s.lane(l0).inflight_chunks, 1u);
  // The ack takes out only what was still counted.
  EXPECT_EQ(s.onAck(l0, 0, at(4)), AckOutcome::kCompleted);
  EXPECT_EQ(s.lane(l0).inflight_bytes, 0u);
  EXPECT_EQ(s.inflightBytes(), 1000u);
  // A lost copy leaves what it still held; the re-sent copy counts in full.
  EXPECT_TRUE(s.onPartialDelivery(l1, 1, 900, at(5)));
  EXPECT_EQ(s.inflightBytes(), 100u);
  EXPECT_TRUE(s.onLost(l1, 1));
  EXPECT_EQ(s.inflightBytes(), 0u);
  ASSERT_EQ(s.next(l1), std::optional<ChunkId>(1));
  ASSERT_TRUE(s.onSent(l1, 1, at(6)));
  EXPECT_EQ(s.inflightBytes(), 1000u);
}

TEST(LaneScheduler, PartlyDeliveredCopyWrittenOffByAStall) {
  SchedulerParams p;
  p.stall_floor = milliseconds(100);
  auto made = LaneScheduler::create(2, p);
  ASSERT_TRUE(made.isOk());
  LaneScheduler s = std::move(*made);
  ASSERT_TRUE(s.assign(0, 1000, Priority::kBulk, at(0)).isOk());
  LaneId from = *s.chunkLane(0);
  ASSERT_TRUE(s.onSent(from, 0, at(0)));
  ASSERT_TRUE(s.onPartialDelivery(from, 0, 250, at(10)));
  auto moved = s.checkStalls(at(500));
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(s.inflightBytes(), 0u);
  ASSERT_TRUE(s.onSent(moved[0].to, 0, at(501)));
  EXPECT_EQ(s.inflightBytes(), 1000u);
  // The old copy's late ack completes the chunk and clears the new copy.
  EXPECT_EQ(s.onAck(from, 0, at(502)), AckOutcome::kCompleted);
  EXPECT_EQ(s.inflightBytes(), 0u);
  EXPECT_EQ(s.lane(moved[0].to).inflight_bytes, 0u);
}

}  // namespace
}  // namespace farlink::flow
