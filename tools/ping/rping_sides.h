// The two sides of `farlink ping --rping` (internal to tools/ping).
#pragma once

#include <atomic>

#include "ping/rping.h"

namespace farlink::ping {

// Connects to a stock `rping -s` (or farlink's server) and runs the pings.
int runRpingClient(const PingOptions& opts, const RpingFlags& flags, const std::atomic<bool>& stop);
// Serves a stock `rping -c` (or farlink's client); one client unless -P.
int runRpingServer(const PingOptions& opts, const RpingFlags& flags, const std::atomic<bool>& stop);

}  // namespace farlink::ping
