// What a middlebox does when it kills a connection: the next segment of a
// chosen TCP connection never arrives; a RST with that segment's sequence
// number arrives in its place. Forwarded in order behind the segments before
// it, the RST carries exactly the receiver's next expected sequence number,
// so the receiver accepts it (RFC 5961) and its kernel then answers the
// other end's next segment with a RST of its own: both ends see the reset.
// Pure packet logic (IPv4 only, as the emulator's link is); no I/O.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace farlink::wanem {

// One TCP connection, the same key in both directions.
struct FlowKey {
  std::array<uint8_t, 6> lo{}, hi{};  // address+port of each end, ordered
  bool operator==(const FlowKey&) const = default;
};

// The connection of an IPv4 TCP segment that may be replaced (no SYN, FIN or
// RST; `port` 0 or either end's port); false for anything else.
bool resettableFlow(const uint8_t* ip, uint32_t len, uint16_t port, FlowKey* key);
// Rewrites the IPv4 TCP segment at `ip` in place into the RST that replaces
// it (IP and TCP headers only, options dropped, checksums computed) and
// returns its length. The caller checked resettableFlow().
uint32_t rewriteAsReset(uint8_t* ip);

// Connections still to reset, shared by both directions of a link.
class ResetPlan {
 public:
  void arm(int connections, uint16_t port);
  // Whether the segment at `ip` is the one to replace now (and counts it):
  // its connection matches, is not reset yet, and the plan has some left.
  bool take(const uint8_t* ip, uint32_t len);
  // Cheap check for the packet path: anything left to reset at all?
  bool armed() const { return left_.load(std::memory_order_relaxed) > 0; }
  int left() const { return left_.load(); }

 private:
  std::mutex mu_;
  std::atomic<int> left_{0};
  uint16_t port_ = 0;
  std::vector<FlowKey> done_;  // reset in this plan: their later segments pass
};

}  // namespace farlink::wanem
