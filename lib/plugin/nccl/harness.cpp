#include "plugin/nccl/harness.h"

#include <dlfcn.h>

#include <thread>

namespace farlink::nccl {
namespace {

using Clock = std::chrono::steady_clock;

// Calls `step` until it reports completion (true) or the deadline passes.
// Yields between fruitless polls, as NCCL's proxy thread does when no
// request progressed ("let others run").
template <typename Step>
int pollUntil(std::chrono::milliseconds timeout, Step step) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int rc = kNcclSuccess;
    if (step(&rc)) return rc;
    if (Clock::now() > deadline) return kTimeout;
    std::this_thread::yield();
  }
}

}  // namespace

LoadedPlugin loadPlugin(const std::string& path) {
  LoadedPlugin p;
  p.dl = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (p.dl == nullptr) {
    p.error = ::dlerror();
    return p;
  }
  p.v8 = static_cast<const NcclNetV8*>(::dlsym(p.dl, "ncclNetPlugin_v8"));
  p.v9 = static_cast<const NcclNetV9*>(::dlsym(p.dl, "ncclNetPlugin_v9"));
  p.v10 = static_cast<const NcclNetV10*>(::dlsym(p.dl, "ncclNetPlugin_v10"));
  if (p.v8 == nullptr) p.error = path + " exports no ncclNetPlugin_v8";
  return p;
}

int connectPolled(const NcclNetV8& net, int dev, void* handle, void** comm,
                  std::chrono::milliseconds timeout) {
  *comm = nullptr;
  return pollUntil(timeout, [&](int* rc) {
    *rc = net.connect(dev, handle, comm, nullptr);
    return *rc != kNcclSuccess || *comm != nullptr;
  });
}

int acceptPolled(const NcclNetV8& net, void* listen_comm, void** comm,
                 std::chrono::milliseconds timeout) {
  *comm = nullptr;
  return pollUntil(timeout, [&](int* rc) {
    *rc = net.accept(listen_comm, comm, nullptr);
    return *rc != kNcclSuccess || *comm != nullptr;
  });
}

int isendRetry(const NcclNetV8& net, void* comm, void* data, int size, int tag, void* mh,
               void** request, std::chrono::milliseconds timeout) {
  *request = nullptr;
  return pollUntil(timeout, [&](int* rc) {
    *rc = net.isend(comm, data, size, tag, mh, request);
    return *rc != kNcclSuccess || *request != nullptr;
  });
}

int irecvRetry(const NcclNetV8& net, void* comm, int n, void** data, int* sizes, int* tags,
               void** mhs, void** request, std::chrono::milliseconds timeout) {
  *request = nullptr;
  return pollUntil(timeout, [&](int* rc) {
    *rc = net.irecv(comm, n, data, sizes, tags, mhs, request);
    return *rc != kNcclSuccess || *request != nullptr;
  });
}

int waitRequest(const NcclNetV8& net, void* request, int* sizes,
                std::chrono::milliseconds timeout) {
  return pollUntil(timeout, [&](int* rc) {
    int done = 0;
    *rc = net.test(request, &done, sizes);
    return *rc != kNcclSuccess || done != 0;
  });
}

}  // namespace farlink::nccl
