// The path to a host, for farlink probe: which datapath `auto` would take and
// the round-trip time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/cli.h"
#include "farlink/status.h"
#include "probe/probe_data.h"

namespace farlink::probe {

// verbs when rdma_cm resolves `host` to a local RDMA device and this build has
// the verbs datapath, else tcp; `reason` says which fact decided it.
TransportChoice chooseTransport(const std::string& host, const std::vector<std::string>& built);

// RTT over `count` round trips. A farlink ping exchange when a farlink
// listener (e.g. `farlink ping -s`) answers on host:port; else `count` TCP
// connects, each of which takes one round trip whether the port accepts
// (SYN-ACK) or refuses (RST). `fallback_note` receives why the farlink
// exchange was not used. Blocks up to a few seconds per unanswered attempt.
Result<RttSummary> measureRtt(const std::string& host, uint16_t port, int count,
                              const tools::ChannelFlags& flags, std::string* fallback_note);

}  // namespace farlink::probe
