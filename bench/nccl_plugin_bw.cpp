// Bandwidth through the NCCL net plugin, driven the way NCCL's proxy drives
// it: one send comm and one receive comm between two processes, `depth`
// isends / irecvs of `size` bytes in flight, test() polled on the oldest.
// The sender streams for `duration` seconds, then a 0-byte message ends the
// run; the receiver prints one JSON line with what it received.
//
// Usage: nccl_plugin_bw PLUGIN_SO [--size BYTES] [--depth N] [--duration S]
// Device and transport come from FARLINK_NCCL_* / FARLINK_* (as under NCCL).
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "plugin/nccl/harness.h"

using namespace farlink::nccl;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kStep{30000};
constexpr int kTag = 1;

struct Args {
  std::string plugin;
  int size = 4 << 20;
  int depth = 8;
  double duration = 5;
};

int fail(const char* what, int rc) {
  std::fprintf(stderr, "nccl_plugin_bw: %s failed (%d)\n", what, rc);
  return 1;
}

int receiver(const NcclNetV8& net, const Args& a, int handle_fd) {
  uint8_t handle[kNcclNetHandleMaxSize] = {};
  void *l = nullptr, *comm = nullptr;
  if (int rc = net.listen(0, handle, &l)) return fail("listen", rc);
  if (::write(handle_fd, handle, sizeof handle) != sizeof handle) return fail("handle write", 0);
  if (int rc = acceptPolled(net, l, &comm, kStep)) return fail("accept", rc);
  std::vector<std::vector<uint8_t>> bufs(a.depth, std::vector<uint8_t>(a.size));
  std::vector<void*> reqs(a.depth), mhs(a.depth);
  auto post = [&](int i) {
    void* data = bufs[i].data();
    int cap = a.size, tag = kTag;
    return irecvRetry(net, comm, 1, &data, &cap, &tag, &mhs[i], &reqs[i], kStep);
  };
  for (int i = 0; i < a.depth; ++i) {
    if (int rc = net.regMr(comm, bufs[i].data(), a.size, kNcclPtrHost, &mhs[i]))
      return fail("regMr", rc);
    if (int rc = post(i)) return fail("irecv", rc);
  }
  uint64_t bytes = 0, messages = 0;
  Clock::time_point first{}, last{};
  for (int i = 0;; i = (i + 1) % a.depth) {
    int size = -1;
    if (int rc = waitRequest(net, reqs[i], &size, kStep)) return fail("test (irecv)", rc);
    last = Clock::now();
    if (size == 0) break;  // end of run
    // The first message only starts the clock: its bytes are not timed.
    if (messages++ == 0)
      first = last;
    else
      bytes += static_cast<uint64_t>(size);
    if (int rc = post(i)) return fail("irecv", rc);
  }
  double secs = std::chrono::duration<double>(last - first).count();
  std::printf(
      "{\"bw_gbps\": %.3f, \"bytes\": %llu, \"messages\": %llu, \"seconds\": %.3f, "
      "\"size\": %d, \"depth\": %d}\n",
      secs > 0 ? bytes * 8 / secs / 1e9 : 0.0, static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(messages), secs, a.size, a.depth);
  std::fflush(stdout);
  for (int i = 0; i < a.depth; ++i) (void)net.deregMr(comm, mhs[i]);
  // Receives still posted are cancelled by the close.
  (void)net.closeRecv(comm);
  (void)net.closeListen(l);
  return 0;
}

int sender(const NcclNetV8& net, const Args& a, int handle_fd) {
  uint8_t handle[kNcclNetHandleMaxSize];
  if (::read(handle_fd, handle, sizeof handle) != sizeof handle) return fail("handle read", 0);
  void* comm = nullptr;
  if (int rc = connectPolled(net, 0, handle, &comm, kStep)) return fail("connect", rc);
  std::vector<uint8_t> buf(a.size, 0x5a);
  void* mh = nullptr;
  if (int rc = net.regMr(comm, buf.data(), buf.size(), kNcclPtrHost, &mh)) return fail("regMr", rc);
  std::vector<void*> reqs(a.depth, nullptr);
  auto end = Clock::now() + std::chrono::duration<double>(a.duration);
  int i = 0;
  for (; Clock::now() < end; i = (i + 1) % a.depth) {
    if (reqs[i] != nullptr)
      if (int rc = waitRequest(net, reqs[i], nullptr, kStep)) return fail("test (isend)", rc);
    if (int rc = isendRetry(net, comm, buf.data(), a.size, kTag, mh, &reqs[i], kStep))
      return fail("isend", rc);
  }
  for (void* r : reqs)
    if (r != nullptr)
      if (int rc = waitRequest(net, r, nullptr, kStep)) return fail("test (isend)", rc);
  void* last = nullptr;
  if (int rc = isendRetry(net, comm, buf.data(), 0, kTag, mh, &last, kStep))
    return fail("isend", rc);
  if (int rc = waitRequest(net, last, nullptr, kStep)) return fail("test (isend)", rc);
  (void)net.deregMr(comm, mh);
  return net.closeSend(comm) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLUGIN_SO [--size BYTES] [--depth N] [--duration S]\n",
                 argv[0]);
    return 2;
  }
  a.plugin = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--size")
      a.size = std::atoi(argv[i + 1]);
    else if (k == "--depth")
      a.depth = std::atoi(argv[i + 1]);
    else if (k == "--duration")
      a.duration = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "nccl_plugin_bw: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.size < 1 || a.depth < 1 || a.depth > kNcclNetMaxRequests || a.duration <= 0) {
    std::fprintf(stderr, "nccl_plugin_bw: need size >= 1, depth 1..32, duration > 0\n");
    return 2;
  }
  int fds[2];
  if (::pipe(fds) != 0) return fail("pipe", errno);
  // Fork before loading anything: each process is a fresh NCCL rank.
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork", errno);
  LoadedPlugin p = loadPlugin(a.plugin);
  if (!p.ok()) {
    std::fprintf(stderr, "nccl_plugin_bw: %s\n", p.error.c_str());
    return 1;
  }
  if (int rc = p.v8->init(nullptr)) return fail("init", rc);
  if (pid == 0) _exit(sender(*p.v8, a, fds[0]));
  int rc = receiver(*p.v8, a, fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "nccl_plugin_bw: the sending process failed\n");
    return 1;
  }
  return rc;
}
