// The only I/O in lib/flow: reading the kernel's socket-buffer limits.
#include "flow/kernel_limits.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace farlink::flow {
namespace {

// nullopt when the file does not exist; an error when it exists but cannot be read.
Result<std::optional<std::string>> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return std::optional<std::string>();
    return Status(StatusCode::kIoError, "kernel limits: cannot read " + path, err);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::optional<std::string>(ss.str());
}

}  // namespace

Result<KernelLimits> readKernelLimits(const std::string& proc_sys) {
  KernelLimitTexts t;
  struct Entry {
    const char* rel;
    std::optional<std::string>* out;
  };
  const Entry entries[] = {{"/net/ipv4/tcp_wmem", &t.tcp_wmem},
                           {"/net/ipv4/tcp_rmem", &t.tcp_rmem},
                           {"/net/core/wmem_max", &t.core_wmem_max},
                           {"/net/core/rmem_max", &t.core_rmem_max}};
  bool any = false;
  for (const Entry& e : entries) {
    auto text = slurp(proc_sys + e.rel);
    if (!text) return text.status();
    any = any || text->has_value();
    *e.out = std::move(*text);
  }
  auto limits = parseKernelLimits(t);
  if (limits && any) limits->source = proc_sys;
  return limits;
}

}  // namespace farlink::flow
