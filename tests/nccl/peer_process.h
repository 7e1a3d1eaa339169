// Two-process plumbing for the plugin tests: the test binary re-executes
// itself as the peer ("--nccl-peer ROLE"), joined by two pipes (the parent
// writes to the child's fd 3, reads the child's fd 4), plus the payload
// pattern both sides derive from a seed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "plugin/nccl/harness.h"

namespace farlink::nccl::test {

inline constexpr int kChildIn = 3;   // child's end: reads what the parent writes
inline constexpr int kChildOut = 4;  // child's end: writes what the parent reads

struct Peer {
  pid_t pid = -1;
  int to_child = -1;
  int from_child = -1;
  ~Peer();  // kills (SIGKILL) and reaps a child still running
  // Waits for the child's exit; its exit status, or -1 when `timeout` passed.
  int wait(std::chrono::milliseconds timeout);
  void kill();
};

// Starts this binary as `role` with the plugin at `plugin`; false on failure.
bool spawnPeer(const std::string& role, const std::string& plugin, Peer* out);
// Runs a role when argv asks for one; returns its exit code, or -1 if argv
// names no role (then the caller runs the tests).
int runPeerRole(int argc, char** argv);

// The 1 GiB messages of the kill tests, in pages mapped straight from the
// kernel: only bytes that are written get memory. (malloc/calloc would not
// do: under meson's MALLOC_PERTURB_ glibc fills whole blocks, which touches
// every page and gets the processes OOM-killed in a small guest.)
inline constexpr size_t kHugeMessage = size_t{1} << 30;
class LazyBuffer {
 public:
  explicit LazyBuffer(size_t size);
  ~LazyBuffer();
  LazyBuffer(const LazyBuffer&) = delete;
  LazyBuffer& operator=(const LazyBuffer&) = delete;
  void* data() const { return data_; }  // null when mmap failed

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Exactly n bytes, or false on EOF/error/timeout.
bool readFull(int fd, void* buf, size_t n, std::chrono::milliseconds timeout);
bool writeFull(int fd, const void* buf, size_t n);

void fillPattern(uint8_t* p, size_t n, uint64_t seed);
// Index of the first byte that differs from the pattern, or -1.
long long checkPattern(const uint8_t* p, size_t n, uint64_t seed);

// A logger with NCCL's signature that prints to stderr (visible in test logs).
void stderrLogger(int level, unsigned long flags, const char* file, int line, const char* fmt, ...);

// The message script both sides of the transfer test follow.
struct Msg {
  int size;
  int tag;
  uint64_t seed;
};
std::vector<Msg> singleMessages();                             // 0 B .. 64 MiB, one tag
std::vector<std::vector<Msg>> groupedMessages(int max_recvs);  // grouped irecv sets
std::vector<Msg> streamMessages(int count);                    // many small ones over three tags
inline constexpr int kStreamCount = 2000;
inline constexpr int kWindow = 16;  // requests each side keeps in flight in the stream

inline constexpr std::chrono::milliseconds kStep{30000};  // bound on any single wait

}  // namespace farlink::nccl::test
