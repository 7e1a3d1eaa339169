#include "ping/rping_verbs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace farlink::ping::rdma {
namespace {

constexpr std::chrono::milliseconds kStopSlice{200};

// Deleters cannot report upwards; a failure here means a leak, so say so.
void logFailure(const char* what, int err) noexcept {
  std::fprintf(stderr, "farlink ping: %s failed during teardown: %s\n", what, std::strerror(err));
}

Status setNonBlocking(int fd, const char* what) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return Status(StatusCode::kIoError, std::string("cannot make the ") + what + " non-blocking",
                  errno);
  return Status::ok();
}

}  // namespace

void EventChannelDeleter::operator()(rdma_event_channel* c) const noexcept {
  rdma_destroy_event_channel(c);
}
void CmIdDeleter::operator()(rdma_cm_id* id) const noexcept {
  if (rdma_destroy_id(id)) logFailure("rdma_destroy_id", errno);
}
void PdDeleter::operator()(ibv_pd* pd) const noexcept {
  if (int e = ibv_dealloc_pd(pd)) logFailure("ibv_dealloc_pd", e);
}
void CompChannelDeleter::operator()(ibv_comp_channel* c) const noexcept {
  if (int e = ibv_destroy_comp_channel(c)) logFailure("ibv_destroy_comp_channel", e);
}
void CqDeleter::operator()(ibv_cq* cq) const noexcept {
  if (int e = ibv_destroy_cq(cq)) logFailure("ibv_destroy_cq", e);
}
void MrDeleter::operator()(ibv_mr* mr) const noexcept {
  if (int e = ibv_dereg_mr(mr)) logFailure("ibv_dereg_mr", e);
}
QpGuard::~QpGuard() {
  if (id_ && id_->qp) rdma_destroy_qp(id_);
}

Result<EventChannelPtr> createEventChannel() {
  errno = 0;
  EventChannelPtr ch(rdma_create_event_channel());
  if (!ch) {
    const int e = errno;
    if (e == ENODEV || e == ENOENT || e == ENXIO)
      return Status(StatusCode::kNotSupported,
                    "no RDMA device found (rping needs an RDMA NIC or Soft-RoCE: "
                    "rdma link add rxe0 type rxe netdev <if>)",
                    e);
    return Status(StatusCode::kIoError, "cannot open the rdma_cm event channel", e);
  }
  if (Status s = setNonBlocking(ch->fd, "rdma_cm event channel"); !s) return s;
  return ch;
}

Result<CmIdPtr> createId(rdma_event_channel* channel) {
  rdma_cm_id* id = nullptr;
  if (rdma_create_id(channel, &id, nullptr, RDMA_PS_TCP))
    return Status(StatusCode::kIoError, "rdma_create_id failed", errno);
  return CmIdPtr(id);
}

Result<CmEvent> pollCmEvent(rdma_event_channel* channel) {
  rdma_cm_event* ev = nullptr;
  if (rdma_get_cm_event(channel, &ev)) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status(StatusCode::kAgain, "no cm event");
    return Status(StatusCode::kIoError, "rdma_get_cm_event failed", errno);
  }
  CmEvent out;
  out.type = ev->event;
  out.status = ev->status;
  out.id = ev->id;
  out.listen_id = ev->listen_id;
  rdma_ack_cm_event(ev);
  return out;
}

Status waitReadable(int fd_a, int fd_b, Clock::time_point deadline, const std::atomic<bool>& stop) {
  pollfd fds[2] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}};
  for (;;) {
    if (stop) return Status(StatusCode::kCancelled, "interrupted");
    const auto now = Clock::now();
    if (now >= deadline) return Status(StatusCode::kTimedOut, "timed out");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const int ms = static_cast<int>(std::min(left, kStopSlice).count()) + 1;
    const int n = poll(fds, fd_b >= 0 ? 2 : 1, ms);
    if (n > 0) return Status::ok();
    if (n < 0 && errno != EINTR) return Status(StatusCode::kIoError, "poll failed", errno);
  }
}

Result<CmEvent> waitCmEvent(rdma_event_channel* channel, Clock::time_point deadline,
                            const std::atomic<bool>& stop) {
  for (;;) {
    Result<CmEvent> ev = pollCmEvent(channel);
    if (ev || ev.status().code() != StatusCode::kAgain) return ev;
    if (Status s = waitReadable(channel->fd, -1, deadline, stop); !s) return s;
  }
}

Result<sockaddr_storage> resolveAddress(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int e = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); e != 0)
    return Status(StatusCode::kInvalidArgument,
                  "cannot resolve '" + host + "': " + gai_strerror(e));
  sockaddr_storage out{};
  bool found = false;
  for (addrinfo* ai = res; ai && !found; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    std::memcpy(&out, ai->ai_addr, ai->ai_addrlen);
    found = true;
  }
  freeaddrinfo(res);
  if (!found)
    return Status(StatusCode::kInvalidArgument, "'" + host + "' has no IPv4 or IPv6 address");
  return out;
}

std::string formatAddress(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

std::string describeEvent(const CmEvent& e) {
  std::string out = rdma_event_str(e.type);
  if (e.status) out += " (status " + std::to_string(e.status) + ")";
  return out;
}

Status unexpectedEvent(const CmEvent& e, const std::string& peer, const std::string& what) {
  std::string hint;
  switch (e.type) {
    case RDMA_CM_EVENT_REJECTED:
      hint = ": refused; is an rping server (rping -s, farlink ping --rping -s) listening there?";
      break;
    case RDMA_CM_EVENT_UNREACHABLE:
    case RDMA_CM_EVENT_ADDR_ERROR:
    case RDMA_CM_EVENT_ROUTE_ERROR:
      hint = ": no RDMA path; check that the address is on an RDMA device (rdma link show)";
      break;
    case RDMA_CM_EVENT_DISCONNECTED:
      return Status(StatusCode::kPeerClosed, peer + " disconnected during " + what);
    case RDMA_CM_EVENT_DEVICE_REMOVAL:
      hint = ": the RDMA device went away";
      break;
    default:
      break;
  }
  return Status(StatusCode::kIoError,
                what + " with " + peer + " failed: " + describeEvent(e) + hint);
}

}  // namespace farlink::ping::rdma
