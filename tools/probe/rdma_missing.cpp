// farlink probe in a build without rdma-core: no device list, no rdma_cm.
#include "probe/rdma.h"

namespace farlink::probe {

namespace {
constexpr const char* kWhy =
    "built without rdma-core (install libibverbs-dev and librdmacm-dev, then reconfigure)";
}  // namespace

bool rdmaCoreBuilt() { return false; }

Result<std::vector<RdmaDevice>> listRdmaDevices(const std::string&) {
  return Status(StatusCode::kNotSupported, kWhy);
}

Result<RdmaRoute> resolveRdmaRoute(const std::string&, std::chrono::milliseconds) {
  return Status(StatusCode::kNotSupported, kWhy);
}

}  // namespace farlink::probe
