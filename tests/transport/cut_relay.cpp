#include "cut_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace farlink::test {
namespace {

// SO_LINGER 0: close() sends a reset instead of a FIN.
void resetClose(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Non-blocking, and no Nagle: a relay that holds small writes back for
// delayed ACKs would add 40 ms stalls no real path has.
void prepare(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

CutRelay::CutRelay(uint16_t target_port, const std::string& bind_ip, uint16_t listen_port)
    : target_(target_port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(listen_port);
  int one = 1;
  if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::inet_pton(AF_INET, bind_ip.c_str(), &a.sin_addr) != 1) {
    error_ = "relay: '" + bind_ip + "' is not an IPv4 address";
    return;
  }
  socklen_t len = sizeof a;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd_, 256) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    error_ = "relay cannot listen on " + bind_ip + ": " + std::strerror(errno);
    return;
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

CutRelay::~CutRelay() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& c : conns_) {
    ::close(c.a);
    ::close(c.b);
  }
  if (fd_ >= 0) ::close(fd_);
}

void CutRelay::cutAfter(uint64_t bytes) { cut_at_ = relayed_ + std::max<uint64_t>(bytes, 1); }

void CutRelay::cutNow() {
  int before = cuts_;
  cut_now_ = true;
  while (cuts_ == before && !stop_ && thread_.joinable())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

CutRelay::Clock::time_point CutRelay::lastCut() const {
  std::lock_guard lk(mu_);
  return last_cut_;
}

void CutRelay::cutAll() {
  for (auto& c : conns_) {
    resetClose(c.a);
    resetClose(c.b);
  }
  conns_.clear();
  {
    std::lock_guard lk(mu_);
    last_cut_ = Clock::now();
  }
  ++cuts_;
}

void CutRelay::acceptOne() {
  for (;;) {
    int a = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) return;
    if (refuse_) {
      resetClose(a);
      continue;
    }
    int b = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in t{};
    t.sin_family = AF_INET;
    t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t.sin_port = htons(target_);
    if (::connect(b, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0) {
      resetClose(a);
      ::close(b);
      continue;
    }
    prepare(a);
    prepare(b);
    conns_.push_back({a, b, {}, {}, false, false});
    ++accepted_;
  }
}

bool CutRelay::move(int from, int to, std::string& buf, bool& from_eof, bool readable,
                    bool writable) {
  constexpr size_t kMaxBuffered = 1 << 20;
  if (readable && !from_eof && buf.size() < kMaxBuffered) {
    char tmp[65536];
    ssize_t n = ::recv(from, tmp, sizeof tmp, 0);
    if (n > 0)
      buf.append(tmp, size_t(n));
    else if (n == 0)
      from_eof = true;
    else if (errno != EAGAIN && errno != EINTR)
      return false;
  }
  (void)writable;  // a non-blocking send either way; EAGAIN just waits
  if (!buf.empty()) {
    ssize_t w = ::send(to, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (w > 0) {
      buf.erase(0, size_t(w));
      relayed_ += uint64_t(w);
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
  }
  if (from_eof && buf.empty()) ::shutdown(to, SHUT_WR);
  return true;
}

void CutRelay::run() {
  while (!stop_) {
    uint64_t at = cut_at_;
    if (cut_now_.exchange(false) || (at != 0 && relayed_ >= at)) {
      if (at != 0 && relayed_ >= at) cut_at_ = 0;
      cutAll();
    }
    std::vector<pollfd> p{{fd_, POLLIN, 0}};
    for (auto& c : conns_) {
      short ea =
          short((c.a_eof || c.ab.size() >= (1 << 20) ? 0 : POLLIN) | (c.ba.empty() ? 0 : POLLOUT));
      short eb =
          short((c.b_eof || c.ba.size() >= (1 << 20) ? 0 : POLLIN) | (c.ab.empty() ? 0 : POLLOUT));
      p.push_back({c.a, ea, 0});
      p.push_back({c.b, eb, 0});
    }
    if (::poll(p.data(), p.size(), 5) < 0 && errno != EINTR) return;
    if (p[0].revents & POLLIN) acceptOne();
    // Connections acceptOne() just added have no pollfd yet.
    for (size_t i = 0; i < conns_.size() && 2 * i + 2 < p.size(); ++i) {
      Conn& c = conns_[i];
      short ra = p[1 + 2 * i].revents, rb = p[2 + 2 * i].revents;
      bool ok = move(c.a, c.b, c.ab, c.a_eof, ra & (POLLIN | POLLHUP | POLLERR), rb & POLLOUT) &&
                move(c.b, c.a, c.ba, c.b_eof, rb & (POLLIN | POLLHUP | POLLERR), ra & POLLOUT);
      bool done = c.a_eof && c.b_eof && c.ab.empty() && c.ba.empty();
      if (!ok || done) {  // a reset on one side travels to the other
        resetClose(c.a);
        resetClose(c.b);
        c.a = c.b = -1;
      }
    }
    std::erase_if(conns_, [](const Conn& c) { return c.a < 0; });
  }
}

}  // namespace farlink::test
