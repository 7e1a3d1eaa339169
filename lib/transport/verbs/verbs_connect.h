// Control-path helpers shared by the verbs connect and listen code.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/channel_impl.h"
#include "transport/verbs/verbs_handshake.h"
#include "transport/verbs/verbs_lane.h"

namespace farlink::verbs {

Result<sockaddr_storage> resolveHost(const Uri& uri, bool passive);
// options.source_address as a sockaddr for rdma_resolve_addr (port 0);
// family AF_UNSPEC when none is set (the route picks the device).
Result<sockaddr_storage> sourceAddress(const ChannelOptions& o);
inline sockaddr* sourceOrNull(sockaddr_storage& ss) {
  return ss.ss_family == AF_UNSPEC ? nullptr : reinterpret_cast<sockaddr*>(&ss);
}
// Posts one handshake message (plain SEND, no credits) from a free send slot.
Status sendMessage(Lane& lane, const std::string& bytes);
// Feeds received handshake messages to `feed` and sends its replies, until
// the handshake says it is finished; completions after that are left in the
// CQ for the channel.
Status pollHandshakeCq(Lane& lane, const std::function<HsStep(const uint8_t*, size_t)>& feed,
                       bool* finished);
// Sleeps (at most 50 ms) until a CM event or a completion on one of `lanes`.
void waitForLanes(rdma_event_channel* ec, const std::vector<Lane*>& lanes, Deadline deadline);
Status cmEventError(rdma_cm_event_type type, int status, const std::string& peer);

// `reason`: set by auto:// to say why verbs was chosen (shown in stats()).
Result<std::shared_ptr<ChannelImpl>> connectVerbs(const Uri& uri, const ChannelOptions& o,
                                                  const std::string& reason = "");
Result<std::unique_ptr<ListenerImpl>> listenVerbs(const Uri& uri, const ChannelOptions& o);

}  // namespace farlink::verbs
