// Log lines go through the logger NCCL passed to init(), so they appear in
// NCCL_DEBUG output with NCCL's own prefixes and filters (subsystem NET).
// Before init(), and for programs that pass no logger, warnings go to stderr.
#pragma once

#include <string>

#include "plugin/nccl/nccl_abi.h"

namespace farlink::nccl {

void setLogger(NcclLogger logger);
// file/line default to the caller's (__builtin_FILE/LINE: std::source_location
// is missing from the clang 14 + libstdc++ pair the fuzz build uses).
void logWarn(const std::string& msg, const char* file = __builtin_FILE(),
             int line = __builtin_LINE());
void logInfo(const std::string& msg, unsigned long subsys = kNcclSubsysNet,
             const char* file = __builtin_FILE(), int line = __builtin_LINE());

}  // namespace farlink::nccl
