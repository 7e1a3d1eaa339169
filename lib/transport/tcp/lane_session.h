// Connect and listen with farlink's TCP handshake, shared so that every
// datapath that rides it (TCP lanes, the UCX bootstrap) keeps the same PSK
// checks, limits and rejections. The result is a LaneSession (core).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/channel_impl.h"
#include "core/lane_session.h"
#include "core/unique_fd.h"

namespace farlink::tcp {

using farlink::LaneSession;

// Opens `lane_count` connections to uri and runs the farlink handshake on
// each under one deadline (options.connect_timeout); `capabilities` are
// HELLO bits beyond PSK (wire::kCapUcx for a UCX bootstrap).
// With o.resume_timeout > 0, plain TCP lanes (no capability bits) offer
// session resume; `resume_session` (non-null) reconnects that live session
// instead of opening a new one (HELLO kCapResuming). `syn_bound` > 0:
// give up (kTimedOut) when a lane's TCP connect is still unanswered after
// that long, so that a caller retrying sends a fresh SYN instead of waiting
// for the kernel's own retransmissions (1 s, then 3 s, ...).
Result<LaneSession> connectLanes(const Uri& uri, const ChannelOptions& o, int lane_count,
                                 uint32_t capabilities = 0,
                                 const wire::SessionId* resume_session = nullptr,
                                 std::chrono::milliseconds syn_bound = {});

// A listener that runs handshakes, groups lanes by session and hands each
// complete session to `make` (see TransportFactory::adopt); `scheme` names
// it in uri().
Result<std::unique_ptr<ListenerImpl>> listenSessions(const Uri& uri, const ChannelOptions& o,
                                                     std::string scheme, SessionToChannel make);

// Lower-case hex of n bytes (session ids in stats).
std::string hexOf(const uint8_t* p, size_t n);

}  // namespace farlink::tcp
