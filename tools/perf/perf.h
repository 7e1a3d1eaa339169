// farlink perf: perftest/iperf-style bandwidth and latency measurement.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/cli.h"

namespace farlink::perf {

inline constexpr uint16_t kDefaultPort = 18515;  // perftest's
inline constexpr unsigned kDefaultDepth = 32;

struct PerfOptions {
  bool server = false;
  std::string client_host;  // -c; empty with !server = embedded loopback server
  uint16_t port = kDefaultPort;
  std::string bind;  // server: listen address (empty: 0.0.0.0); client: source address
  tools::ChannelFlags channel;
  std::string mode = "bw";
  std::string size;     // empty: 65536 (bw) or 2 (lat)
  uint64_t iters = 0;   // 0: 5000 (bw) or 1000 (lat)
  double duration = 0;  // seconds; 0: count iterations
  unsigned tx_depth = kDefaultDepth;
  bool all = false;
  bool bidir = false;
  bool json = false;
  bool verify = false;
  bool once = false;
  std::string plot;  // --plot FILE: the sweep as an SVG chart
};

// Adds the "perf" subcommand to `app`; parsed values land in *opts.
CLI::App* addPerfCommand(CLI::App& app, PerfOptions* opts);
// Runs the subcommand; returns a tools::ExitCode.
int runPerf(const PerfOptions& opts);

}  // namespace farlink::perf
