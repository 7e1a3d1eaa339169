// Short human-readable quantities for advice and stats strings:
// "6 MiB", "1.7 Gb/s", "30 ms".
#pragma once

#include <cstdint>
#include <string>

#include "flow/flow_time.h"

namespace farlink::flow {

std::string formatBytes(uint64_t bytes);
std::string formatRate(BytesPerSecond rate);  // bits per second, decimal units
std::string formatDuration(FlowDuration d);

}  // namespace farlink::flow
