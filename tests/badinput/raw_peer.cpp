#include "raw_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace farlink::test {
namespace {

using Clock = std::chrono::steady_clock;

int msLeft(Clock::time_point end) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

template <size_t N>
void randomFill(std::array<uint8_t, N>& a) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (auto& b : a) b = static_cast<uint8_t>(rng());
}

}  // namespace

RawPeer::~RawPeer() { close(); }

void RawPeer::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawPeer::connect(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  local_port_ = ntohs(a.sin_port);
  return true;
}

std::string RawPeer::name() const { return "127.0.0.1:" + std::to_string(local_port_); }

bool RawPeer::send(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::optional<std::vector<uint8_t>> RawPeer::readExact(size_t n,
                                                       std::chrono::milliseconds timeout) {
  std::vector<uint8_t> out(n);
  size_t got = 0;
  auto end = Clock::now() + timeout;
  while (got < n) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, msLeft(end));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      error_ = r == 0 ? "timed out reading" : std::string("poll: ") + std::strerror(errno);
      return std::nullopt;
    }
    ssize_t k = ::recv(fd_, out.data() + got, n - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      error_ = k == 0 ? "peer closed" : std::string("recv: ") + std::strerror(errno);
      return std::nullopt;
    }
    got += static_cast<size_t>(k);
  }
  return out;
}

bool RawPeer::waitClosed(std::chrono::milliseconds timeout, std::vector<uint8_t>* received) {
  auto end = Clock::now() + timeout;
  uint8_t buf[4096];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, msLeft(end));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;  // still open at the deadline
    ssize_t k = ::recv(fd_, buf, sizeof buf, 0);
    if (k == 0) return true;
    if (k < 0 && errno == ECONNRESET) return true;
    if (k < 0 && errno != EINTR) return false;
    if (k > 0 && received) received->insert(received->end(), buf, buf + k);
  }
}

wire::Hello RawPeer::hello(uint16_t lane_index, uint16_t lane_count, bool psk) {
  wire::Hello h;
  h.capabilities = psk ? wire::kCapPsk : 0;
  h.lane_index = lane_index;
  h.lane_count = lane_count;
  h.max_chunk = wire::kMinChunk;  // the chunk size this peer promises to use
  randomFill(h.session);
  randomFill(h.nonce);
  return h;
}

bool RawPeer::sendHello(const wire::Hello& h) {
  uint8_t b[wire::kHelloSize];
  wire::encodeHello(h, b);
  return send(b, sizeof b);
}

std::optional<wire::Welcome> RawPeer::readWelcome(std::chrono::milliseconds timeout) {
  auto fixed = readExact(wire::kWelcomeFixedSize, timeout);
  if (!fixed) return std::nullopt;
  fixed->resize(wire::kWelcomeFixedSize + 8, 0);  // slack: the decoder must not read past 80
  wire::Welcome w;
  size_t reason_len = 0;
  Status s = wire::decodeWelcomeFixed(
      std::span<const uint8_t, wire::kWelcomeFixedSize>(fixed->data(), wire::kWelcomeFixedSize), &w,
      &reason_len);
  if (!s) {
    error_ = "bad WELCOME: " + s.toString();
    return std::nullopt;
  }
  if (reason_len > 0) {
    auto reason = readExact(reason_len, timeout);
    if (!reason) return std::nullopt;
    w.reason.assign(reason->begin(), reason->end());
  }
  return w;
}

std::optional<wire::Verdict> RawPeer::readVerdict(std::chrono::milliseconds timeout) {
  auto fixed = readExact(wire::kVerdictFixedSize, timeout);
  if (!fixed) return std::nullopt;
  wire::Verdict v;
  size_t reason_len = 0;
  Status s = wire::decodeVerdictFixed(
      std::span<const uint8_t, wire::kVerdictFixedSize>(fixed->data(), wire::kVerdictFixedSize), &v,
      &reason_len);
  if (!s) {
    error_ = "bad VERDICT: " + s.toString();
    return std::nullopt;
  }
  if (reason_len > 0) {
    auto reason = readExact(reason_len, timeout);
    if (!reason) return std::nullopt;
    v.reason.assign(reason->begin(), reason->end());
  }
  return v;
}

bool RawPeer::handshake(const std::string& psk, std::string* why) {
  const auto timeout = std::chrono::milliseconds(5000);
  wire::Hello h = hello(0, 1, !psk.empty());
  if (!sendHello(h)) return *why = error_, false;
  auto w = readWelcome(timeout);
  if (!w) return *why = "no WELCOME: " + error_, false;
  if (w->status != wire::HandshakeStatus::kOk)
    return *why = std::string("WELCOME ") + wire::handshakeStatusName(w->status) + ": " + w->reason,
           false;
  if (psk.empty()) return true;
  wire::Proof expect_server =
      wire::computeProof(psk, wire::Role::kServer, h.session, 0, h.nonce, w->nonce);
  if (!wire::proofEqual(expect_server, w->proof))
    return *why = "server proof does not match the key", false;
  wire::Proof mine = wire::computeProof(psk, wire::Role::kClient, h.session, 0, h.nonce, w->nonce);
  if (!send(mine.data(), mine.size())) return *why = error_, false;
  auto v = readVerdict(timeout);
  if (!v) return *why = "no VERDICT: " + error_, false;
  if (v->status != wire::HandshakeStatus::kOk)
    return *why = std::string("VERDICT ") + wire::handshakeStatusName(v->status), false;
  return true;
}

bool RawPeer::sendFrame(const wire::FrameHeader& f, const void* payload, size_t n) {
  uint8_t b[wire::kFrameHeaderSize];
  wire::encodeFrame(f, b);
  return send(b, sizeof b) && (n == 0 || send(payload, n));
}

wire::FrameHeader dataFrame(uint64_t msg_seq, uint64_t tag, uint32_t n) {
  wire::FrameHeader f;
  f.type = wire::FrameType::kData;
  f.chunk_len = n;
  f.msg_seq = msg_seq;
  f.tag = tag;
  f.offset = 0;
  f.total_len = n;
  return f;
}

}  // namespace farlink::test
