// What the TCP handshake produces: authenticated sockets of one session and
// what both ends announced. The TCP datapath turns it into a TcpChannel; the
// UCX datapath uses one such socket as its bootstrap connection. Connect and
// listen are shared so every datapath that rides a TCP handshake keeps the
// same PSK checks, limits and rejections.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/channel_impl.h"
#include "core/unique_fd.h"

namespace farlink::tcp {

struct LaneSession {
  std::vector<UniqueFd> lanes;  // in lane order, handshake done, tuned
  std::string peer;
  std::string session_hex;
  uint32_t local_chunk = 0;
  uint32_t peer_chunk = 0;
  bool authenticated = false;
  ChannelOptions options;
};

// Opens `lane_count` connections to uri and runs the farlink handshake on
// each under one deadline (options.connect_timeout).
Result<LaneSession> connectLanes(const Uri& uri, const ChannelOptions& o, int lane_count);

// Turns a complete session into a channel. Runs inside Listener::accept,
// so it must finish within the session's own deadline.
using SessionToChannel = std::function<Result<std::shared_ptr<ChannelImpl>>(LaneSession)>;

// A listener that runs handshakes, groups lanes by session and hands each
// complete session to `make`; `scheme` names it in uri().
Result<std::unique_ptr<ListenerImpl>> listenSessions(const Uri& uri, const ChannelOptions& o,
                                                     std::string scheme, SessionToChannel make);

// Lower-case hex of n bytes (session ids in stats).
std::string hexOf(const uint8_t* p, size_t n);

}  // namespace farlink::tcp
