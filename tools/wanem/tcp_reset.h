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

// What the plan does with one segment.
enum class ResetTake : uint8_t {
  kPass,     // forward it unchanged
  kKill,     // the first segment of a connection the plan kills now
  kFollow,   // a later segment of a killed connection
};

// Connections to kill, shared by both directions of a link. A killed
// connection stays dead, as behind a firewall that dropped its state: each
// of its later segments (either direction) becomes a RST too. One RST is not
// always enough: if it lands on a segment that follows a loss or repeats one
// already delivered, its sequence number is not the receiver's next one and
// the receiver ignores it (RFC 5961); the retransmission that fills the hole,
// or the challenge ACK, becomes the RST that is accepted.
class ResetPlan {
 public:
  void arm(int connections, uint16_t port);
  ResetTake take(const uint8_t* ip, uint32_t len);
  // Cheap check for the packet path: any connection to kill or killed?
  bool armed() const { return active_.load(std::memory_order_relaxed); }
  int left() const { return left_.load(); }

 private:
  std::mutex mu_;
  std::atomic<int> left_{0};
  std::atomic<bool> active_{false};
  uint16_t port_ = 0;
  std::vector<FlowKey> killed_;  // by this plan; a new plan forgets them
};

}  // namespace farlink::wanem
