// The plugin's pure parts: the connect-handle and clear-to-send codecs, the
// RDMA rate parser and the FARLINK_NCCL_* settings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "plugin/nccl/clear_to_send.h"
#include "plugin/nccl/config.h"
#include "plugin/nccl/devices.h"
#include "plugin/nccl/handle.h"

namespace farlink::nccl {
namespace {

ConnectHandle sample() {
  ConnectHandle h;
  h.scheme = Scheme::kVerbs;
  h.family = 4;
  h.addr = {10, 77, 0, 2};
  h.port = 40123;
  h.nonce = 0x0123456789abcdefull;
  return h;
}

TEST(Handle, RoundTripsAndNamesItsUri) {
  uint8_t buf[kHandleBytes];
  encodeHandle(sample(), buf);
  auto h = decodeHandle(buf);
  ASSERT_TRUE(h) << h.status().toString();
  EXPECT_EQ(h->scheme, Scheme::kVerbs);
  EXPECT_EQ(h->port, 40123);
  EXPECT_EQ(h->nonce, 0x0123456789abcdefull);
  EXPECT_EQ(h->uri(), "verbs://10.77.0.2:40123");
  ConnectHandle v6 = sample();
  v6.scheme = Scheme::kTcp;
  v6.family = 6;
  v6.addr = {};
  v6.addr[15] = 1;
  encodeHandle(v6, buf);
  EXPECT_EQ(decodeHandle(buf)->uri(), "tcp://[::1]:40123");
}

TEST(Handle, StageSlotIsOutsideTheCheckedBytes) {
  uint8_t buf[kHandleBytes];
  encodeHandle(sample(), buf);
  EXPECT_EQ(readStage(buf), 0u);
  writeStage(buf, 42);
  EXPECT_EQ(readStage(buf), 42u);
  EXPECT_TRUE(decodeHandle(buf)) << "connect's progress must not invalidate the handle";
  static_assert(kStageOffset >= kEncodedSize && kStageOffset + 8 <= kHandleBytes);
}

TEST(Handle, EveryAlteredByteIsRefused) {
  uint8_t good[kHandleBytes];
  encodeHandle(sample(), good);
  for (size_t i = 0; i < kEncodedSize; ++i) {
    uint8_t bad[kHandleBytes];
    std::memcpy(bad, good, sizeof bad);
    bad[i] ^= 0x01;
    auto h = decodeHandle(bad);
    ASSERT_FALSE(h) << "byte " << i;
    EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(h.status().message().find("listen()"), std::string::npos) << "says what to do";
  }
}

TEST(Handle, RefusesFieldsListenNeverWrites) {
  ConnectHandle h = sample();
  uint8_t buf[kHandleBytes];
  h.nonce = 0;
  encodeHandle(h, buf);  // consistent checksum, but no nonce
  EXPECT_FALSE(decodeHandle(buf));
  h = sample();
  h.port = 0;
  encodeHandle(h, buf);
  EXPECT_FALSE(decodeHandle(buf));
  h = sample();
  h.family = 5;
  encodeHandle(h, buf);
  EXPECT_FALSE(decodeHandle(buf));
}

TEST(ClearToSend, RoundTripsEveryTagOfAGroupedReceive) {
  const std::vector<int> tags = {0, 1, -1, 0x7fffffff, 42, 7, 7, -2};
  for (size_t n = 1; n <= tags.size(); ++n) {
    std::array<uint8_t, kCtsMaxBytes> buf{};
    size_t len = encodeCts(std::span<const int>(tags.data(), n), buf);
    EXPECT_EQ(len, 2 + 4 * n);
    auto back = decodeCts(std::span<const uint8_t>(buf.data(), len));
    ASSERT_TRUE(back) << back.status().toString();
    EXPECT_EQ(*back, std::vector<int>(tags.begin(), tags.begin() + static_cast<long>(n)));
  }
}

TEST(ClearToSend, RefusesEveryOtherShape) {
  std::array<uint8_t, kCtsMaxBytes> buf{};
  const int one = 5;
  size_t len = encodeCts(std::span<const int>(&one, 1), buf);
  auto refused = [&](std::vector<uint8_t> bytes, const char* why) {
    auto r = decodeCts(bytes);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.status().code(), StatusCode::kProtocolError) << why;
    EXPECT_NE(r.status().message().find("clear-to-send"), std::string::npos) << why;
  };
  std::vector<uint8_t> good(buf.begin(), buf.begin() + static_cast<long>(len));
  refused({}, "empty");
  refused({kCtsVersion}, "no count");
  auto v = good;
  v[0] = 2;
  refused(v, "unknown version");
  v = good;
  v[1] = 0;
  refused(v, "count 0");
  v = good;
  v[1] = kCtsMaxTags + 1;
  refused(v, "count above maxRecvs");
  v = good;
  v.pop_back();
  refused(v, "truncated tag");
  v = good;
  v.push_back(0);
  refused(v, "trailing byte");
}

TEST(Devices, ParsesRdmaPortRates) {
  EXPECT_EQ(parseIbRateMbps("100 Gb/sec (4X EDR)"), 100000);
  EXPECT_EQ(parseIbRateMbps("2.5 Gb/sec (1X SDR)"), 2500);
  EXPECT_EQ(parseIbRateMbps(""), 0);
  EXPECT_EQ(parseIbRateMbps("fast"), 0);
  EXPECT_EQ(parseIbRateMbps("10 Mb/sec"), 0);
}

TEST(Config, ReadsThePluginVariables) {
  setenv("FARLINK_NCCL_TRANSPORT", "verbs", 1);
  setenv("FARLINK_NCCL_IFNAME", "eth0,,ib0", 1);
  setenv("FARLINK_NCCL_LATENCY_US", "15000", 1);
  setenv("FARLINK_LANES", "8", 1);
  auto c = PluginConfig::fromEnvironment();
  ASSERT_TRUE(c) << c.status().toString();
  EXPECT_EQ(c->scheme, Scheme::kVerbs);
  EXPECT_EQ(c->ifnames, (std::vector<std::string>{"eth0", "ib0"}));
  EXPECT_FLOAT_EQ(c->latency_us, 15000.0f);
  EXPECT_EQ(c->options.lanes, 8);
  EXPECT_NE(c->describe().find("transport=verbs"), std::string::npos);
  setenv("FARLINK_NCCL_TRANSPORT", "carrier-pigeon", 1);
  auto bad = PluginConfig::fromEnvironment();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("FARLINK_NCCL_TRANSPORT"), std::string::npos);
  setenv("FARLINK_NCCL_TRANSPORT", "tcp", 1);
  setenv("FARLINK_NCCL_LATENCY_US", "-3", 1);
  EXPECT_FALSE(PluginConfig::fromEnvironment());
  for (const char* v : {"FARLINK_NCCL_TRANSPORT", "FARLINK_NCCL_IFNAME", "FARLINK_NCCL_LATENCY_US",
                        "FARLINK_LANES"})
    unsetenv(v);
}

TEST(Devices, IfnameSelectsLoopback) {
  PluginConfig c;
  c.scheme = Scheme::kTcp;
  c.ifnames = {"lo"};
  auto d = findDevices(c);
  ASSERT_TRUE(d) << d.status().toString();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].ifname, "lo");
  EXPECT_GT((*d)[0].speed_mbps, 0);
  EXPECT_FALSE((*d)[0].speed_source.empty());
  c.ifnames = {"no-such-if0"};
  auto none = findDevices(c);
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("FARLINK_NCCL_IFNAME"), std::string::npos);
}

}  // namespace
}  // namespace farlink::nccl
