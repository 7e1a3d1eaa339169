// farlink perf's control messages: how client and server agree on a test and
// exchange what they measured. They travel on the test's own channel, on
// reserved tags, as little-endian fixed-layout records (version 1):
//
//   u32 magic "FLPC", u16 version, u16 type,
//   spec:   u8 mode, u8 flags, u16 depth, u32 reserved, u64 size, u64 iters,
//           u64 duration_ms
//   u64 count                      (END: messages sent)
//   report: u64 messages, bytes, elapsed_ns, peak_bps, excess, verify_errors,
//           f64 latency[7] (min max typical avg stdev p99 p99.9, microseconds)
//   u16 text_len, text             (REFUSE: why)
//
// One test ("run"), client C and server S:
//   C→S RUN(spec)   S→C ACCEPT | REFUSE(text)
//   data phase; C→S END(count); with --bidir also S→C END(count)
//   S→C RESULT(what S received)   [bidir or lat: C→S RESULT(what C measured)]
//   each side sends `excess` 1-byte fillers so the peer's extra posted
//   receives complete (a receiver posts ahead before it knows the count).
// After the last run C→S BYE, then close.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "farlink/channel.h"
#include "farlink/status.h"

namespace farlink::perf {

inline constexpr uint64_t kTagControlUp = 0xF1A7'C000'0000'0001;    // client → server
inline constexpr uint64_t kTagControlDown = 0xF1A7'C000'0000'0002;  // server → client
inline constexpr uint64_t kTagData = 0xF1A7'D000'0000'0001;         // client → server
inline constexpr uint64_t kTagDataBack = 0xF1A7'D000'0000'0002;     // server → client

// Limits the server enforces on a client's RUN.
inline constexpr uint64_t kMaxMessageSize = uint64_t{1} << 30;
inline constexpr unsigned kMaxDepth = 1024;
inline constexpr uint64_t kMaxIterations = 1'000'000'000;
inline constexpr uint64_t kMaxDurationMs = 24 * 3600 * 1000;
inline constexpr size_t kMaxText = 512;

enum class MsgType : uint16_t { kRun = 1, kAccept, kRefuse, kEnd, kResult, kBye };
enum class Mode : uint8_t { kBw = 0, kLat = 1 };
inline constexpr uint8_t kFlagBidir = 1u << 0;
inline constexpr uint8_t kFlagVerify = 1u << 1;
inline constexpr uint8_t kKnownFlags = kFlagBidir | kFlagVerify;

struct TestSpec {
  Mode mode = Mode::kBw;
  uint8_t flags = 0;
  uint16_t depth = 32;  // sender's window; the receiver posts as many receives
  uint64_t size = 65536;
  uint64_t iters = 0;        // 0: run for duration_ms
  uint64_t duration_ms = 0;  // 0: run for iters
  bool bidir() const { return flags & kFlagBidir; }
  bool verify() const { return flags & kFlagVerify; }
};

// What one side measured: bw = what it received; lat = the client's samples.
struct RunReport {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t elapsed_ns = 0;  // start signal (ACCEPT) to the last receive completion
  uint64_t peak_bps = 0;
  uint64_t excess = 0;  // fillers this side needs from its peer
  uint64_t verify_errors = 0;
  double latency_us[7] = {};
};

struct ControlMsg {
  MsgType type = MsgType::kRun;
  TestSpec spec;
  uint64_t count = 0;
  RunReport report;
  std::string text;
};

inline constexpr size_t kControlFixedSize = 8 + 32 + 8 + 48 + 56 + 2;
inline constexpr size_t kControlMaxSize = kControlFixedSize + kMaxText;

std::vector<uint8_t> encodeControl(const ControlMsg& msg);
// Checks magic, version, type and lengths; the message names what is wrong.
Status decodeControl(const uint8_t* data, size_t size, ControlMsg* msg);
// Empty when acceptable, else why not (sent back in REFUSE).
std::string checkSpec(const TestSpec& spec);

Status sendControl(Channel& ch, uint64_t tag, const ControlMsg& msg,
                   std::chrono::milliseconds timeout);
// Fails with kProtocolError on undecodable input, kProtocolError naming both
// types when `expect` is set and another type arrives.
Result<ControlMsg> recvControl(Channel& ch, uint64_t tag, std::chrono::milliseconds timeout,
                               std::optional<MsgType> expect = std::nullopt);

// A posted control receive that a data loop polls without blocking.
class ControlPoller {
 public:
  ControlPoller(Channel& ch, uint64_t tag) : ch_(ch), tag_(tag), buf_(kControlMaxSize) {}
  // A receive still posted here would outlive its buffer; there is no
  // per-request cancel, so this aborts the channel (only on error paths).
  ~ControlPoller();
  ControlPoller(const ControlPoller&) = delete;
  ControlPoller& operator=(const ControlPoller&) = delete;
  // Posts the receive if none is outstanding; returns a message when one
  // arrived. Errors (peer gone, garbage) come back as a non-OK Result.
  Result<std::optional<ControlMsg>> poll();
  // Blocks until a message arrives (or timeout).
  Result<ControlMsg> wait(std::chrono::milliseconds timeout);

 private:
  Status post();
  Channel& ch_;
  uint64_t tag_;
  std::vector<uint8_t> buf_;
  Request req_;
};

const char* msgTypeName(MsgType t);

}  // namespace farlink::perf
