// Client side of the TCP handshake: open every lane in parallel, run the
// per-lane handshakes under one deadline, then hand the lanes to a channel
// (TCP), or to another datapath that bootstraps over them (UCX).
#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "transport/tcp/handshake.h"
#include "transport/tcp/socket_util.h"
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

std::string hexOf(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

Result<LaneSession> connectLanes(const Uri& uri, const ChannelOptions& o, int lane_count,
                                 uint32_t capabilities, const wire::SessionId* resume_session,
                                 std::chrono::milliseconds syn_bound) {
  const Clock::time_point start = Clock::now();
  Deadline deadline = start + o.connect_timeout;
  Deadline syn_deadline = syn_bound.count() > 0 ? start + syn_bound : deadline;
  std::string peer = uri.hostPort();
  ClientHandshake::Config cfg{o.psk, static_cast<uint32_t>(o.chunk_size), {},
                              static_cast<uint16_t>(lane_count), capabilities, {}, {}};
  randomBytes(cfg.session.data(), cfg.session.size());
  if (capabilities == 0 && o.resume_timeout.count() > 0) cfg.capabilities |= wire::kCapResume;
  if (capabilities == 0) cfg.capabilities |= wire::kCapKeepalive;
  if (resume_session != nullptr) {
    cfg.session = *resume_session;
    cfg.capabilities |= wire::kCapResume | wire::kCapResuming;
  }
  // TLS covers TCP lanes only; a bootstrap for another datapath is not one.
  cfg.ktls = o.ktls;
  if (capabilities == 0) cfg.tls = o.tls;
  else if (o.tls == TlsMode::kRequired)
    return Status(StatusCode::kNotSupported,
                  "cannot connect to " + peer + " with TLS: only tcp:// lanes are encrypted, and "
                  "FARLINK_TLS=required forbids this datapath; use tcp://, or FARLINK_TLS=on");
  // Plain TCP lanes may be paced (smaller chunks); a bootstrap connection
  // for another datapath (capability bits set) carries no frames.
  if (capabilities == 0)
    cfg.chunk_for_path = [&o](int fd) {
      return TcpFlow::chunkForPath(o, fd, static_cast<uint32_t>(o.chunk_size));
    };

  std::vector<std::unique_ptr<ClientHandshake>> hs;
  for (int i = 0; i < lane_count; ++i) {
    auto fd = startConnect(uri, o.source_address);
    if (!fd) return fd.status();
    hs.push_back(std::make_unique<ClientHandshake>(std::move(fd.value()), peer, &cfg,
                                                   static_cast<uint16_t>(i)));
  }
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<ClientHandshake*> who;
    bool syn_unanswered = false;
    for (auto& h : hs) {
      if (h->ok()) continue;
      pfds.push_back({h->fd(), h->events(), 0});
      who.push_back(h.get());
      syn_unanswered = syn_unanswered || h->connecting();
    }
    if (pfds.empty()) break;
    Deadline until = syn_unanswered ? std::min(deadline, syn_deadline) : deadline;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 && until < deadline)
      return Status(StatusCode::kTimedOut, "cannot connect to " + peer +
                                               ": no answer to the TCP connection request "
                                               "within " +
                                               std::to_string(syn_bound.count()) + " ms");
    if (left.count() <= 0)
      return Status(StatusCode::kTimedOut,
                    "cannot connect to " + peer + ": no answer to the farlink handshake within " +
                        std::to_string(o.connect_timeout.count()) + " ms");
    int rc = ::poll(pfds.data(), pfds.size(), static_cast<int>(left.count()) + 1);
    if (rc < 0 && errno != EINTR) return errnoStatus(StatusCode::kIoError, "poll", errno);
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].revents == 0) continue;
      if (who[i]->advance() && !who[i]->ok()) return who[i]->error();
    }
  }

  LaneSession setup;
  setup.peer = peer;
  setup.session_hex = hexOf(cfg.session.data(), cfg.session.size());
  setup.local_chunk = cfg.announced_chunk.value_or(cfg.max_chunk);
  setup.peer_chunk = hs[0]->peerMaxChunk();
  setup.authenticated = !o.psk.empty();
  setup.options = o;
  setup.session = cfg.session;
  setup.reconnect = uri;
  setup.resumable = (hs[0]->peerCapabilities() & wire::kCapResume) != 0;
  setup.keepalive = (hs[0]->peerCapabilities() & wire::kCapKeepalive) != 0;
  for (auto& h : hs) {
    if (((h->peerCapabilities() & wire::kCapKeepalive) != 0) != setup.keepalive)
      return Status(StatusCode::kProtocolError,
                    "peer " + peer + " agreed to keepalive frames on some lanes only");
    if (((h->peerCapabilities() & wire::kCapResume) != 0) != setup.resumable)
      return Status(StatusCode::kProtocolError,
                    "peer " + peer + " agreed to session resume on some lanes only");
    if (h->peerMaxChunk() != setup.peer_chunk)
      return Status(StatusCode::kProtocolError, "peer " + peer + " announced different chunk sizes on its lanes");
    if (auto tls = h->takeTls()) setup.tls.push_back(std::move(tls));
    UniqueFd fd = h->takeFd();
    if (Status s = tuneLane(fd.get(), o, peer); !s) return s;
    setup.lanes.push_back(std::move(fd));
  }
  return setup;
}

Result<std::shared_ptr<ChannelImpl>> connectTcp(const Uri& uri, const ChannelOptions& o) {
  auto setup = connectLanes(uri, o, o.lanes);
  if (!setup) return setup.status();
  auto ch = TcpChannel::create(std::move(setup.value()));
  if (!ch) return ch.status();
  return std::shared_ptr<ChannelImpl>(std::move(ch.value()));
}

}  // namespace farlink::tcp
