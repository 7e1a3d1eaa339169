// The TCP datapath under farlink's own flow control (ChannelOptions::flow):
// which mode engages where, that it is visible in stats(), and that acks
// read from the kernel drain the in-flight count once the peer has it all.
#include <gtest/gtest.h>

#include <thread>

#include "farlink/channel.h"
#include "test_support.h"

namespace farlink::test {
namespace {

ChannelOptions withFlow(FlowMode mode, uint64_t rate_bps = 0) {
  ChannelOptions o;
  o.lanes = 4;
  o.flow = mode;
  o.flow_rate_bps = rate_bps;
  return o;
}

TEST(TcpFlow, ModelControllerCarriesEveryByteAndShowsInStats) {
  ChannelPair p = connectPair("tcp", withFlow(FlowMode::kModel), withFlow(FlowMode::kModel));
  ASSERT_TRUE(p.client && p.server);
  constexpr size_t kSize = 24u << 20;
  runConcurrently({[&] { expectSend(*p.client, kSize, 3, 41); },
                   [&] { expectRecv(*p.server, kSize, 3, kSize, 41); }});
  ASSERT_TRUE(p.client->flush(std::chrono::seconds(5)).isOk());
  ChannelStats st = p.client->stats();
  EXPECT_EQ(st.flow.controller, "model");
  EXPECT_FALSE(st.flow.state.empty());
  EXPECT_GT(st.flow.delivery_rate_bps, 0.0);
  EXPECT_GT(st.flow.min_rtt_us, 0.0);
  EXPECT_GT(st.flow.inflight_cap, 0u);
  // Everything was received, so the peer's kernel acked it all: driving the
  // channel (a short timed wait) lets it read those acks.
  for (int i = 0; i < 100 && p.client->stats().flow.inflight_bytes > 0; ++i) {
    Buffer none(1);
    auto r = p.client->irecv(none.data(), none.size(), 999);
    ASSERT_TRUE(r.isOk());
    (void)r->wait(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(p.client->stats().flow.inflight_bytes, 0u);
}

TEST(TcpFlow, FixedRateHoldsTheRateDown) {
  // 200 Mbit/s: 8 MiB takes >= 0.33 s; unpaced loopback takes a few ms.
  ChannelPair p = connectPair("tcp", withFlow(FlowMode::kFixed, 200'000'000), ChannelOptions());
  ASSERT_TRUE(p.client && p.server);
  constexpr size_t kSize = 8u << 20;
  auto start = std::chrono::steady_clock::now();
  runConcurrently({[&] { expectSend(*p.client, kSize, 1, 5); },
                   [&] { expectRecv(*p.server, kSize, 1, kSize, 5); }});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(p.client->stats().flow.controller, "fixed");
  EXPECT_NEAR(p.client->stats().flow.pacing_rate_bps, 200e6, 1e6);
  // A lower bound only (the pacer may never be faster than its rate); the
  // upper side is the benchmark's business, not a test's.
  EXPECT_GT(secs, 0.9 * kSize * 8 / 200e6 - 0.05);
}

TEST(TcpFlow, AutoStaysOffOnLoopbackAndOffIsOff) {
  for (FlowMode m : {FlowMode::kAuto, FlowMode::kOff}) {
    ChannelPair p = connectPair("tcp", withFlow(m), withFlow(m));
    ASSERT_TRUE(p.client && p.server);
    runConcurrently({[&] { expectSend(*p.client, 1 << 20, 1, 9); },
                     [&] { expectRecv(*p.server, 1 << 20, 1, 1 << 20, 9); }});
    EXPECT_TRUE(p.client->stats().flow.controller.empty()) << static_cast<int>(m);
  }
}

TEST(TcpFlow, FixedWithoutARateIsRefusedWithTheKnobToSet) {
  ChannelOptions o = withFlow(FlowMode::kFixed);
  Status s = o.validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("FARLINK_FLOW_RATE"), std::string::npos) << s.message();
}

TEST(TcpFlow, EnvironmentParsesModeAndDecimalRate) {
  setenv("FARLINK_FLOW", "fixed", 1);
  setenv("FARLINK_FLOW_RATE", "1.5G", 1);
  auto o = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(o->flow, FlowMode::kFixed);
  EXPECT_EQ(o->flow_rate_bps, 1'500'000'000u);
  setenv("FARLINK_FLOW", "fast", 1);
  auto bad = ChannelOptions::fromEnvironment();
  EXPECT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("FARLINK_FLOW"), std::string::npos);
  setenv("FARLINK_FLOW", "model", 1);
  setenv("FARLINK_FLOW_RATE", "100mbit", 1);
  auto mbit = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(mbit.isOk());
  EXPECT_EQ(mbit->flow_rate_bps, 100'000'000u);
  setenv("FARLINK_FLOW_RATE", "10Gbit/s", 1);
  EXPECT_FALSE(ChannelOptions::fromEnvironment().isOk());
  unsetenv("FARLINK_FLOW");
  unsetenv("FARLINK_FLOW_RATE");
}

}  // namespace
}  // namespace farlink::test
