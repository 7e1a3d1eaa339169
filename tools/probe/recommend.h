// Sizing arithmetic for farlink probe: bandwidth-delay product, lanes,
// in-flight window and socket buffers under the kernel's limits. Pure logic
// except readKernelLimits(). (lib/flow will own BDP sizing; switch to it then.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "farlink/status.h"
#include "probe/probe_data.h"

namespace farlink::probe {

// Most lanes recommend() proposes: past this, more connections mostly add
// contention; raising the buffer limits is the better fix.
inline constexpr int kMaxRecommendedLanes = 16;

// tc-style rates, decimal multiples: "10gbit", "500mbit", "1.5Gbit", "100k",
// "64000" (bit/s). nullopt on garbage, zero or overflow.
std::optional<double> parseRate(std::string_view text);
// 1e10 -> "10 Gb/s", 2.5e8 -> "250 Mb/s".
std::string formatRate(double bps);

// net.core.{r,w}mem_max and the max (third) field of net.ipv4.tcp_{r,w}mem,
// read under `proc` (normally /proc/sys/net).
Result<KernelLimits> readKernelLimits(const std::string& proc = "/proc/sys/net");

// Settings that keep `rate_bps` in flight over `rtt_ms`.
//  - BDP = rate x RTT; the in-flight window is the BDP rounded up to whole
//    `chunk` bytes (at least one chunk).
//  - Linux keeps about half of a socket buffer for its own bookkeeping
//    (tcp_adv_win_scale), so autotuning lets a lane carry tcp_[rw]mem max / 2
//    bytes in flight. An explicit SO_RCVBUF/SO_SNDBUF of B (capped at
//    net.core.[rw]mem_max) is doubled by the kernel, so a lane carries B.
//  - Lanes: the fewest whose combined cap holds the window, at most
//    kMaxRecommendedLanes; an explicit socket buffer only when it needs
//    fewer lanes than autotuning.
//  - When even that falls short, `limit` names the cap and `sysctls` lift it.
Recommendation recommend(double rate_bps, double rtt_ms, const KernelLimits& limits,
                         uint64_t chunk = uint64_t{1} << 20);

}  // namespace farlink::probe
