// A farlink perf connection seen from each end: the client drives a list of
// runs (one per message size); the server answers them until BYE.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "common/report.h"
#include "farlink/channel.h"
#include "perf/control.h"

namespace farlink::perf {

struct Output {
  bool quiet = false;  // embedded server: the client prints
  bool json = false;
  FILE* table = stdout;
  FILE* info = stdout;  // stderr with --json, so stdout stays pure JSON lines
};

// Lines printed above the table (perftest prints such a block too).
struct Banner {
  std::string server;  // "127.0.0.1:18515 (embedded, loopback)"
  size_t chunk_size = 0;
  std::string length;  // "5000 iterations" / "2 s per size"
};

struct ClientResult {
  Status status;
  uint64_t verify_errors = 0;
  // The rows printed, in order (for --plot).
  std::vector<tools::BwRow> bw;
  std::vector<tools::LatRow> lat;
};

// Runs every spec in order, printing a row per spec, then says BYE and closes.
ClientResult runClientSession(Channel& ch, const std::vector<TestSpec>& specs, const Banner& banner,
                              const Output& out);

// Serves one client until BYE or until it leaves between runs.
Status serveClient(Channel& ch, const Output& out);

}  // namespace farlink::perf
