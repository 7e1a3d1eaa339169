// Helpers shared by the socket-using suites (conformance, badinput):
// index-derived payload patterns, a listener pump, connected channel pairs.
// Every wait here is bounded so a library bug fails a test instead of hanging.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "farlink/channel.h"

namespace farlink::test {

using namespace std::chrono_literals;

// Generous bounds: long enough for a loaded CI box, short enough to fail.
inline constexpr std::chrono::milliseconds kShortWait{5000};
inline constexpr std::chrono::milliseconds kLongWait{60000};

// A hang guard for one message of `bytes`: kLongWait, or longer when the
// message is big enough that kLongWait would assume more than 1 MiB/s. The
// slowest place these tests run is Soft-RoCE in a TCG guest (tests/rdma):
// 256 MiB took 44 s on a quiet host and 87 s at load 13-14 on 2 cores,
// past a fixed 60 s. 1 MiB/s leaves about 3x over that; a hang still fails,
// it just takes longer to say so. Not a speed check: bench/ measures speed.
inline std::chrono::milliseconds transferWait(size_t bytes) {
  constexpr uint64_t kSlowestBytesPerSecond = 1u << 20;
  return std::max(kLongWait,
                  std::chrono::milliseconds(uint64_t{bytes} * 1000 / kSlowestBytesPerSecond));
}

// Byte i of a pattern is byte (i % 8) of splitmix64(seed + i / 8): never
// all-zero, differs between seeds and positions, cheap to regenerate.
void fillPattern(void* buf, size_t n, uint64_t seed);
uint8_t patternByte(uint64_t seed, size_t i);
// Success, or a failure naming the first differing index and both bytes.
::testing::AssertionResult matchesPattern(const void* buf, size_t n, uint64_t seed);

// A buffer that owns its bytes; uninitialised memory is never compared.
struct Buffer {
  explicit Buffer(size_t n, uint8_t fill = 0xEE);
  static Buffer patterned(size_t n, uint64_t seed);
  uint8_t* data() { return bytes.get(); }
  const uint8_t* data() const { return bytes.get(); }
  size_t size() const { return n; }
  std::unique_ptr<uint8_t[]> bytes;
  size_t n;
};

// The address tests use for `transport`: 127.0.0.1, except for verbs (and
// auto://), which need an address of an RDMA netdev (rxe cannot loop back
// on 127.0.0.1): FARLINK_TEST_VERBS_ADDR, else the first IPv4 address of a
// netdev that carries an RDMA device, else 127.0.0.1.
std::string testHost(const std::string& transport);
// Why `transport` cannot run on this machine (empty: it can), e.g. verbs
// without an RDMA device.
std::string transportUnavailable(const std::string& transport);
// Whether `text` names an address a test client of `transport` connects
// from: 127.0.0.1, or for verbs any IPv4 address of an RDMA netdev (with
// two rxe devices rdma_cm may pick the other one as the source).
bool namesClientHost(const std::string& transport, const std::string& text);
// host "" = testHost(transport).
std::string uriFor(const std::string& transport, uint16_t port, const std::string& host = "");

// A port on 127.0.0.1 that nothing listens on (bound, then released).
uint16_t closedLoopbackPort();

// Calls Listener::accept in its own thread until stopped, so handshakes (good
// and bad) make progress whatever the test's main thread is doing.
class ListenerPump {
 public:
  explicit ListenerPump(Listener* listener);
  ~ListenerPump();  // stops and joins
  void stop();
  // The next accepted channel, or nullptr after `timeout`.
  std::unique_ptr<Channel> next(std::chrono::milliseconds timeout = kShortWait);
  // Blocks until a rejection satisfying `pred` is seen (collected from
  // rejections() by this pump), or timeout; returns it or an OK status.
  Status waitRejection(const std::function<bool(const Status&)>& pred,
                       std::chrono::milliseconds timeout = kShortWait);
  // Waits until at least `n` collected rejections satisfy `pred` (or
  // timeout); returns how many do.
  size_t countRejections(const std::function<bool(const Status&)>& pred, size_t n,
                         std::chrono::milliseconds timeout = kShortWait);
  std::vector<Status> allRejections();
  // accept() results other than a channel or kTimedOut (should be none).
  std::vector<Status> acceptErrors();

 private:
  void run();
  Listener* listener_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<Status> rejections_;
  std::vector<Status> accept_errors_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Client and server ends of one channel over loopback.
struct ChannelPair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Channel> client;
  std::unique_ptr<Channel> server;
};
// Listens on 127.0.0.1:0, connects and accepts concurrently. Fails the
// current test (ADD_FAILURE) and returns null ends on error.
ChannelPair connectPair(const std::string& transport, const ChannelOptions& client_opts,
                        const ChannelOptions& server_opts);

// One line per status, for failure messages.
std::string describe(const std::vector<Status>& statuses);

// Runs each function in its own thread and joins them all.
void runConcurrently(std::vector<std::function<void()>> fns);

// Posts an irecv of `capacity` bytes and waits; checks status OK, size,
// tag and pattern. Use inside a thread of runConcurrently.
void expectRecv(Channel& ch, size_t capacity, uint64_t tag, size_t want_size, uint64_t seed,
                std::chrono::milliseconds timeout = kLongWait);
// isend of a patterned buffer and wait for it.
void expectSend(Channel& ch, size_t size, uint64_t tag, uint64_t seed,
                std::chrono::milliseconds timeout = kLongWait);

}  // namespace farlink::test
