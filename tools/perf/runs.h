// One test run (one message size) of farlink perf, client and server halves.
// Both follow the exchange described in control.h.
#pragma once

#include <chrono>

#include "farlink/channel.h"
#include "perf/control.h"

// Returns the Status of `expr` from the enclosing function when it failed.
#define FL_TRY(expr)                                   \
  do {                                                 \
    if (::farlink::Status s_ = (expr); !s_) return s_; \
  } while (0)

namespace farlink::perf {

inline constexpr std::chrono::milliseconds kControlTimeout{60'000};
inline constexpr uint64_t kSeedUp = 0;                    // client → server payloads
inline constexpr uint64_t kSeedDown = uint64_t{1} << 62;  // server → client payloads

// What both sides know after a run.
struct RunOutcome {
  RunReport server;  // bw: what the server received; lat: counts only
  RunReport client;  // bidir: what the client received; lat: the client's samples
};

// "expected <want>, got <type>" as a protocol error.
Status unexpectedMessage(const ControlMsg& got, const char* want);
// A peer may not ask for more fillers than receives it could have posted.
Status checkExcess(const RunReport& report, const TestSpec& spec);

// Client: sends RUN and waits for ACCEPT; REFUSE becomes an error with the
// server's reason. Server: sends ACCEPT. Runs call these once their buffers
// are ready, so allocation stays out of the timing.
Status requestRun(Channel& ch, ControlPoller& down, const TestSpec& spec);
Status acceptRun(Channel& ch);

// A whole run, from RUN (client) or after RUN passed checkSpec (server) to
// the fillers. `down` reads server→client control, `up` client→server.
Result<RunOutcome> runBwClient(Channel& ch, ControlPoller& down, const TestSpec& spec);
Result<RunOutcome> runLatClient(Channel& ch, ControlPoller& down, const TestSpec& spec);
Result<RunOutcome> runBwServer(Channel& ch, ControlPoller& up, const TestSpec& spec);
Result<RunOutcome> runLatServer(Channel& ch, ControlPoller& up, const TestSpec& spec);

}  // namespace farlink::perf
