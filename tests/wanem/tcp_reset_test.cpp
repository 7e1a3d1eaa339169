// The segment a middlebox reset replaces (tools/wanem/tcp_reset): which
// packets qualify, the RST's header fields and checksums, and that a plan
// resets each connection once, in either direction, as many as it was armed for.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcp_reset.h"

namespace farlink::wanem {
namespace {

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{get16(p)} << 16 | get16(p + 2); }

// Folded one's-complement sum: 0xffff over data that carries its checksum.
uint16_t onesSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n % 2) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// An IPv4 TCP segment 10.99.0.1:sport -> 10.99.0.2:dport with `payload`
// bytes, 12 bytes of TCP options, and the given flags.
std::vector<uint8_t> segment(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload,
                             bool reverse = false) {
  std::vector<uint8_t> p(20 + 32 + payload, 0xab);
  uint8_t* ip = p.data();
  ip[0] = 0x45;
  ip[1] = 0;
  ip[2] = static_cast<uint8_t>(p.size() >> 8);
  ip[3] = static_cast<uint8_t>(p.size());
  ip[6] = 0x40;
  ip[7] = 0;
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t a[4] = {10, 99, 0, 1}, b[4] = {10, 99, 0, 2};
  std::memcpy(ip + 12, reverse ? b : a, 4);
  std::memcpy(ip + 16, reverse ? a : b, 4);
  uint8_t* tcp = ip + 20;
  tcp[0] = static_cast<uint8_t>(sport >> 8);
  tcp[1] = static_cast<uint8_t>(sport);
  tcp[2] = static_cast<uint8_t>(dport >> 8);
  tcp[3] = static_cast<uint8_t>(dport);
  const uint8_t seq[4] = {0x12, 0x34, 0x56, 0x78};
  std::memcpy(tcp + 4, seq, 4);
  tcp[12] = 8 << 4;  // 32-byte header
  tcp[13] = flags;
  return p;
}

constexpr uint8_t kAck = 0x10, kPsh = 0x08, kSyn = 0x02, kFin = 0x01, kRst = 0x04;

TEST(TcpReset, ReplacesADataSegmentByAValidRst) {
  std::vector<uint8_t> p = segment(51000, 18515, kAck | kPsh, 1448);
  FlowKey key;
  ASSERT_TRUE(resettableFlow(p.data(), static_cast<uint32_t>(p.size()), 0, &key));
  const uint32_t len = rewriteAsReset(p.data());
  ASSERT_EQ(len, 40u);
  const uint8_t* ip = p.data();
  const uint8_t* tcp = ip + 20;
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(get16(ip + 2), 40u);
  EXPECT_EQ(ip[9], 6);
  EXPECT_EQ(onesSum(ip, 20), 0xffff) << "IP header checksum";
  EXPECT_EQ(get16(tcp), 51000u);
  EXPECT_EQ(get16(tcp + 2), 18515u);
  EXPECT_EQ(get32(tcp + 4), 0x12345678u) << "the replaced segment's sequence number";
  EXPECT_EQ(tcp[12] >> 4, 5);
  EXPECT_EQ(tcp[13], kRst);
  uint32_t pseudo = onesSum(ip + 12, 8);
  pseudo += 6 + 20;
  EXPECT_EQ(onesSum(tcp, 20, pseudo), 0xffff) << "TCP checksum over the pseudo header";
}

TEST(TcpReset, OnlyEstablishedIpv4TcpSegmentsQualify) {
  FlowKey key;
  for (uint8_t flags : {kSyn, uint8_t(kSyn | kAck), uint8_t(kFin | kAck), uint8_t(kRst | kAck)}) {
    std::vector<uint8_t> p = segment(1, 2, flags, 0);
    EXPECT_FALSE(resettableFlow(p.data(), uint32_t(p.size()), 0, &key)) << int(flags);
  }
  std::vector<uint8_t> ack = segment(1, 2, kAck, 0);  // a pure ACK resets as well
  EXPECT_TRUE(resettableFlow(ack.data(), uint32_t(ack.size()), 0, &key));
  std::vector<uint8_t> udp = segment(1, 2, kAck, 10);
  udp[9] = 17;
  EXPECT_FALSE(resettableFlow(udp.data(), uint32_t(udp.size()), 0, &key));
  std::vector<uint8_t> v6 = segment(1, 2, kAck, 10);
  v6[0] = 0x60;
  EXPECT_FALSE(resettableFlow(v6.data(), uint32_t(v6.size()), 0, &key));
  std::vector<uint8_t> frag = segment(1, 2, kAck, 10);
  frag[7] = 0x10;  // fragment offset 16: no TCP header here
  EXPECT_FALSE(resettableFlow(frag.data(), uint32_t(frag.size()), 0, &key));
  EXPECT_FALSE(resettableFlow(ack.data(), 39, 0, &key)) << "truncated";
  EXPECT_FALSE(resettableFlow(ack.data(), uint32_t(ack.size()), 7, &key)) << "other port";
  EXPECT_TRUE(resettableFlow(ack.data(), uint32_t(ack.size()), 2, &key));
  EXPECT_TRUE(resettableFlow(ack.data(), uint32_t(ack.size()), 1, &key));
}

TEST(TcpReset, PlanKillsEachConnectionOnceAndKeepsItDeadInEitherDirection) {
  ResetPlan plan;
  std::vector<uint8_t> lane1 = segment(40001, 18515, kAck, 100);
  std::vector<uint8_t> lane1_back = segment(18515, 40001, kAck, 0, true);
  std::vector<uint8_t> lane2 = segment(40002, 18515, kAck, 100);
  std::vector<uint8_t> other = segment(40003, 9999, kAck, 100);
  auto take = [&](const std::vector<uint8_t>& p) { return plan.take(p.data(), uint32_t(p.size())); };
  EXPECT_FALSE(plan.armed());
  EXPECT_EQ(take(lane1), ResetTake::kPass) << "nothing armed";
  plan.arm(2, 18515);
  EXPECT_TRUE(plan.armed());
  EXPECT_EQ(take(other), ResetTake::kPass) << "port filter";
  EXPECT_EQ(take(lane1), ResetTake::kKill);
  EXPECT_EQ(take(lane1), ResetTake::kFollow) << "the same connection again: still dead";
  EXPECT_EQ(take(lane1_back), ResetTake::kFollow) << "the same connection, other direction";
  EXPECT_EQ(plan.left(), 1);
  EXPECT_EQ(take(lane2), ResetTake::kKill);
  EXPECT_EQ(plan.left(), 0);
  EXPECT_TRUE(plan.armed()) << "killed connections stay dead after the plan is used up";
  EXPECT_EQ(take(other), ResetTake::kPass);
  EXPECT_EQ(take(lane2), ResetTake::kFollow);
  plan.arm(1, 0);  // any port; a new plan forgets the old connections
  EXPECT_EQ(take(lane1_back), ResetTake::kKill);
  EXPECT_EQ(take(other), ResetTake::kPass) << "the plan is used up";
  plan.arm(0, 0);
  EXPECT_FALSE(plan.armed());
  EXPECT_EQ(take(lane1), ResetTake::kPass);
}

}  // namespace
}  // namespace farlink::wanem
