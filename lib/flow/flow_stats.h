// A snapshot of one channel's flow control, shaped to be copied into
// ChannelStats (farlink/channel.h) once a datapath uses lib/flow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flow/flow_time.h"

namespace farlink::flow {

struct LaneFlowStats {
  bool up = true;
  bool stalled = false;
  BytesPerSecond delivery_rate = 0;
  FlowDuration srtt{0};
  FlowDuration min_rtt{0};
  uint64_t inflight_bytes = 0;
  uint64_t queued_bytes = 0;
  uint64_t acked_bytes = 0;
};

struct FlowStats {
  FlowDuration rtt_min{0};
  FlowDuration rtt_smoothed{0};
  FlowDuration rtt_var{0};
  FlowDuration rtt_p99{0};
  FlowDuration queueing_delay{0};    // srtt − min RTT
  BytesPerSecond delivery_rate = 0;  // windowed-max estimate (BtlBw)
  BytesPerSecond pacing_rate = 0;
  uint64_t inflight_bytes = 0;
  uint64_t inflight_cap = 0;
  uint64_t queued_bytes = 0;
  int lanes = 0;
  int lanes_up = 0;
  int lanes_stalled = 0;
  uint64_t chunks_completed = 0;
  uint64_t bytes_completed = 0;
  uint64_t retransmits = 0;  // chunks sent again (loss, stalled or dead lane)
  uint64_t duplicates = 0;   // acks of chunks already completed by another copy
  uint64_t losses = 0;       // chunks the datapath reported lost
  uint64_t rounds = 0;
  std::string controller;       // "model" / "fixed"
  std::string state;            // controller state, e.g. "probe_bw"
  std::string limiting_factor;  // what holds the rate down right now
  std::vector<LaneFlowStats> lane;
};

}  // namespace farlink::flow
