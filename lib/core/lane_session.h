// What farlink's TCP handshake produces: authenticated sockets of one
// session and what both ends announced. The TCP datapath turns it into a
// channel of TCP lanes; datapaths that bootstrap over the handshake (UCX)
// keep one socket for their wireup. In core so that the registry can hand a
// session to whichever datapath its HELLO names (auto:// serves several on
// one port).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "core/uri.h"
#include "core/wire.h"
#include "farlink/options.h"

namespace farlink {
namespace tcp {
class TlsLane;      // lib/transport/tcp/tls_lane.h
class ResumeHub;    // lib/transport/tcp/resume.h
}

struct LaneSession {
  std::vector<UniqueFd> lanes;  // in lane order, handshake done, tuned
  // With TLS agreed: each lane's session, in lane order; else empty.
  std::vector<std::shared_ptr<tcp::TlsLane>> tls;
  std::string peer;
  std::string session_hex;
  uint32_t local_chunk = 0;
  uint32_t peer_chunk = 0;
  uint32_t capabilities = 0;  // the client's HELLO capability bits
  bool authenticated = false;
  ChannelOptions options;
  // Session resume (TCP lanes, kCapResume agreed by both ends).
  wire::SessionId session{};
  bool resumable = false;
  // KEEPALIVE frames (TCP lanes, kCapKeepalive agreed by both ends).
  bool keepalive = false;
  // Connecting side: where to reconnect. Accepting side: the listener's
  // table that routes reconnected lanes to this session.
  Uri reconnect;
  std::shared_ptr<tcp::ResumeHub> hub;
};

}  // namespace farlink
