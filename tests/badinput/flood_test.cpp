// Floods of connections that never finish: the listener's tables are bounded,
// and when they are full the oldest entry gives way, so 1,000+ silent or
// slow-loris connections (or half-open sessions) cannot keep an honest client
// out until their deadlines pass. Deadlines here are a minute away, so only
// that policy lets the good transfer through.
#include <sys/resource.h>

#include <cstdlib>

#include "badinput_fixture.h"

namespace farlink::test {
namespace {

constexpr std::chrono::milliseconds kFarDeadline{60000};

// Each raw peer costs two descriptors in this process (it and the listener's end).
bool haveDescriptors(rlim_t need) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
  if (r.rlim_cur >= need) return true;
  if (r.rlim_max < need) return false;
  r.rlim_cur = need;
  return setrlimit(RLIMIT_NOFILE, &r) == 0;
}

size_t countContaining(const std::vector<Status>& all, const std::string& what) {
  size_t n = 0;
  for (const Status& s : all) n += s.message().find(what) != std::string::npos;
  return n;
}

TEST_F(BadInput, SilentAndSlowLorisFloodDoesNotLockOutAGoodClient) {
  constexpr int kFlood = 1100;  // more than the listener's 1024 handshake slots
  if (!haveDescriptors(2 * kFlood + 256))
    GTEST_SKIP() << "needs " << 2 * kFlood + 256 << " file descriptors (ulimit -n)";
  start("", kFarDeadline);
  std::vector<std::unique_ptr<RawPeer>> flood;
  uint8_t partial[wire::kHelloSize];
  wire::encodeHello(RawPeer::hello(), partial);
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(rawPeer());
    if (i % 2 == 1) {  // slow loris: part of a HELLO, then nothing
      ASSERT_TRUE(flood.back()->send(partial, 1 + i % 40));
    }
  }
  startGoodTransfer();
  finishGoodTransfer();
  EXPECT_GE(countContaining(pump_->allRejections(), "was the oldest of 1024"),
            static_cast<size_t>(kFlood - 1024))
      << "the listener should name the handshakes it dropped; seen: " << seen();
}

TEST_F(BadInput, HalfOpenSessionFloodDoesNotLockOutAGoodClient) {
  constexpr int kFlood = 300;  // more than the listener's 256 half-open sessions
  if (!haveDescriptors(2 * kFlood + 256))
    GTEST_SKIP() << "needs " << 2 * kFlood + 256 << " file descriptors (ulimit -n)";
  start("", kFarDeadline);
  std::vector<std::unique_ptr<RawPeer>> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(rawPeer());
    // Lane 0 of 2 completes its handshake; lane 1 never comes.
    ASSERT_TRUE(flood.back()->sendHello(RawPeer::hello(0, 2)));
    auto w = flood.back()->readWelcome(kShortWait);
    ASSERT_TRUE(w.has_value()) << "no WELCOME for flood lane " << i;
  }
  startGoodTransfer();
  finishGoodTransfer();
  EXPECT_GE(countContaining(pump_->allRejections(), "session was the oldest of 256"),
            static_cast<size_t>(kFlood - 256))
      << "seen: " << seen();
}

}  // namespace
}  // namespace farlink::test
