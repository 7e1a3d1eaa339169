#include "transport/tcp/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace farlink::tcp {

Status errnoStatus(StatusCode code, const std::string& what, int err) {
  return Status(code, what + ": " + std::strerror(err), err);
}

namespace {

std::string sockaddrName(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

Result<addrinfo*> resolve(const Uri& uri, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  std::string port = std::to_string(uri.port);
  int rc = getaddrinfo(uri.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return Status(StatusCode::kInvalidArgument,
                  "cannot resolve " + uri.hostPort() + ": " + gai_strerror(rc));
  return res;
}

StatusCode connectErrorCode(int err) {
  return err == ETIMEDOUT ? StatusCode::kTimedOut : StatusCode::kIoError;
}

}  // namespace

Result<UniqueFd> startConnect(const Uri& uri, const std::string& source) {
  sockaddr_storage src{};
  socklen_t src_len = 0;
  if (!source.empty()) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&src);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&src);
    if (inet_pton(AF_INET, source.c_str(), &s4->sin_addr) == 1) {
      s4->sin_family = AF_INET;
      src_len = sizeof *s4;
    } else if (inet_pton(AF_INET6, source.c_str(), &s6->sin6_addr) == 1) {
      s6->sin6_family = AF_INET6;
      src_len = sizeof *s6;
    } else {
      return Status(StatusCode::kInvalidArgument,
                    "source address '" + source + "' (FARLINK_SOURCE_ADDRESS) is not numeric");
    }
  }
  auto res = resolve(uri, false);
  if (!res) return res.status();
  Status last(StatusCode::kIoError, "cannot connect to " + uri.hostPort() + ": no address");
  if (src_len != 0)
    last = Status(StatusCode::kInvalidArgument,
                  "cannot connect to " + uri.hostPort() + " from " + source +
                      ": the peer has no address of that family");
  for (addrinfo* ai = *res; ai != nullptr; ai = ai->ai_next) {
    if (src_len != 0 && ai->ai_family != src.ss_family) continue;
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         ai->ai_protocol));
    if (!fd.valid()) {
      last = errnoStatus(StatusCode::kIoError, "cannot create a socket for " + uri.hostPort(), errno);
      continue;
    }
    // Port 0: the kernel picks one, so many lanes share the source address.
    if (src_len != 0 && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), src_len) != 0) {
      last = errnoStatus(StatusCode::kInvalidArgument,
                         "cannot connect to " + uri.hostPort() + " from source address " + source +
                             " (FARLINK_SOURCE_ADDRESS; is it an address of this host?)",
                         errno);
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
      freeaddrinfo(*res);
      return fd;
    }
    int err = errno;
    last = errnoStatus(connectErrorCode(err), "cannot connect to " + uri.hostPort(), err);
  }
  freeaddrinfo(*res);
  return last;
}

Status finishConnect(int fd, const std::string& peer) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return errnoStatus(connectErrorCode(err), "cannot connect to " + peer, err);
  return Status();
}

Result<UniqueFd> listenOn(const Uri& uri, int backlog) {
  auto res = resolve(uri, true);
  if (!res) return res.status();
  Status last(StatusCode::kIoError, "cannot listen on " + uri.hostPort() + ": no address");
  for (addrinfo* ai = *res; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         ai->ai_protocol));
    if (!fd.valid()) continue;
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), backlog) != 0) {
      last = errnoStatus(StatusCode::kIoError, "cannot listen on " + uri.hostPort(), errno);
      continue;
    }
    freeaddrinfo(*res);
    return fd;
  }
  freeaddrinfo(*res);
  return last;
}

uint16_t localPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

std::string peerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddrName(ss);
}

Status setNonBlocking(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errnoStatus(StatusCode::kIoError, "fcntl(F_GETFL)", errno);
  fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, fl) != 0) return errnoStatus(StatusCode::kIoError, "fcntl(F_SETFL)", errno);
  return Status();
}

Status tuneLane(int fd, const ChannelOptions& o, const std::string& peer) {
  int one = 1;
  if (o.nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    return errnoStatus(StatusCode::kIoError, "TCP_NODELAY on lane to " + peer, errno);
  if (o.socket_buffer > 0) {
    int sz = static_cast<int>(o.socket_buffer);
    // The kernel caps these at net.core.{w,r}mem_max; not an error.
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  }
  // While a thread drives the channel, TcpChannel::checkLiveness watches
  // every lane at the scale of its RTT (KEEPALIVE frames on quiet lanes).
  // Kernel keepalive (after a third of the timeout, then three probes,
  // answered by the peer's kernel) is the backstop for a lane nobody
  // drives; it counts in seconds. Not TCP_USER_TIMEOUT: that also fires on
  // a peer that is merely slow to read (a closed window), and it is alive.
  auto timeout = keepaliveBackstop(o, socketRttUs(fd));
  int secs = static_cast<int>(std::max<int64_t>(3, timeout.count() / 1000));
  int idle = std::max(1, secs / 3), intvl = std::max(1, (secs - idle) / 3), cnt = 3;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) != 0)
    return errnoStatus(StatusCode::kIoError, "dead-peer detection (keepalive) on lane to " + peer, errno);
  return Status();
}

std::chrono::milliseconds keepaliveBackstop(const ChannelOptions& o, uint32_t rtt_us) {
  if (o.dead_peer_timeout.count() > 0) return o.dead_peer_timeout;
  auto derived = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::microseconds(
      uint64_t{rtt_us} * 50));
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(10), derived);
}

Status pollFd(int fd, short events, Deadline deadline, const std::string& what) {
  for (;;) {
    int ms = -1;
    if (deadline != Deadline::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Status(StatusCode::kTimedOut, what);
      ms = static_cast<int>(std::min<int64_t>(left.count() + 1, INT32_MAX));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return Status();
    if (rc < 0 && errno != EINTR) return errnoStatus(StatusCode::kIoError, what, errno);
  }
}

}  // namespace farlink::tcp
