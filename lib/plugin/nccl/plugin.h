// The plugin's operations, once, in the widest form (v9: size_t sizes).
// tables.cpp adapts them to each exported ABI version. Every function
// returns an ncclResult_t and logs through NCCL's logger on failure, naming
// the peer, the operation and what to do; none aborts or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "farlink/status.h"
#include "plugin/nccl/config.h"
#include "plugin/nccl/devices.h"
#include "plugin/nccl/nccl_abi.h"

namespace farlink::nccl {

inline constexpr const char* kPluginName = "farlink";
// Largest message per isend/irecv: test() reports sizes as int.
inline constexpr size_t kMaxMessageBytes = size_t{1} << 30;
// Grouped receives per irecv (NCCL's maxRecvs); farlink posts one receive
// per buffer, matched by tag, so the limit only sizes the request slots.
inline constexpr int kMaxRecvs = 8;

struct PluginState {
  PluginConfig config;
  std::vector<NetDevice> devices;
};
// Null before a successful init().
const PluginState* pluginState();
ncclResult_t resultFor(const Status& s);

// setup.cpp
ncclResult_t pluginInit(NcclLogger log);
ncclResult_t pluginDevices(int* ndev);
ncclResult_t pluginProperties(int dev, NcclNetPropertiesV9* props);
// connect.cpp
ncclResult_t pluginListen(int dev, void* handle, void** listen_comm);
ncclResult_t pluginConnect(int dev, void* handle, void** send_comm);
ncclResult_t pluginAccept(void* listen_comm, void** recv_comm);
ncclResult_t pluginCloseListen(void* listen_comm);
// datapath.cpp
ncclResult_t pluginRegMr(void* comm, void* data, size_t size, int type, void** mhandle);
ncclResult_t pluginRegMrDmaBuf(void* comm, void* data, size_t size, int type, uint64_t offset,
                               int fd, void** mhandle);
ncclResult_t pluginDeregMr(void* comm, void* mhandle);
ncclResult_t pluginIsend(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                         void** request);
ncclResult_t pluginIrecv(void* recv_comm, int n, void** data, const size_t* sizes, const int* tags,
                         void** mhandles, void** request);
ncclResult_t pluginIflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                          void** request);
ncclResult_t pluginTest(void* request, int* done, int* sizes);
ncclResult_t pluginCloseSend(void* send_comm);
ncclResult_t pluginCloseRecv(void* recv_comm);

}  // namespace farlink::nccl
