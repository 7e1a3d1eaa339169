// Entry points of the UCX datapath, for its registration and for auto://.
#pragma once

#include <memory>
#include <string>

#include "core/channel_impl.h"

namespace farlink::ucx {

// `reason`: set by auto:// to say why UCX was chosen (shown in stats()).
Result<std::shared_ptr<ChannelImpl>> connectUcx(const Uri& uri, const ChannelOptions& o,
                                                const std::string& reason);
Result<std::unique_ptr<ListenerImpl>> listenUcx(const Uri& uri, const ChannelOptions& o);
// The server side of wireup for a session whose HELLO asked for UCX.
Result<std::shared_ptr<ChannelImpl>> acceptSession(LaneSession s);
// For auto://: empty when UCX offers a transport beyond TCP and shared
// memory (an RDMA device, ...), else why UCX is not worth choosing.
std::string unusableForAuto(const Uri& uri, const ChannelOptions& o);

}  // namespace farlink::ucx
