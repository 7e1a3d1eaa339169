// The exported tables ncclNetPlugin_v8/_v9/_v10. Each entry adapts one ABI
// version's signature to the shared operations in plugin.h; nothing else
// lives here. getDeviceMr/irecvConsumed (device offload) and makeVDevice
// (NIC fusion: farlink stripes its own lanes) are NULL, which NCCL reads as
// "not offered" for a host-only network.
#include "plugin/nccl/plugin.h"
#include "plugin/nccl/plugin_log.h"

namespace farlink::nccl {
namespace {

ncclResult_t propertiesV8(int dev, NcclNetPropertiesV8* props) {
  if (props == nullptr) return kNcclInvalidArgument;
  NcclNetPropertiesV9 p{};
  ncclResult_t r = pluginProperties(dev, &p);
  if (r != kNcclSuccess) return r;
  *props = NcclNetPropertiesV8{
      p.name, p.pci_path, p.guid,      p.ptr_support, p.reg_is_global,   p.speed,
      p.port, p.latency,  p.max_comms, p.max_recvs,   p.net_device_type, p.net_device_version};
  return kNcclSuccess;
}

ncclResult_t connectV8(int dev, void* handle, void** send_comm, NcclNetDeviceHandle** /*dev*/) {
  return pluginConnect(dev, handle, send_comm);
}

ncclResult_t connectV10(int dev, NcclNetCommConfigV10* /*config: traffic class unused*/,
                        void* handle, void** send_comm, NcclNetDeviceHandle** /*dev*/) {
  return pluginConnect(dev, handle, send_comm);
}

ncclResult_t acceptAny(void* listen_comm, void** recv_comm, NcclNetDeviceHandle** /*dev*/) {
  return pluginAccept(listen_comm, recv_comm);
}

ncclResult_t isendV8(void* send_comm, void* data, int size, int tag, void* mhandle,
                     void** request) {
  if (size < 0) {
    logWarn("isend: negative size " + std::to_string(size));
    return kNcclInvalidArgument;
  }
  return pluginIsend(send_comm, data, static_cast<size_t>(size), tag, mhandle, request);
}

ncclResult_t irecvV8(void* recv_comm, int n, void** data, int* sizes, int* tags, void** mhandles,
                     void** request) {
  size_t wide[kMaxRecvs] = {};
  if (sizes == nullptr || n < 1 || n > kMaxRecvs)
    return pluginIrecv(recv_comm, n, data, nullptr, tags, mhandles, request);  // logs why
  for (int i = 0; i < n; ++i) {
    if (sizes[i] < 0) {
      logWarn("irecv: negative size " + std::to_string(sizes[i]));
      return kNcclInvalidArgument;
    }
    wide[i] = static_cast<size_t>(sizes[i]);
  }
  return pluginIrecv(recv_comm, n, data, wide, tags, mhandles, request);
}

ncclResult_t irecvV9(void* recv_comm, int n, void** data, size_t* sizes, int* tags, void** mhandles,
                     void** request) {
  return pluginIrecv(recv_comm, n, data, sizes, tags, mhandles, request);
}

ncclResult_t isendV10(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                      void* /*profiler handle*/, void** request) {
  return pluginIsend(send_comm, data, size, tag, mhandle, request);
}

ncclResult_t irecvV10(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                      void** mhandles, void** /*profiler handles*/, void** request) {
  return pluginIrecv(recv_comm, n, data, sizes, tags, mhandles, request);
}

ncclResult_t initV10(NcclLogger log, NcclProfilerCallback /*no profiler events*/) {
  return pluginInit(log);
}

}  // namespace
}  // namespace farlink::nccl

using namespace farlink::nccl;

extern "C" {

__attribute__((visibility("default"))) extern const NcclNetV8 ncclNetPlugin_v8;
__attribute__((visibility("default"))) extern const NcclNetV9 ncclNetPlugin_v9;
__attribute__((visibility("default"))) extern const NcclNetV10 ncclNetPlugin_v10;

const NcclNetV8 ncclNetPlugin_v8 = {
    kPluginName,     pluginInit,        pluginDevices, propertiesV8,      pluginListen,
    connectV8,       acceptAny,         pluginRegMr,   pluginRegMrDmaBuf, pluginDeregMr,
    isendV8,         irecvV8,           pluginIflush,  pluginTest,        pluginCloseSend,
    pluginCloseRecv, pluginCloseListen, nullptr,       nullptr,
};

const NcclNetV9 ncclNetPlugin_v9 = {
    kPluginName,     pluginInit,        pluginDevices, pluginProperties,  pluginListen,
    connectV8,       acceptAny,         pluginRegMr,   pluginRegMrDmaBuf, pluginDeregMr,
    pluginIsend,     irecvV9,           pluginIflush,  pluginTest,        pluginCloseSend,
    pluginCloseRecv, pluginCloseListen, nullptr,       nullptr,           nullptr,
};

const NcclNetV10 ncclNetPlugin_v10 = {
    kPluginName,     initV10,           pluginDevices, pluginProperties,  pluginListen,
    connectV10,      acceptAny,         pluginRegMr,   pluginRegMrDmaBuf, pluginDeregMr,
    isendV10,        irecvV10,          pluginIflush,  pluginTest,        pluginCloseSend,
    pluginCloseRecv, pluginCloseListen, nullptr,       nullptr,           nullptr,
};

}  // extern "C"
