// `farlink ping --rping`: rdma-core rping's own protocol over rdma_cm and RC
// verbs, so either side can be a stock `rping`. Without rdma-core at build
// time runRping() reports that and fails.
#pragma once

#include <atomic>

#include "ping/ping.h"

namespace farlink::ping {

// True when this build has rdma-core (librdmacm + libibverbs).
bool rpingAvailable();

// Runs the client or server side; returns a tools::ExitCode. Blocks; returns
// early (exit 0) once `stop` becomes true.
int runRping(const PingOptions& opts, const RpingFlags& flags, const std::atomic<bool>& stop);

}  // namespace farlink::ping
