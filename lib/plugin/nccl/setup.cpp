// init, devices, getProperties: configuration and device discovery.
#include <cstring>
#include <memory>
#include <mutex>

#include "plugin/nccl/plugin.h"
#include "plugin/nccl/plugin_log.h"

namespace farlink::nccl {
namespace {

std::once_flag g_once;
std::unique_ptr<PluginState> g_state;  // set once by init, then read-only
ncclResult_t g_init_result = kNcclInternalError;

ncclResult_t initOnce() {
  auto config = PluginConfig::fromEnvironment();
  if (!config) {
    logWarn("init: " + config.status().toString() + "; fix the variable and restart the job");
    return kNcclInvalidArgument;
  }
  auto devs = findDevices(*config);
  if (!devs) {
    logWarn("init: " + devs.status().toString());
    return resultFor(devs.status());
  }
  auto st = std::make_unique<PluginState>();
  st->config = std::move(config.value());
  st->devices = std::move(devs.value());
  logInfo("init: " + st->config.describe(), kNcclSubsysInit | kNcclSubsysNet);
  for (size_t i = 0; i < st->devices.size(); ++i) {
    const NetDevice& d = st->devices[i];
    logInfo("device " + std::to_string(i) + ": " + d.ifname + " " + d.address +
                (d.rdma.empty() ? "" : " (RDMA " + d.rdma + ")") + " speed " +
                std::to_string(d.speed_mbps) + " Mb/s from " + d.speed_source,
            kNcclSubsysInit | kNcclSubsysNet);
  }
  g_state = std::move(st);
  return kNcclSuccess;
}

}  // namespace

const PluginState* pluginState() { return g_state.get(); }

ncclResult_t resultFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kNcclSuccess;
    case StatusCode::kInvalidArgument:
      return kNcclInvalidArgument;
    case StatusCode::kIoError:
    case StatusCode::kResourceExhausted:
    case StatusCode::kNotSupported:
      return kNcclSystemError;
    case StatusCode::kPeerClosed:
    case StatusCode::kProtocolError:
    case StatusCode::kUnauthenticated:
    case StatusCode::kTimedOut:
    case StatusCode::kCancelled:
      return kNcclRemoteError;
    default:
      return kNcclInternalError;
  }
}

ncclResult_t pluginInit(NcclLogger log) {
  if (log != nullptr) setLogger(log);
  // NCCL may init more than one ABI version of the table; the devices and
  // the strings getProperties hands out must stay put, so do it once.
  std::call_once(g_once, [] { g_init_result = initOnce(); });
  return g_init_result;
}

ncclResult_t pluginDevices(int* ndev) {
  const PluginState* st = pluginState();
  if (ndev == nullptr) return kNcclInvalidArgument;
  if (st == nullptr) {
    logWarn("devices() called before a successful init()");
    return kNcclInvalidUsage;
  }
  *ndev = static_cast<int>(st->devices.size());
  return kNcclSuccess;
}

ncclResult_t pluginProperties(int dev, NcclNetPropertiesV9* props) {
  const PluginState* st = pluginState();
  if (st == nullptr) {
    logWarn("getProperties() called before a successful init()");
    return kNcclInvalidUsage;
  }
  if (props == nullptr || dev < 0 || dev >= static_cast<int>(st->devices.size())) {
    logWarn("getProperties: no device " + std::to_string(dev));
    return kNcclInvalidArgument;
  }
  const NetDevice& d = st->devices[dev];
  std::memset(props, 0, sizeof *props);
  props->name = const_cast<char*>(d.ifname.c_str());
  props->pci_path = d.pci_path.empty() ? nullptr : const_cast<char*>(d.pci_path.c_str());
  props->guid = static_cast<uint64_t>(dev);
  // Host memory only: farlink reads and writes buffers with the CPU.
  props->ptr_support = kNcclPtrHost;
  props->reg_is_global = 0;
  props->force_flush = 0;
  props->speed = d.speed_mbps;
  props->port = 0;
  props->latency = st->config.latency_us;
  props->max_comms = 65536;
  props->max_recvs = kMaxRecvs;
  props->net_device_type = kNcclNetDeviceHost;
  props->net_device_version = 0;
  props->v_props.ndevs = 1;
  props->v_props.devs[0] = dev;
  props->max_p2p_bytes = kMaxMessageBytes;
  props->max_coll_bytes = kMaxMessageBytes;
  return kNcclSuccess;
}

}  // namespace farlink::nccl
