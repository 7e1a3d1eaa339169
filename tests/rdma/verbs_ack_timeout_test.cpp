// The verbs QP's local ACK timeout sized from the RTT.
// AckTimeoutRule: the rule and the connect private data (pure logic).
// AckTimeoutGuest: on Soft-RoCE (tests/rdma/ack_timeout.sh runs it in the
// guest without delay, then under netem): ibv_query_qp on every lane of
// both ends of a channel (ChannelStats::lane[i].ack_timeout). Lane 0 has
// the default; the later lanes' timeouts cover 4 RTTs of the path
// (FARLINK_TEST_NETEM_RTT_MS: what netem adds), and without delay they are
// shorter than an 80 ms RTT needs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_support.h"
#include "transport/verbs/verbs_ack_timeout.h"

namespace farlink::test {
namespace {

using verbs::ackTimeoutForRtt;
using verbs::ackTimeoutUs;

TEST(AckTimeoutRule, CoversFourRttsWithinTheBounds) {
  EXPECT_EQ(ackTimeoutForRtt(0), verbs::kDefaultAckTimeout);  // not measured
  EXPECT_EQ(ackTimeoutForRtt(-5), verbs::kDefaultAckTimeout);
  EXPECT_EQ(ackTimeoutForRtt(50), verbs::kMinAckTimeout);  // a LAN: the floor
  for (double rtt_us : {1e3, 5e3, 20e3, 40e3, 100e3, 250e3}) {
    uint8_t t = ackTimeoutForRtt(rtt_us);
    EXPECT_GE(ackTimeoutUs(t), 4 * rtt_us) << rtt_us;
    if (t > verbs::kMinAckTimeout) {
      EXPECT_LT(ackTimeoutUs(t - 1), 4 * rtt_us) << "not the smallest";
    }
  }
  EXPECT_EQ(ackTimeoutForRtt(20e3), 16);  // the floor, 268 ms, for a 20 ms RTT
  EXPECT_EQ(ackTimeoutForRtt(80e3), 17);  // 537 ms for 80 ms
  EXPECT_EQ(ackTimeoutForRtt(60e6), verbs::kMaxAckTimeout);
}

TEST(AckTimeoutRule, ConnectDataRoundTripsAndRejectsStrangers) {
  uint8_t d[56] = {};  // the CM pads private data with zeros
  EXPECT_EQ(verbs::decodeConnectData(d, sizeof d), 0u);
  EXPECT_EQ(verbs::decodeConnectData(nullptr, 0), 0u);
  verbs::encodeConnectData(20123, d);
  EXPECT_EQ(verbs::decodeConnectData(d, sizeof d), 20123u);
  EXPECT_EQ(verbs::decodeConnectData(d, verbs::kConnectDataSize - 1), 0u);  // short
  d[0] = 'X';
  EXPECT_EQ(verbs::decodeConnectData(d, sizeof d), 0u);
}

TEST(AckTimeoutGuest, LanesOfBothEndsCoverTheRtt) {
  if (std::string why = transportUnavailable("verbs"); !why.empty()) {
    if (std::getenv("RDMA_VM") != nullptr) FAIL() << "verbs unavailable in the RDMA guest: " << why;
    GTEST_SKIP() << "verbs: " << why;
  }
  const char* env = std::getenv("FARLINK_TEST_NETEM_RTT_MS");
  const double netem_rtt_us = env ? std::atof(env) * 1e3 : 0;
  ChannelOptions o;
  o.lanes = 4;
  {
    // Under QEMU TCG the first run of any code path (translation, page
    // faults over 9p) adds tens of ms to the first round trips; a warm-up
    // channel keeps that emulation cost out of the RTT lane 0 measures.
    ChannelPair warm = connectPair("verbs", o, o);
    ASSERT_NE(warm.client, nullptr);
    runConcurrently({[&] { expectSend(*warm.client, 1 << 20, 1, 7); },
                     [&] { expectRecv(*warm.server, 1 << 20, 1, 1 << 20, 7); }});
    runConcurrently({[&] { EXPECT_TRUE(warm.client->close().isOk()); },
                     [&] { EXPECT_TRUE(warm.server->close().isOk()); }});
  }
  ChannelPair p = connectPair("verbs", o, o);
  ASSERT_NE(p.client, nullptr);
  ASSERT_NE(p.server, nullptr);
  // The lanes carry data with these timeouts (no spurious failure).
  runConcurrently({[&] { expectSend(*p.client, 1 << 20, 1, 7); },
                   [&] { expectRecv(*p.server, 1 << 20, 1, 1 << 20, 7); }});
  ChannelStats c = p.client->stats(), s = p.server->stats();
  ASSERT_EQ(c.lane.size(), 4u);
  ASSERT_EQ(s.lane.size(), 4u);
  for (const ChannelStats* st : {&c, &s}) {
    const char* end = st == &c ? "client" : "server";
    EXPECT_EQ(st->lane[0].ack_timeout, verbs::kDefaultAckTimeout) << end << " lane 0";
    for (size_t i = 1; i < st->lane.size(); ++i) {
      const int t = st->lane[i].ack_timeout;
      std::printf("%s lane %zu: ack timeout %d (%.1f ms)\n", end, i, t, ackTimeoutUs(t) / 1e3);
      EXPECT_GE(t, verbs::kMinAckTimeout) << end << " lane " << i;
      EXPECT_LE(t, verbs::kMaxAckTimeout) << end << " lane " << i;
      EXPECT_GE(ackTimeoutUs(t), 4 * netem_rtt_us) << end << " lane " << i;
      if (netem_rtt_us == 0) {
        EXPECT_LT(ackTimeoutUs(t), 4 * 80e3) << end << " lane " << i << ": no delay, yet long-link sized";
      }
      // The listener sizes its QPs from the RTT the client measured.
      EXPECT_EQ(t, c.lane[i].ack_timeout) << end << " lane " << i;
    }
  }
  runConcurrently({[&] { EXPECT_TRUE(p.client->close().isOk()); },
                   [&] { EXPECT_TRUE(p.server->close().isOk()); }});
}

}  // namespace
}  // namespace farlink::test
