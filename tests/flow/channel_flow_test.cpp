// ChannelFlow: the datapath-facing facade. Send gating (pacing, in-flight
// cap, small-message bypass), stalled lanes through onTick, stats, and lanes
// of different speeds sharing work in proportion to their measured rates.
#include "flow/channel_flow.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <queue>

#include "link_sim.h"

namespace farlink::flow {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

FlowTime at(int ms) { return FlowTime{} + seconds(1) + milliseconds(ms); }

std::unique_ptr<ChannelFlow> fixedFlow(int lanes, BytesPerSecond rate, uint64_t window) {
  FlowConfig cfg;
  cfg.controller = "fixed";
  cfg.params.rate = rate;
  cfg.params.window = window;
  cfg.lanes = lanes;
  auto f = ChannelFlow::create(cfg);
  EXPECT_TRUE(f.isOk()) << f.status().toString();
  return std::move(*f);
}

TEST(ChannelFlow, CreateRejectsBadConfig) {
  FlowConfig cfg;
  cfg.controller = "vegas";
  EXPECT_FALSE(ChannelFlow::create(cfg).isOk());
  cfg.controller = "model";
  cfg.lanes = 0;
  EXPECT_FALSE(ChannelFlow::create(cfg).isOk());
}

TEST(ChannelFlow, PacingAndCapGateBulkButNotSmall) {
  auto f = fixedFlow(1, 1e7, 256 * 1024);  // 10 MB/s, quantum 64 KiB
  constexpr uint64_t kChunk = 64 * 1024;
  for (ChunkId id = 0; id < 8; ++id)
    ASSERT_TRUE(f->assign(id, kChunk, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(f->maySend(0, 0, at(0)).allowed);
  ASSERT_TRUE(f->onSend(0, 0, at(0)).isOk());
  SendDecision d = f->maySend(0, 1, at(0));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.blocker, SendDecision::Blocker::kPacing);
  EXPECT_NEAR(toSeconds(d.wait), kChunk / 1e7, 1e-6);
  // Sending at the paced times, the 256 KiB cap stops the fifth chunk.
  FlowTime t = at(0);
  for (ChunkId id = 1; id < 4; ++id) {
    t += f->maySend(0, id, t).wait;
    ASSERT_TRUE(f->maySend(0, id, t).allowed);
    ASSERT_TRUE(f->onSend(0, id, t).isOk());
  }
  // 70 kB of tokens: more than a chunk needs, less than the bucket holds.
  t += milliseconds(7);
  EXPECT_EQ(f->maySend(0, 4, t).blocker, SendDecision::Blocker::kInflightCap);
  // A small message skips both.
  ASSERT_TRUE(f->assign(100, 8000, Priority::kSmall, t).isOk());
  EXPECT_EQ(f->next(0), std::optional<ChunkId>(100));
  EXPECT_TRUE(f->maySend(0, 100, t).allowed);
  EXPECT_FALSE(f->maySendBytes(0, 300, Priority::kBulk, t).allowed);
  ASSERT_TRUE(f->onSend(0, 100, t).isOk());
  // Acks free room (the small message counts in flight too).
  EXPECT_EQ(f->onAck(0, 0, t).outcome, AckOutcome::kCompleted);
  EXPECT_EQ(f->maySend(0, 4, t).blocker, SendDecision::Blocker::kInflightCap);
  EXPECT_EQ(f->onAck(0, 100, t).outcome, AckOutcome::kCompleted);
  // The small message's bytes were paced too (they took 8 kB of the 70).
  EXPECT_EQ(f->maySend(0, 4, t).blocker, SendDecision::Blocker::kPacing);
  t += milliseconds(1);
  EXPECT_TRUE(f->maySend(0, 4, t).allowed);
  // Sending something not queued on that lane is an error, not a crash.
  EXPECT_FALSE(f->onSend(0, 999, t).isOk());
  EXPECT_FALSE(f->onLoss(0, 999, t).isOk());
  EXPECT_EQ(f->onAck(0, 999, t).outcome, AckOutcome::kUnknown);
}

TEST(ChannelFlow, StalledLaneDetectedOnTickAndChunksMove) {
  auto f = fixedFlow(2, 1e9, 64 << 20);
  FlowTime t = at(0);
  for (ChunkId id = 0; id < 4; ++id) ASSERT_TRUE(f->assign(id, 1 << 16, Priority::kBulk, t).isOk());
  std::map<ChunkId, LaneId> lane_of;
  for (LaneId l = 0; l < 2; ++l)
    while (auto id = f->next(l)) {
      ASSERT_TRUE(f->onSend(l, *id, t).isOk());
      lane_of[*id] = l;
    }
  // Lane 0 acks after 20 ms (srtt 20 ms), lane 1 never does.
  for (auto [id, l] : lane_of)
    if (l == 0) {
      ASSERT_EQ(f->onAck(0, id, at(20)).outcome, AckOutcome::kCompleted);
    }
  EXPECT_TRUE(f->onTick(at(150)).empty());
  auto moved = f->onTick(at(250));
  ASSERT_EQ(moved.size(), 2u);
  for (const auto& r : moved) {
    EXPECT_EQ(r.from, 1u);
    EXPECT_EQ(r.to, 0u);
    ASSERT_TRUE(f->onSend(0, r.chunk, at(250)).isOk());
    EXPECT_EQ(f->onAck(0, r.chunk, at(270)).outcome, AckOutcome::kCompleted);
  }
  FlowStats st = f->stats(at(270));
  EXPECT_EQ(st.chunks_completed, 4u);
  EXPECT_EQ(st.retransmits, 2u);
  EXPECT_EQ(st.lanes_stalled, 1);
  EXPECT_EQ(st.inflight_bytes, 0u);
  EXPECT_EQ(st.controller, "fixed");
  EXPECT_EQ(st.state, "fixed");
  EXPECT_EQ(st.lane.size(), 2u);
  EXPECT_EQ(st.rtt_min, milliseconds(20));
  EXPECT_GT(st.rtt_p99, FlowDuration::zero());
}

// Three lanes on their own links of 100, 200 and 300 MB/s, 20 ms RTT. The
// scheduler only sees delivery-rate samples; chunks should split ~1:2:3.
TEST(ChannelFlow, UnevenLanesShareInProportionToRate) {
  using sim::Link;
  using sim::LinkParams;
  auto f = fixedFlow(3, 1e12, 48 << 20);  // the links, not the controller, limit
  std::vector<Link> links;
  const BytesPerSecond rates[] = {1e8, 2e8, 3e8};
  for (BytesPerSecond r : rates)
    links.emplace_back(LinkParams{r, milliseconds(20), 1ull << 40, 0, 1});
  constexpr uint64_t kChunk = 256 * 1024;
  struct Pending {
    FlowTime ack;
    LaneId lane;
    ChunkId id;
    bool operator>(const Pending& o) const { return ack > o.ack; }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> acks;
  FlowTime t = at(0);
  ChunkId next_id = 0;
  std::map<LaneId, uint64_t> bytes_after_warmup;
  const FlowTime end = t + seconds(5), warm = t + seconds(1);
  auto send = [&](LaneId l, ChunkId id) {
    ASSERT_TRUE(f->onSend(l, id, t).isOk());
    auto o = links[l].send(kChunk, t);
    acks.push({o.arrival + milliseconds(10), l, id});
  };
  // Keeps one chunk queued (placed by the scheduler) and sends whatever the
  // channel's window allows.
  auto fill = [&] {
    for (;;) {
      if (f->scheduler().queuedBytes() == 0) {
        ASSERT_TRUE(f->assign(next_id++, kChunk, Priority::kBulk, t).isOk());
      }
      bool sent = false;
      for (LaneId l = 0; l < 3; ++l)
        while (auto id = f->next(l)) {
          if (!f->maySend(l, *id, t).allowed) break;
          send(l, *id);
          sent = true;
        }
      if (!sent) return;
    }
  };
  fill();
  while (t < end) {
    Pending p = acks.top();
    acks.pop();
    t = p.ack;
    ASSERT_EQ(f->onAck(p.lane, p.id, t).outcome, AckOutcome::kCompleted);
    if (t > warm) bytes_after_warmup[p.lane] += kChunk;
    fill();
  }
  double total = 0;
  for (auto& [l, b] : bytes_after_warmup) total += static_cast<double>(b);
  for (LaneId l = 0; l < 3; ++l) {
    double share = static_cast<double>(bytes_after_warmup[l]) / total;
    std::printf("lane %u: %.1f%% of bytes (ideal %.1f%%)\n", l, share * 100, (l + 1) / 6.0 * 100);
    EXPECT_NEAR(share, (l + 1) / 6.0, 0.03) << "lane " << l;
  }
  EXPECT_NEAR(total / 4.0 / 6e8, 1.0, 0.1);  // all three links kept busy
}

TEST(ChannelFlow, AppLimitedIsReportedAsLimitingFactor) {
  auto f = fixedFlow(1, 1e8, 1 << 20);
  ASSERT_TRUE(f->assign(1, 1000, Priority::kBulk, at(0)).isOk());
  ASSERT_TRUE(f->onSend(0, 1, at(0)).isOk());
  f->onAppLimited();
  EXPECT_EQ(f->stats(at(1)).limiting_factor, "application: nothing queued to send");
  f->onAck(0, 1, at(20));
  // Still: nothing sent since. Data sent after the idle spell clears it once delivered.
  EXPECT_EQ(f->stats(at(21)).limiting_factor, "application: nothing queued to send");
  ASSERT_TRUE(f->assign(2, 1000, Priority::kBulk, at(30)).isOk());
  ASSERT_TRUE(f->onSend(0, 2, at(30)).isOk());
  f->onAck(0, 2, at(50));
  EXPECT_EQ(f->stats(at(51)).limiting_factor, "fixed rate and window");
}

}  // namespace
}  // namespace farlink::flow
