// The subcommands of farlink-wanem. Each returns the process exit status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "link_params.h"
#include "topology.h"

namespace farlink::wanem {

// Documented in man/farlink-wanem.1.md; keep in sync.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,  // runtime error (setup failed, link not running, forwarder failed)
  kExitUsage = 2,  // bad command line
};

struct UpOptions {
  TopologyConfig topology;
  LinkPatch patch;
  bool daemon = false;
  int64_t buffer_bytes = 256LL << 20;  // packet buffers per direction
  uint64_t seed = 0;                   // 0: pick one
};

int runUp(const UpOptions& options);
int runDown(const std::string& name);
// Replaces this process with `command` run inside the namespace (never returns on success).
int runExec(const std::string& name, char side, const std::vector<std::string>& command);
int runStats(const std::string& name, bool json);
int runSet(const std::string& name, const LinkPatch& patch);
int runBlackout(const std::string& name, int64_t duration_ns);
int runReset(const std::string& name, int connections, int port);

// "farlink-wanem: <message>" on stderr.
void printError(const std::string& message);

}  // namespace farlink::wanem
