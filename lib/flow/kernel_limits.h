// The kernel limits that cap how much one lane can keep in flight, and how
// to read them. Parsing (pure) is separate from reading /proc/sys (the only
// I/O in lib/flow, in kernel_limits.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "farlink/status.h"

namespace farlink::flow {

struct KernelLimits {
  // TCP autotuning ceilings: the third field of net.ipv4.tcp_wmem/tcp_rmem.
  // Defaults are Linux's.
  uint64_t tcp_wmem_max = 4 * 1024 * 1024;
  uint64_t tcp_rmem_max = 6 * 1024 * 1024;
  // Ceilings for an explicit SO_SNDBUF/SO_RCVBUF: net.core.wmem_max/rmem_max.
  uint64_t core_wmem_max = 212992;
  uint64_t core_rmem_max = 212992;
  // Verbs: unacknowledged packets one RC QP may have outstanding (rxe: 128)
  // and the path MTU in bytes.
  uint32_t qp_max_outstanding_packets = 128;
  uint32_t path_mtu = 1024;
  // Where the TCP values came from: "defaults", or the directory read.
  std::string source = "defaults";
};

// The text of each /proc/sys file; an absent one keeps the default.
struct KernelLimitTexts {
  std::optional<std::string> tcp_wmem;  // "4096 16384 4194304"
  std::optional<std::string> tcp_rmem;
  std::optional<std::string> core_wmem_max;  // "212992"
  std::optional<std::string> core_rmem_max;
};

// Pure: parses the texts over the defaults; kInvalidArgument names the file
// and the bad text.
Result<KernelLimits> parseKernelLimits(const KernelLimitTexts& texts);

// Reads <proc_sys>/net/ipv4/tcp_{w,r}mem and <proc_sys>/net/core/{w,r}mem_max.
// A missing file keeps the default (containers often hide them); an
// unparsable one is an error.
Result<KernelLimits> readKernelLimits(const std::string& proc_sys = "/proc/sys");

}  // namespace farlink::flow
