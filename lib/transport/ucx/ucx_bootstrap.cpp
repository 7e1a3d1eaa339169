#include "transport/ucx/ucx_bootstrap.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/byte_order.h"
#include "core/wire.h"
#include "transport/tcp/socket_util.h"

namespace farlink::ucx {
namespace {

constexpr uint8_t kWireupMagic[4] = {'F', 'L', 'U', 'X'};
constexpr uint16_t kWireupVersion = 1;

Status ioFailed(const std::string& peer, const char* op, int err) {
  if (err == 0)
    return Status(
        StatusCode::kPeerClosed,
        "ucx wireup with " + peer + ": the peer closed the bootstrap connection during " + op +
            " (a listener of another scheme, e.g. tcp://, refuses UCX clients; use ucx:// "
            "or auto:// on both sides)");
  return tcp::errnoStatus(StatusCode::kIoError, std::string("ucx wireup ") + op + " with " + peer,
                          err);
}

Status readExact(int fd, uint8_t* p, size_t n, Deadline deadline, const std::string& peer) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return ioFailed(peer, "receive", 0);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ioFailed(peer, "receive", errno);
    if (Status s =
            tcp::pollFd(fd, POLLIN, deadline, "waiting for the ucx wireup message from " + peer);
        !s)
      return s;
  }
  return Status();
}

}  // namespace

std::string encodeWireup(const Wireup& w) {
  std::string out(kWireupFixedSize + w.address.size(), '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kWireupMagic, 4);
  put16(p + 4, kWireupVersion);
  put16(p + 6, w.lanes);
  put32(p + 8, static_cast<uint32_t>(w.address.size()));
  if (!w.address.empty()) std::memcpy(p + kWireupFixedSize, w.address.data(), w.address.size());
  return out;
}

Status decodeWireupFixed(const uint8_t* in, Wireup* w, size_t* address_len) {
  if (std::memcmp(in, kWireupMagic, 4) != 0)
    return Status(StatusCode::kProtocolError, "not a ucx wireup message (bad magic)");
  if (get16(in + 4) != kWireupVersion)
    return Status(StatusCode::kProtocolError,
                  "ucx wireup version " + std::to_string(get16(in + 4)) + " (this side speaks 1)");
  w->lanes = get16(in + 6);
  if (w->lanes < 1 || w->lanes > wire::kMaxLanes)
    return Status(StatusCode::kProtocolError, "ucx wireup asks for " + std::to_string(w->lanes) +
                                                  " lanes (1.." + std::to_string(wire::kMaxLanes) +
                                                  ")");
  *address_len = get32(in + 8);
  if (*address_len == 0 || *address_len > kMaxWorkerAddress)
    return Status(StatusCode::kProtocolError,
                  "ucx wireup carries a " + std::to_string(*address_len) +
                      "-byte worker address (1.." + std::to_string(kMaxWorkerAddress) + ")");
  return Status();
}

Status sendWireup(int fd, const Wireup& mine, Deadline deadline, const std::string& peer) {
  std::string bytes = encodeWireup(mine);
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t r = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      sent += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return ioFailed(peer, "send", errno);
    if (Status s =
            tcp::pollFd(fd, POLLOUT, deadline, "waiting to send the ucx wireup message to " + peer);
        !s)
      return s;
  }
  return Status();
}

Result<Wireup> receiveWireup(int fd, Deadline deadline, const std::string& peer) {
  uint8_t fixed[kWireupFixedSize];
  if (Status s = readExact(fd, fixed, sizeof fixed, deadline, peer); !s) return s;
  Wireup w;
  size_t len = 0;
  if (Status s = decodeWireupFixed(fixed, &w, &len); !s)
    return Status(s.code(), "peer " + peer + ": " + s.message());
  w.address.resize(len);
  if (Status s = readExact(fd, w.address.data(), len, deadline, peer); !s) return s;
  return w;
}

}  // namespace farlink::ucx
