#include "plugin/nccl/plugin_log.h"

#include <atomic>
#include <cstdio>

namespace farlink::nccl {
namespace {

std::atomic<NcclLogger> g_logger{nullptr};

void emit(int level, unsigned long subsys, const std::string& msg, const char* file, int line) {
  NcclLogger log = g_logger.load(std::memory_order_acquire);
  if (log != nullptr) {
    // "%s": the message may contain '%' (addresses, user strings).
    log(level, subsys, file, line, "%s", msg.c_str());
  } else if (level == kNcclLogWarn) {
    std::fprintf(stderr, "NET/farlink WARN %s\n", msg.c_str());
  }
}

}  // namespace

void setLogger(NcclLogger logger) { g_logger.store(logger, std::memory_order_release); }

void logWarn(const std::string& msg, const char* file, int line) {
  emit(kNcclLogWarn, kNcclSubsysNet, "NET/farlink: " + msg, file, line);
}

void logInfo(const std::string& msg, unsigned long subsys, const char* file, int line) {
  emit(kNcclLogInfo, subsys, "NET/farlink: " + msg, file, line);
}

}  // namespace farlink::nccl
