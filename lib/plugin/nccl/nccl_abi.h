// The NCCL network-plugin ABI (versions 8, 9 and 10), declared from its
// documented layout: member order, types and constants. Our own declarations;
// nothing here includes NCCL. Only what the farlink plugin touches is named.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

// ncclResult_t values the plugin returns.
enum NcclResult : int {
  kNcclSuccess = 0,
  kNcclSystemError = 2,
  kNcclInternalError = 3,
  kNcclInvalidArgument = 4,
  kNcclInvalidUsage = 5,
  kNcclRemoteError = 6,
};
using ncclResult_t = int;  // an enum in NCCL: same size and values

// Logger: level, subsystem flags, file, line, printf format.
enum NcclLogLevel : int { kNcclLogWarn = 2, kNcclLogInfo = 3, kNcclLogTrace = 5 };
inline constexpr unsigned long kNcclSubsysInit = 1;
inline constexpr unsigned long kNcclSubsysNet = 16;
using NcclLogger = void (*)(int level, unsigned long flags, const char* file, int line,
                            const char* fmt, ...);
// v10: profiler callback (the plugin does not emit profiler events).
using NcclProfilerCallback = ncclResult_t (*)(void** event, int type, void* phandle,
                                              int64_t plugin_id, void* ext_data);

inline constexpr int kNcclNetHandleMaxSize = 128;
inline constexpr int kNcclNetMaxRequests = 32;
inline constexpr int kNcclPtrHost = 1;
inline constexpr int kNcclPtrCuda = 2;
inline constexpr int kNcclPtrDmaBuf = 4;
inline constexpr int kNcclNetDeviceHost = 0;  // ncclNetDeviceType: no device offload

struct NcclNetDeviceHandle;  // device offload handle; never created here

struct NcclNetPropertiesV8 {
  char* name;
  char* pci_path;
  uint64_t guid;
  int ptr_support;
  int reg_is_global;
  int speed;  // Mb/s
  int port;
  float latency;  // microseconds
  int max_comms;
  int max_recvs;
  int net_device_type;
  int net_device_version;
};

inline constexpr int kNcclNetMaxDevsPerNic = 4;
struct NcclNetVDeviceProps {
  int ndevs;
  int devs[kNcclNetMaxDevsPerNic];
};

// v9 and v10 share this layout: forceFlush after regIsGlobal, then the
// virtual-device description and transfer-size limits at the end.
struct NcclNetPropertiesV9 {
  char* name;
  char* pci_path;
  uint64_t guid;
  int ptr_support;
  int reg_is_global;
  int force_flush;
  int speed;
  int port;
  float latency;
  int max_comms;
  int max_recvs;
  int net_device_type;
  int net_device_version;
  NcclNetVDeviceProps v_props;
  size_t max_p2p_bytes;
  size_t max_coll_bytes;
};

struct NcclNetCommConfigV10 {
  int traffic_class;
};

struct NcclNetV8 {
  const char* name;
  ncclResult_t (*init)(NcclLogger log);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, NcclNetPropertiesV8* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listen_comm);
  ncclResult_t (*connect)(int dev, void* handle, void** send_comm, NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*accept)(void* listen_comm, void** recv_comm, NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* send_comm, void* data, int size, int tag, void* mhandle,
                        void** request);
  ncclResult_t (*irecv)(void* recv_comm, int n, void** data, int* sizes, int* tags, void** mhandles,
                        void** request);
  ncclResult_t (*iflush)(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* send_comm);
  ncclResult_t (*closeRecv)(void* recv_comm);
  ncclResult_t (*closeListen)(void* listen_comm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recv_comm, int n, void* request);
};

struct NcclNetV9 {
  const char* name;
  ncclResult_t (*init)(NcclLogger log);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, NcclNetPropertiesV9* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listen_comm);
  ncclResult_t (*connect)(int dev, void* handle, void** send_comm, NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*accept)(void* listen_comm, void** recv_comm, NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                        void** request);
  ncclResult_t (*irecv)(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                        void** mhandles, void** request);
  ncclResult_t (*iflush)(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* send_comm);
  ncclResult_t (*closeRecv)(void* recv_comm);
  ncclResult_t (*closeListen)(void* listen_comm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recv_comm, int n, void* request);
  ncclResult_t (*makeVDevice)(int* dev, NcclNetVDeviceProps* props);
};

struct NcclNetV10 {
  const char* name;
  ncclResult_t (*init)(NcclLogger log, NcclProfilerCallback prof);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, NcclNetPropertiesV9* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listen_comm);
  ncclResult_t (*connect)(int dev, NcclNetCommConfigV10* config, void* handle, void** send_comm,
                          NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*accept)(void* listen_comm, void** recv_comm, NcclNetDeviceHandle** dev_comm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                        void* phandle, void** request);
  ncclResult_t (*irecv)(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                        void** mhandles, void** phandles, void** request);
  ncclResult_t (*iflush)(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* send_comm);
  ncclResult_t (*closeRecv)(void* recv_comm);
  ncclResult_t (*closeListen)(void* listen_comm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recv_comm, int n, void* request);
  ncclResult_t (*makeVDevice)(int* dev, NcclNetVDeviceProps* props);
};

}  // extern "C"
