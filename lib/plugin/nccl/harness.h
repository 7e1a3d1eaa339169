// Loads a built libnccl-net-farlink.so with dlopen and drives it the way
// NCCL's proxy thread does: poll connect/accept until a comm appears, retry
// isend/irecv that return no request, poll test. For tests and benchmarks;
// not part of the plugin. Every wait is bounded.
#pragma once

#include <chrono>
#include <string>

#include "plugin/nccl/nccl_abi.h"

namespace farlink::nccl {

struct LoadedPlugin {
  void* dl = nullptr;
  const NcclNetV8* v8 = nullptr;
  const NcclNetV9* v9 = nullptr;  // null when not exported
  const NcclNetV10* v10 = nullptr;
  std::string error;  // why loading failed (dlerror)
  bool ok() const { return v8 != nullptr; }
};
LoadedPlugin loadPlugin(const std::string& path);

// kTimeout: the wait ran out (distinct from every ncclResult_t).
inline constexpr int kTimeout = -1;

// Polls connect (or accept) until it returns a comm, an error, or time runs out.
int connectPolled(const NcclNetV8& net, int dev, void* handle, void** comm,
                  std::chrono::milliseconds timeout);
int acceptPolled(const NcclNetV8& net, void* listen_comm, void** comm,
                 std::chrono::milliseconds timeout);
// Retries isend/irecv while they hand back no request (NCCL's "would block").
int isendRetry(const NcclNetV8& net, void* comm, void* data, int size, int tag, void* mh,
               void** request, std::chrono::milliseconds timeout);
int irecvRetry(const NcclNetV8& net, void* comm, int n, void** data, int* sizes, int* tags,
               void** mhs, void** request, std::chrono::milliseconds timeout);
// Polls test until done or error; sizes as test reports them.
int waitRequest(const NcclNetV8& net, void* request, int* sizes, std::chrono::milliseconds timeout);

}  // namespace farlink::nccl
