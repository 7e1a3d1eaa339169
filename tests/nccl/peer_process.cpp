#include "peer_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <random>
#include <thread>

extern char** environ;

namespace farlink::nccl::test {

Peer::~Peer() {
  if (pid > 0) {
    kill();
    (void)wait(std::chrono::milliseconds(5000));
  }
  if (to_child >= 0) ::close(to_child);
  if (from_child >= 0) ::close(from_child);
}

void Peer::kill() {
  if (pid > 0) ::kill(pid, SIGKILL);
}

int Peer::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid > 0) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

// Moves a pipe end above the child's fixed fds, so dup2 onto 3/4 never
// meets itself (a self-dup2 would keep O_CLOEXEC and lose the fd).
int highFd(int fd) {
  int h = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return h;
}

bool spawnPeer(const std::string& role, const std::string& plugin, Peer* out) {
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0) return false;
  if (::pipe2(up, O_CLOEXEC) != 0) return false;
  for (int* fd : {&down[0], &down[1], &up[0], &up[1]}) *fd = highFd(*fd);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // dup2 clears O_CLOEXEC on the copies the child keeps.
  posix_spawn_file_actions_adddup2(&fa, down[0], kChildIn);
  posix_spawn_file_actions_adddup2(&fa, up[1], kChildOut);
  std::string self = "/proc/self/exe";
  std::vector<std::string> args = {"nccl-peer", "--nccl-peer", role, plugin};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&out->pid, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(down[0]);
  ::close(up[1]);
  out->to_child = down[1];
  out->from_child = up[0];
  if (rc != 0) out->pid = -1;
  return rc == 0;
}

LazyBuffer::LazyBuffer(size_t size) : size_(size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  data_ = p == MAP_FAILED ? nullptr : p;
}

LazyBuffer::~LazyBuffer() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

bool readFull(int fd, void* buf, size_t n, std::chrono::milliseconds timeout) {
  auto* p = static_cast<uint8_t*>(buf);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t r = ::read(fd, p, n);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return false;
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
    }
  }
  return true;
}

bool writeFull(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

namespace {
// Eight pattern bytes per step keeps 64 MiB checks fast.
uint64_t mix(uint64_t seed, uint64_t word) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + word * 0xBF58476D1CE4E5B9ull + 1;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 29);
}
uint8_t patternAt(uint64_t seed, size_t i) {
  return static_cast<uint8_t>(mix(seed, i / 8) >> (8 * (i % 8)));
}
}  // namespace

void fillPattern(uint8_t* p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = patternAt(seed, i);
}

long long checkPattern(const uint8_t* p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != patternAt(seed, i)) return static_cast<long long>(i);
  return -1;
}

void stderrLogger(int level, unsigned long, const char* file, int line, const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "[pid %d] %s %s:%d %s\n", static_cast<int>(::getpid()),
               level == 2   ? "WARN"
               : level == 3 ? "INFO"
                            : "LOG",
               file, line, msg);
}

std::vector<Msg> singleMessages() {
  std::vector<Msg> m;
  uint64_t seed = 1;
  for (int size : {0, 1, 7, 4096, 65535, 65539, 1 << 20, (4 << 20) + 1, 64 << 20})
    m.push_back({size, 1, seed++});
  return m;
}

std::vector<std::vector<Msg>> groupedMessages(int max_recvs) {
  std::vector<std::vector<Msg>> groups;
  uint64_t seed = 1000;
  int g = 0;
  for (int n : {max_recvs, 1, 3, max_recvs}) {
    std::vector<Msg> group;
    for (int j = 0; j < n; ++j) group.push_back({j * 1000 + g * 17, 100 + g * 10 + j, seed++});
    groups.push_back(group);
    ++g;
  }
  return groups;
}

std::vector<Msg> streamMessages(int count) {
  std::mt19937 gen(7);
  std::vector<Msg> m;
  for (int i = 0; i < count; ++i) {
    int size = (i % 10 == 0) ? 0 : static_cast<int>(gen() % 70000);
    m.push_back({size, 1 + static_cast<int>(gen() % 3), 5000 + static_cast<uint64_t>(i)});
  }
  return m;
}

}  // namespace farlink::nccl::test
