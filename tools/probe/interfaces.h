// Network interfaces as getifaddrs(3) sees them, for farlink probe.
#pragma once

#include <vector>

#include "farlink/status.h"
#include "probe/probe_data.h"

namespace farlink::probe {

// Every interface with its IPv4/IPv6 addresses (with prefix length), MTU and
// flags, in the kernel's order.
Result<std::vector<NetInterface>> listInterfaces();

}  // namespace farlink::probe
