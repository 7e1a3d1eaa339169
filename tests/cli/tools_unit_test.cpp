// The tools' pure logic: size parsing, report maths, perf control codec,
// payload patterns and rping's data format.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/report.h"
#include "perf/control.h"
#include "perf/windows.h"
#include "ping/rping_data.h"

namespace farlink {
namespace {

TEST(ParseSize, SuffixesAreBinary) {
  EXPECT_EQ(tools::parseSize("0"), 0u);
  EXPECT_EQ(tools::parseSize("65536"), 65536u);
  EXPECT_EQ(tools::parseSize("64K"), 65536u);
  EXPECT_EQ(tools::parseSize("64k"), 65536u);
  EXPECT_EQ(tools::parseSize("1M"), 1u << 20);
  EXPECT_EQ(tools::parseSize("1MiB"), 1u << 20);
  EXPECT_EQ(tools::parseSize("2G"), uint64_t{2} << 30);
  EXPECT_EQ(tools::parseSize("2GB"), uint64_t{2} << 30);
  EXPECT_EQ(tools::parseSize("100B"), 100u);
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
  for (const char* bad :
       {"", "K", "-1", "1.5M", "12X", "1KK", " 1", "1 K", "99999999999999999999", "17179869184G"})
    EXPECT_FALSE(tools::parseSize(bad).has_value()) << bad;
}

TEST(FormatSize, UsesTheLargestExactUnit) {
  EXPECT_EQ(tools::formatSize(65536), "64 KiB");
  EXPECT_EQ(tools::formatSize(1000), "1000 B");
  EXPECT_EQ(tools::formatSize(3u << 20), "3 MiB");
}

TEST(HostPort, BracketsIpv6) {
  EXPECT_EQ(tools::hostPort("10.0.0.2", 7174), "10.0.0.2:7174");
  EXPECT_EQ(tools::hostPort("::1", 7174), "[::1]:7174");
  EXPECT_EQ(tools::makeUri("tcp", "fe80::1", 1), "tcp://[fe80::1]:1");
}

TEST(Latency, StatsFromKnownSamples) {
  std::vector<double> s;
  for (int i = 1000; i >= 1; --i) s.push_back(i);  // 1..1000, unsorted
  const tools::LatencyStats st = tools::summarizeLatency(s);
  EXPECT_EQ(st.min_us, 1);
  EXPECT_EQ(st.max_us, 1000);
  EXPECT_EQ(st.typical_us, 501);  // element n/2 of the sorted samples
  EXPECT_DOUBLE_EQ(st.avg_us, 500.5);
  EXPECT_EQ(st.p99_us, 990);
  EXPECT_EQ(st.p999_us, 999);
  EXPECT_NEAR(st.stdev_us, 288.675, 0.001);
}

TEST(Latency, SingleSample) {
  std::vector<double> s{7.5};
  const tools::LatencyStats st = tools::summarizeLatency(s);
  EXPECT_EQ(st.min_us, 7.5);
  EXPECT_EQ(st.p999_us, 7.5);
  EXPECT_EQ(st.stdev_us, 0);
}

TEST(Report, JsonKeys) {
  tools::BwRow bw{"tcp", 4, 65536, 5000, 12.3456, 11.1111, 0.0212, false, {}};
  EXPECT_EQ(tools::toJson(bw),
            R"({"mode":"bw","transport":"tcp","lanes":4,"bidir":false,"bytes":65536,)"
            R"("iterations":5000,"bw_peak_gbps":12.346,"bw_avg_gbps":11.111,)"
            R"("msg_rate_mpps":0.0212})");
}

TEST(Report, PathSummaryOverLanes) {
  std::vector<LaneStats> lanes(2);
  lanes[0].rtt_us = 30000;
  lanes[0].min_rtt_us = 29000;
  lanes[0].delivery_rate_bps = 400'000'000;
  lanes[0].retransmits = 3;
  lanes[0].congestion = "cubic";
  lanes[1].rtt_us = 32000;
  lanes[1].min_rtt_us = 28500;
  lanes[1].delivery_rate_bps = 500'000'000;
  lanes[1].retransmits = 4;
  tools::PathSummary p = tools::summarizePath(lanes);
  EXPECT_DOUBLE_EQ(p.rtt_ms, 31.0);
  EXPECT_DOUBLE_EQ(p.min_rtt_ms, 28.5);
  EXPECT_DOUBLE_EQ(p.delivery_gbps, 0.9);
  EXPECT_EQ(p.retransmits, 7u);
  EXPECT_EQ(p.congestion, "cubic");
  tools::BwRow bw{"tcp", 2, 65536, 10, 1, 1, 0.5, false, {}};
  p.resumes = 1;
  bw.path = p;
  EXPECT_NE(tools::toJson(bw).find(
                R"("path":{"rtt_ms":31.0,"min_rtt_ms":28.5,"delivery_gbps":0.9,"retransmits":7,)"
                R"("resumes":1,"congestion":"cubic"})"),
            std::string::npos)
      << tools::toJson(bw);
}

TEST(Report, NoPathWhenTheTransportCannotTell) {
  tools::LatRow lat;
  lat.path = tools::summarizePath({LaneStats{}});
  EXPECT_EQ(tools::toJson(lat).find("path"), std::string::npos);
}

perf::ControlMsg sampleMsg() {
  perf::ControlMsg m;
  m.type = perf::MsgType::kResult;
  m.spec.mode = perf::Mode::kLat;
  m.spec.flags = perf::kFlagVerify;
  m.spec.depth = 17;
  m.spec.size = 123456789;
  m.spec.iters = 42;
  m.count = 99;
  m.report.messages = 1;
  m.report.bytes = 2;
  m.report.elapsed_ns = 3;
  m.report.peak_bps = 4;
  m.report.excess = 5;
  m.report.verify_errors = 6;
  m.report.latency_us[6] = 1.25;
  m.text = "hello";
  return m;
}

TEST(Control, RoundTrip) {
  const perf::ControlMsg m = sampleMsg();
  const std::vector<uint8_t> bytes = perf::encodeControl(m);
  EXPECT_EQ(bytes.size(), perf::kControlFixedSize + 5);
  EXPECT_EQ(std::memcmp(bytes.data(), "FLPC", 4), 0);
  perf::ControlMsg d;
  ASSERT_TRUE(perf::decodeControl(bytes.data(), bytes.size(), &d));
  EXPECT_EQ(d.type, m.type);
  EXPECT_EQ(d.spec.mode, m.spec.mode);
  EXPECT_EQ(d.spec.flags, m.spec.flags);
  EXPECT_EQ(d.spec.depth, m.spec.depth);
  EXPECT_EQ(d.spec.size, m.spec.size);
  EXPECT_EQ(d.spec.iters, m.spec.iters);
  EXPECT_EQ(d.count, m.count);
  EXPECT_EQ(d.report.excess, 5u);
  EXPECT_EQ(d.report.verify_errors, 6u);
  EXPECT_EQ(d.report.latency_us[6], 1.25);
  EXPECT_EQ(d.text, "hello");
}

TEST(Control, LittleEndianOnTheWire) {
  perf::ControlMsg m;
  m.spec.size = 0x0102030405060708;
  const std::vector<uint8_t> b = perf::encodeControl(m);
  // magic(4) version(2) type(2) mode(1) flags(1) depth(2) reserved(4) size(8)
  EXPECT_EQ(b[16], 0x08);
  EXPECT_EQ(b[23], 0x01);
  EXPECT_EQ(b[4], 1);  // version 1
}

TEST(Control, RejectsMalformedInput) {
  std::vector<uint8_t> good = perf::encodeControl(sampleMsg());
  perf::ControlMsg d;
  EXPECT_FALSE(perf::decodeControl(good.data(), 10, &d));
  auto corrupt = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> b = good;
    b[at] = v;
    return perf::decodeControl(b.data(), b.size(), &d);
  };
  EXPECT_EQ(corrupt(0, 'X').code(), StatusCode::kProtocolError);  // magic
  EXPECT_EQ(corrupt(4, 2).code(), StatusCode::kProtocolError);    // version
  EXPECT_EQ(corrupt(6, 0).code(), StatusCode::kProtocolError);    // type 0
  EXPECT_EQ(corrupt(6, 77).code(), StatusCode::kProtocolError);   // unknown type
  EXPECT_EQ(corrupt(8, 9).code(), StatusCode::kProtocolError);    // unknown mode
  const size_t text_len_at = perf::kControlFixedSize - 2;
  EXPECT_EQ(corrupt(text_len_at, 200).code(), StatusCode::kProtocolError);  // text overruns
  std::vector<uint8_t> longer = good;
  longer.push_back('!');
  EXPECT_FALSE(perf::decodeControl(longer.data(), longer.size(), &d));
}

TEST(Control, SpecLimits) {
  perf::TestSpec ok;
  ok.iters = 10;
  EXPECT_EQ(perf::checkSpec(ok), "");
  perf::TestSpec s = ok;
  s.size = 0;
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.size = perf::kMaxMessageSize + 1;
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.depth = 0;
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.duration_ms = 1000;  // both iters and duration
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.iters = 0;  // neither
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.flags = 0x80;
  EXPECT_NE(perf::checkSpec(s), "");
  s = ok;
  s.mode = perf::Mode::kLat;
  s.flags = perf::kFlagBidir;
  EXPECT_NE(perf::checkSpec(s), "");
}

TEST(Pattern, DetectsAnySingleByteChange) {
  std::vector<uint8_t> b(1003);
  perf::fillPattern(b.data(), b.size(), 7);
  EXPECT_TRUE(perf::checkPattern(b.data(), b.size(), 7));
  EXPECT_FALSE(perf::checkPattern(b.data(), b.size(), 8));  // another message's pattern
  for (size_t i : {size_t{0}, size_t{500}, size_t{1002}}) {
    b[i] ^= 0x10;
    EXPECT_FALSE(perf::checkPattern(b.data(), b.size(), 7)) << i;
    b[i] ^= 0x10;
  }
}

// Unverified windows share one buffer (as iperf3 and perftest do); verified
// ones get a buffer per message in flight, within 64 MiB, at least two.
TEST(Window, SlotsPerWindow) {
  using farlink::perf::slotCount;
  EXPECT_EQ(slotCount(4 << 20, 32, false), 1u);
  EXPECT_EQ(slotCount(64, 1024, false), 1u);
  EXPECT_EQ(slotCount(4 << 20, 32, true), 16u);
  EXPECT_EQ(slotCount(64, 32, true), 32u);
  EXPECT_EQ(slotCount(size_t{256} << 20, 32, true), 2u);
  EXPECT_EQ(slotCount(64, 1, true), 1u);
}

TEST(RpingData, MatchesRpingsFormat) {
  std::vector<char> b(64);
  ping::fillRpingData(b.data(), b.size(), 0);
  EXPECT_STREQ(b.data(), "rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr");
  EXPECT_EQ(b[63], '\0');
  ping::fillRpingData(b.data(), b.size(), 57);  // start char 'z', then wraps to 'A'
  EXPECT_EQ(std::string(b.data()).substr(0, 16), "rdma-ping-57: zA");
  ping::fillRpingData(b.data(), b.size(), 58);  // start wraps back to 'A'
  EXPECT_EQ(std::string(b.data()).substr(0, 15), "rdma-ping-58: A");
}

TEST(RpingData, MinimumSizeHoldsTheLargestIntPrefix) {
  std::vector<char> b(ping::kMinSize);
  ping::fillRpingData(b.data(), b.size(), 2147483647);
  EXPECT_STREQ(b.data(), "rdma-ping-2147483647: HIJ");
}

}  // namespace
}  // namespace farlink
