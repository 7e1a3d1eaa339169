// farlink probe: what this host offers (RDMA devices, GIDs, interfaces) and,
// given a peer, which datapath `auto` would take, the RTT, and how to size
// lanes, window and socket buffers for a target rate.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/cli.h"
#include "probe/probe_data.h"

namespace farlink::probe {

struct ProbeOptions {
  std::string host;       // empty: local report only
  uint16_t port = 7174;   // farlink ping's
  int count = 10;         // round trips to time
  std::string rate;       // "10gbit"; empty: no sizing
  double rtt_ms = 0;      // > 0: use instead of measuring
  bool json = false;
  tools::ChannelFlags channel;
};

CLI::App* addProbeCommand(CLI::App& app, ProbeOptions* opts);
// Returns a tools::ExitCode.
int runProbe(const ProbeOptions& opts);

// The report as text (for people) or one JSON object (for machines).
void printText(FILE* out, const ProbeReport& report);
std::string toJson(const ProbeReport& report);

}  // namespace farlink::probe
