// Plugin settings: farlink's ChannelOptions from the FARLINK_* variables
// (lanes, chunk size, PSK, ...) plus the plugin's own:
//   FARLINK_NCCL_TRANSPORT  tcp | verbs | auto (default auto)
//   FARLINK_NCCL_IFNAME     comma-separated interfaces to offer as devices
//                           (default: every interface that is up, except
//                           loopback unless nothing else is up)
//   FARLINK_NCCL_LATENCY_US one-way latency NCCL should assume for the path
//                           (default 0: not known when devices are listed)
#pragma once

#include <string>
#include <vector>

#include "farlink/options.h"
#include "farlink/status.h"
#include "plugin/nccl/handle.h"

namespace farlink::nccl {

struct PluginConfig {
  ChannelOptions options;
  Scheme scheme = Scheme::kAuto;
  std::vector<std::string> ifnames;
  float latency_us = 0;

  // An unparsable value is an error naming the variable.
  static Result<PluginConfig> fromEnvironment();
  // One line for the init log: every setting in effect and where it came from.
  std::string describe() const;
};

}  // namespace farlink::nccl
