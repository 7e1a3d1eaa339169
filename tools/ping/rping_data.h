// The payload rdma-core's rping sends, reproduced so `farlink ping -v` output
// reads like rping's: "rdma-ping-<n>: " then the characters 'A'..'z' (65..122)
// cycling from a start character that advances by one each ping; the last
// byte is NUL so the buffer prints as a string.
#pragma once

#include <cstddef>
#include <cstdint>

namespace farlink::ping {

// rping's RPING_MIN_BUFSIZE: room for the format and the largest int.
inline constexpr size_t kMinSize = 26;
// rping accepts up to RPING_BUFSIZE - 1.
inline constexpr size_t kMaxSize = 65535;
inline constexpr size_t kDefaultSize = 64;

// Fills `size` (>= kMinSize) bytes for ping number `ping` (0-based).
void fillRpingData(char* buf, size_t size, uint64_t ping);

}  // namespace farlink::ping
