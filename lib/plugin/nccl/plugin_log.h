// Log lines go through the logger NCCL passed to init(), so they appear in
// NCCL_DEBUG output with NCCL's own prefixes and filters (subsystem NET).
// Before init(), and for programs that pass no logger, warnings go to stderr.
#pragma once

#include <source_location>
#include <string>

#include "plugin/nccl/nccl_abi.h"

namespace farlink::nccl {

void setLogger(NcclLogger logger);
void logWarn(const std::string& msg, std::source_location at = std::source_location::current());
void logInfo(const std::string& msg, unsigned long subsys = kNcclSubsysNet,
             std::source_location at = std::source_location::current());

}  // namespace farlink::nccl
