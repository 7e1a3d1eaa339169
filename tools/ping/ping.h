// farlink ping: rping-style connectivity and data check. The client sends a
// buffer of rping's pattern, the server echoes it back, the client compares.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/cli.h"
#include "ping/rping_data.h"

namespace farlink::ping {

inline constexpr uint16_t kDefaultPort = 7174;  // rping's
// The client sends on kTagPing; the server echoes on kTagPong.
inline constexpr uint64_t kTagPing = 0xF1A7'E000'0000'0001;
inline constexpr uint64_t kTagPong = 0xF1A7'E000'0000'0002;

// Flags only --rping uses.
struct RpingFlags {
  bool enabled = false;
  int timeout_s = 10;  // bound on each step (resolve, connect, each transfer)
};

struct PingOptions {
  bool server = false;
  bool client = false;
  bool persistent = false;
  std::string address;  // server: bind address (default any); client: required
  std::string source;   // client, -I: local address to connect from (default: the route's)
  uint16_t port = kDefaultPort;
  int count = 0;  // client: 0 = until interrupted
  size_t size = kDefaultSize;
  bool verbose = false;
  bool validate = false;
  bool debug = false;
  tools::ChannelFlags channel;
  RpingFlags rping;
};

CLI::App* addPingCommand(CLI::App& app, PingOptions* opts);
// Returns a tools::ExitCode.
int runPing(const PingOptions& opts);

}  // namespace farlink::ping
