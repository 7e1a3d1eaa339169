// BDP sizing: lanes, buffers, chunk size and the advice string.
#include "flow/bdp_sizing.h"

#include <gtest/gtest.h>

#include "flow/flow_format.h"

namespace farlink::flow {
namespace {

using std::chrono::milliseconds;

constexpr BytesPerSecond kGbps = 125e6;

TEST(FlowFormat, HumanUnits) {
  EXPECT_EQ(formatBytes(6 << 20), "6 MiB");
  EXPECT_EQ(formatBytes(3670016), "3.5 MiB");
  EXPECT_EQ(formatBytes(512), "512 B");
  EXPECT_EQ(formatRate(kGbps), "1 Gb/s");
  EXPECT_EQ(formatRate(6291456 / 0.030), "1.7 Gb/s");
  EXPECT_EQ(formatDuration(milliseconds(30)), "30 ms");
}

TEST(BdpSizing, TcpDefaultsAt10GbpsAnd30ms) {
  SizingInput in;
  in.rate = 10 * kGbps;
  in.rtt = milliseconds(30);
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->bdp, 37500000u);
  // Linux defaults: tcp_wmem max 4 MiB < tcp_rmem max 6 MiB → 4 MiB per lane.
  EXPECT_EQ(a->lane_window, 4u << 20);
  EXPECT_EQ(a->lanes, 9);  // ceil(37.5 MB / 4 MiB)
  EXPECT_NEAR(a->lane_rate, (4 << 20) / 0.030, 1);
  EXPECT_DOUBLE_EQ(a->achievable, in.rate);
  EXPECT_LE(a->lane_buffer, a->lane_window);
  EXPECT_GE(a->lane_buffer * static_cast<uint64_t>(a->lanes), a->bdp);
  EXPECT_GE(a->inflight_window, a->bdp);
  EXPECT_EQ(a->limit, "net.ipv4.tcp_wmem max 4 MiB");
  EXPECT_EQ(a->advice,
            "net.ipv4.tcp_wmem max 4 MiB caps one lane at 1.1 Gb/s at 30 ms RTT; raise it or use "
            ">= 9 lanes for 10 Gb/s (BDP 36 MiB)");
  EXPECT_GE(a->chunk_size, 64u * 1024);
  EXPECT_LE(a->chunk_size, 4u << 20);
}

TEST(BdpSizing, NamesRmemWhenItIsSmaller) {
  SizingInput in;
  in.rate = 2 * kGbps;
  in.rtt = milliseconds(30);
  in.limits.tcp_wmem_max = 64 << 20;
  in.limits.tcp_rmem_max = 6 << 20;
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(
      a->advice.rfind("net.ipv4.tcp_rmem max 6 MiB caps one lane at 1.7 Gb/s at 30 ms RTT", 0), 0u)
      << a->advice;
  EXPECT_EQ(a->lanes, 2);
}

TEST(BdpSizing, OneLaneWhenWindowCoversBdp) {
  SizingInput in;
  in.rate = 0.1 * kGbps;
  in.rtt = milliseconds(10);
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->lanes, 1);
  EXPECT_EQ(a->advice.rfind("one lane suffices", 0), 0u) << a->advice;
}

TEST(BdpSizing, ExplicitSocketBufferIsCappedByCoreMax) {
  SizingInput in;
  in.rate = kGbps;
  in.rtt = milliseconds(30);
  in.explicit_socket_buffer = true;  // core wmem/rmem_max default 208 KiB
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->lane_window, 212992u);
  EXPECT_EQ(a->lanes, 18);  // ceil(3.75 MB / 208 KiB)
  EXPECT_NE(a->limit.find("net.core.rmem_max"), std::string::npos);
}

TEST(BdpSizing, MaxLanesCapsThroughputAndSaysSo) {
  SizingInput in;
  in.rate = 100 * kGbps;
  in.rtt = milliseconds(40);
  in.max_lanes = 64;
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->lanes, 64);
  EXPECT_NEAR(a->achievable, 64 * (4 << 20) / 0.040, 1);
  EXPECT_LT(a->achievable, in.rate);
  EXPECT_NE(a->advice.find("even 64 lanes reach only"), std::string::npos) << a->advice;
}

TEST(BdpSizing, VerbsOnRxeUses128PacketWindow) {
  SizingInput in;
  in.kind = LaneKind::kVerbs;
  in.rate = kGbps;
  in.rtt = milliseconds(30);
  in.limits.qp_max_outstanding_packets = 128;
  in.limits.path_mtu = 1024;
  auto a = recommendSizing(in);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->lane_window, 128u * 1024);
  EXPECT_EQ(a->lanes, 29);  // ceil(3.75 MB / 128 KiB)
  EXPECT_LE(a->chunk_size, a->lane_window);
  EXPECT_NE(a->advice.find("QP window (128 packets x 1024 B MTU = 128 KiB)"), std::string::npos);
  EXPECT_NE(a->advice.find("4096-byte path MTU"), std::string::npos) << a->advice;
  in.limits.path_mtu = 4096;
  auto b = recommendSizing(in);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->lanes, 8);  // ceil(3.75 MB / 512 KiB)
}

TEST(BdpSizing, RejectsNonsense) {
  SizingInput in;
  EXPECT_EQ(recommendSizing(in).status().code(), StatusCode::kInvalidArgument);
  in.rate = kGbps;
  in.rtt = milliseconds(1);
  in.max_lanes = 0;
  EXPECT_FALSE(recommendSizing(in).isOk());
  in.max_lanes = 4;
  in.kind = LaneKind::kVerbs;
  in.limits.path_mtu = 0;
  EXPECT_FALSE(recommendSizing(in).isOk());
}

}  // namespace
}  // namespace farlink::flow
