// Socket helpers for the TCP datapath's control path (connect, accept,
// options). Errors name the peer and the operation.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "core/channel_impl.h"
#include "core/unique_fd.h"
#include "transport/tcp/liveness.h"

namespace farlink::tcp {

// Resolves uri.host and starts a non-blocking connect; completion is seen by
// poll(POLLOUT) and checked with finishConnect(). A non-empty `source`
// (numeric address) is bound first: the connection leaves from it.
Result<UniqueFd> startConnect(const Uri& uri, const std::string& source);
Status finishConnect(int fd, const std::string& peer);

// A listening socket bound to uri (host "0.0.0.0", "::" or an address).
Result<UniqueFd> listenOn(const Uri& uri, int backlog);
uint16_t localPort(int fd);
std::string peerName(int fd);  // "10.0.0.2:51234"

Status setNonBlocking(int fd, bool on);
// TCP_NODELAY, buffer sizes, dead-peer detection: options every lane gets.
Status tuneLane(int fd, const ChannelOptions& options, const std::string& peer);
// The kernel keepalive's timeout on a lane, the backstop for lanes no
// thread drives (a driven lane is watched at RTT scale, see liveness.h):
// options.dead_peer_timeout, or max(10 s, 50 x rtt_us).
std::chrono::milliseconds keepaliveBackstop(const ChannelOptions& options, uint32_t rtt_us);
// The kernel's smoothed RTT of a connected socket in microseconds (0: unknown).
uint32_t socketRttUs(int fd);
// What TCP_INFO says about the lane's liveness; nullopt if the socket is gone.
std::optional<LanePulse> readPulse(int fd);

// Fills the path fields of `stats` (RTT, delivery and pacing rate, window,
// retransmits, congestion control) from the kernel's TCP_INFO; leaves them
// alone if the socket is gone.
void readPathInfo(int fd, LaneStats* stats);

// Waits for `events` on fd until the deadline; kTimedOut names `what`.
Status pollFd(int fd, short events, Deadline deadline, const std::string& what);

Status errnoStatus(StatusCode code, const std::string& what, int err);

}  // namespace farlink::tcp
