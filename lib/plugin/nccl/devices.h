// NCCL "devices": the network interfaces the plugin offers, one per
// interface with an address (FARLINK_NCCL_IFNAME selects them). With
// transport verbs only interfaces that carry an RDMA port qualify.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "farlink/status.h"
#include "plugin/nccl/config.h"

namespace farlink::nccl {

struct NetDevice {
  std::string ifname;
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  std::string address;  // printable
  std::string rdma;     // "rxe0 port 1" when an RDMA port sits on it
  int speed_mbps = 0;
  std::string speed_source;  // which file the speed came from, or why it is a guess
  std::string pci_path;      // /sys/devices/... of the NIC, empty for virtual ones
};

// Lists the devices; an error when none qualifies (naming what was seen).
Result<std::vector<NetDevice>> findDevices(const PluginConfig& config);

// "Gb/sec" rate line of /sys/class/infiniband/*/ports/*/rate -> Mb/s (0 if unreadable).
int parseIbRateMbps(const std::string& rate_line);

}  // namespace farlink::nccl
