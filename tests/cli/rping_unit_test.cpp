// farlink ping --rping's pure parts, checked against rping's wire layout and
// data pattern as rdma-core's librdmacm/examples/rping.c defines them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ping/rping_data.h"
#include "ping/rping_wire.h"

namespace farlink::ping {
namespace {

TEST(RpingAdvert, BigEndianFieldsInRpingOrder) {
  const AdvertBytes b = encodeAdvert({0x0102030405060708, 0x0a0b0c0d, 64});
  const AdvertBytes want = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                            0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x40};
  EXPECT_EQ(b, want);
}

TEST(RpingAdvert, RoundTripsExtremes) {
  for (const RpingAdvert a : {RpingAdvert{}, RpingAdvert{~uint64_t{0}, ~0u, ~0u},
                              RpingAdvert{0x7f00deadbeef0010, 0x1234, 1u << 20}}) {
    const AdvertBytes b = encodeAdvert(a);
    Result<RpingAdvert> back = decodeAdvert(b.data(), b.size());
    ASSERT_TRUE(back) << back.status().toString();
    EXPECT_EQ(*back, a);
  }
}

TEST(RpingAdvert, RejectsAnyOtherLength) {
  std::vector<uint8_t> buf(64, 0);
  for (size_t len : {size_t{0}, size_t{1}, size_t{15}, size_t{17}, size_t{64}}) {
    Result<RpingAdvert> r = decodeAdvert(buf.data(), len);
    ASSERT_FALSE(r) << len;
    EXPECT_EQ(r.status().code(), StatusCode::kProtocolError);
    EXPECT_NE(r.status().message().find(std::to_string(len) + "-byte"), std::string::npos)
        << r.status().message();
  }
}

TEST(RpingEcho, StringPlusNulLikeRpingsStrlenPlusOne) {
  const char data[] = "rdma-ping-0: AB\0junk";
  Result<size_t> n = echoLength(data, sizeof data, sizeof data);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 16u);  // "rdma-ping-0: AB" + NUL
}

TEST(RpingEcho, WithoutNulStopsAtWhatWasRead) {
  const std::string data(40, 'x');
  Result<size_t> n = echoLength(data.data(), 32, 64);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 32u);
}

TEST(RpingEcho, RefusesASinkTooSmall) {
  std::vector<char> data(128, 'x');
  data.back() = '\0';
  Result<size_t> n = echoLength(data.data(), data.size(), 64);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.status().code(), StatusCode::kProtocolError);
  EXPECT_NE(n.status().message().find("-S"), std::string::npos);
  EXPECT_TRUE(echoLength(data.data(), data.size(), 128));
}

TEST(RpingCompare, FirstDifference) {
  const std::string a = "rdma-ping-3: DEFG";
  std::string b = a;
  EXPECT_EQ(firstDifference(a.data(), b.data(), a.size()), a.size());
  b[14] = 'x';
  EXPECT_EQ(firstDifference(a.data(), b.data(), a.size()), 14u);
  b[0] = 'x';
  EXPECT_EQ(firstDifference(a.data(), b.data(), a.size()), 0u);
}

// rping's pattern, restated from its definition: after the prefix the bytes
// cycle through 65..122 starting at 65 + (ping mod 58); the last byte is NUL.
void expectPattern(const std::vector<char>& b, uint64_t ping) {
  const std::string prefix = "rdma-ping-" + std::to_string(ping) + ": ";
  ASSERT_EQ(std::string(b.data(), prefix.size()), prefix);
  int want = 65 + static_cast<int>(ping % 58);
  for (size_t i = prefix.size(); i + 1 < b.size(); ++i) {
    ASSERT_EQ(b[i], static_cast<char>(want)) << "byte " << i << " of ping " << ping;
    if (++want > 122) want = 65;
  }
  EXPECT_EQ(b.back(), '\0');
}

TEST(RpingData, OneMebibyteFollowsTheCycle) {
  std::vector<char> b(size_t{1} << 20);
  for (uint64_t ping : {0, 1, 57, 58, 9, 116}) {
    fillRpingData(b.data(), b.size(), ping);
    expectPattern(b, ping);
  }
}

TEST(RpingData, WrapsFromZBackToA) {
  std::vector<char> b(100);
  fillRpingData(b.data(), b.size(), 0);
  const size_t prefix = std::string("rdma-ping-0: ").size();
  EXPECT_EQ(b[prefix + 57], 'z');
  EXPECT_EQ(b[prefix + 58], 'A');
}

}  // namespace
}  // namespace farlink::ping
