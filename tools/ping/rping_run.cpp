#include "ping/rping_sides.h"

namespace farlink::ping {

bool rpingAvailable() { return true; }

int runRping(const PingOptions& opts, const RpingFlags& flags, const std::atomic<bool>& stop) {
  return opts.server ? runRpingServer(opts, flags, stop) : runRpingClient(opts, flags, stop);
}

}  // namespace farlink::ping
