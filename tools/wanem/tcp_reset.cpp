#include "tcp_reset.h"

#include <algorithm>
#include <cstring>

namespace farlink::wanem {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The Internet checksum (RFC 1071) of `n` bytes, continuing from `sum`.
uint32_t sumBytes(const uint8_t* p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1]) << 8;
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

bool resettableFlow(const uint8_t* ip, uint32_t len, uint16_t port, FlowKey* key) {
  if (len < 20 || ip[0] >> 4 != 4) return false;
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < 20 || len < ihl + 20 || ip[9] != kTcp) return false;
  if ((get16(ip + 6) & 0x1fff) != 0) return false;  // a later fragment has no TCP header
  const uint8_t* tcp = ip + ihl;
  if (tcp[13] & (kSyn | kFin | kRst)) return false;
  const uint16_t sport = get16(tcp), dport = get16(tcp + 2);
  if (port != 0 && sport != port && dport != port) return false;
  std::array<uint8_t, 6> a{}, b{};
  std::memcpy(a.data(), ip + 12, 4);
  std::memcpy(a.data() + 4, tcp, 2);
  std::memcpy(b.data(), ip + 16, 4);
  std::memcpy(b.data() + 4, tcp + 2, 2);
  key->lo = std::min(a, b);
  key->hi = std::max(a, b);
  return true;
}

uint32_t rewriteAsReset(uint8_t* ip) {
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  uint8_t* tcp = ip + ihl;
  // Keep addresses, ports and the sequence number; drop IP options, TCP
  // options and payload.
  std::memmove(ip + 20, tcp, 20);
  ip[0] = 0x45;
  tcp = ip + 20;
  constexpr uint32_t kLen = 40;
  put16(ip + 2, kLen);
  put16(ip + 6, 0x4000);  // don't fragment
  put16(ip + 10, 0);
  put16(ip + 10, fold(sumBytes(ip, 20, 0)));
  std::memset(tcp + 8, 0, 4);  // ack number: not used with RST alone
  tcp[12] = 5 << 4;            // data offset: 20 bytes, no options
  tcp[13] = kRst;
  put16(tcp + 14, 0);  // window
  put16(tcp + 16, 0);  // checksum, computed below
  put16(tcp + 18, 0);  // urgent pointer
  uint32_t sum = sumBytes(ip + 12, 8, 0);  // pseudo header: addresses, protocol, length
  sum += kTcp;
  sum += 20;
  put16(tcp + 16, fold(sumBytes(tcp, 20, sum)));
  return kLen;
}

void ResetPlan::arm(int connections, uint16_t port) {
  std::lock_guard lock(mu_);
  port_ = port;
  killed_.clear();
  left_.store(connections);
  active_.store(connections > 0);
}

ResetTake ResetPlan::take(const uint8_t* ip, uint32_t len) {
  std::lock_guard lock(mu_);
  FlowKey key;
  if (!resettableFlow(ip, len, port_, &key)) return ResetTake::kPass;
  if (std::find(killed_.begin(), killed_.end(), key) != killed_.end()) return ResetTake::kFollow;
  if (left_ <= 0) return ResetTake::kPass;
  killed_.push_back(key);
  left_.fetch_sub(1);
  return ResetTake::kKill;
}

}  // namespace farlink::wanem
