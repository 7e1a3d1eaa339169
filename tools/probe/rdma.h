// RDMA devices and routes through rdma-core. rdma_verbs.cpp is the real
// implementation; rdma_missing.cpp stands in when the build has no rdma-core
// and says so.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "farlink/status.h"
#include "probe/probe_data.h"

namespace farlink::probe {

// False when farlink was built without libibverbs/librdmacm.
bool rdmaCoreBuilt();

// Every device libibverbs sees, with its ports and non-zero GIDs. GID types
// and netdevs come from `sysfs_root`/<dev>/ports/<p>/gid_attrs. An empty list
// is not an error; a device that cannot be opened is.
Result<std::vector<RdmaDevice>> listRdmaDevices(
    const std::string& sysfs_root = "/sys/class/infiniband");

// The local RDMA device and port whose netdev carries the route to `host`,
// as rdma_cm resolves it (rdma_resolve_addr). kNotSupported when no RDMA device
// carries it (or the name does not resolve to an address rdma_cm can use),
// kTimedOut when rdma_cm gives no answer within `timeout`.
struct RdmaRoute {
  std::string device;
  int port = 0;
};
Result<RdmaRoute> resolveRdmaRoute(const std::string& host, std::chrono::milliseconds timeout);

}  // namespace farlink::probe
