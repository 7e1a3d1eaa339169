// runRping() for builds without rdma-core: a clear error instead of the mode.
#include "ping/rping.h"

namespace farlink::ping {

bool rpingAvailable() { return false; }

int runRping(const PingOptions&, const RpingFlags&, const std::atomic<bool>&) {
  tools::printError(
      "ping",
      "--rping is not available: farlink was built without rdma-core "
      "(install librdmacm-dev and libibverbs-dev, then rebuild with -Dverbs=enabled)");
  return tools::kExitError;
}

}  // namespace farlink::ping
