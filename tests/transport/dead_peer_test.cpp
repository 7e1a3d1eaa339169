// TCP dead-peer detection (ChannelOptions::dead_peer_timeout) must not take
// a slow peer for a dead one: a receiver whose application stops reading
// (back-pressure closes the TCP window) keeps answering through its kernel.
#include <gtest/gtest.h>

#include <thread>

#include "farlink/channel.h"
#include "test_support.h"

namespace farlink::test {
namespace {

TEST(DeadPeer, ReceiverThatStopsReadingIsNotTakenForDead) {
  ChannelOptions o;
  o.lanes = 2;
  o.dead_peer_timeout = std::chrono::milliseconds(1000);
  o.max_unexpected_bytes = 1 << 20;  // back-pressure after 1 MiB
  ChannelPair p = connectPair("tcp", o, o);
  ASSERT_TRUE(p.client && p.server);
  constexpr size_t kSize = 64u << 20;
  Buffer out = Buffer::patterned(kSize, 17);
  auto send = p.client->isend(out.data(), kSize, 4);
  ASSERT_TRUE(send.isOk());
  // Three timeouts' worth of a closed window while the sender waits.
  Status early = send->wait(std::chrono::milliseconds(3000));
  EXPECT_EQ(early.code(), StatusCode::kTimedOut) << early.toString();
  runConcurrently({[&] { ASSERT_TRUE(send->wait(kLongWait).isOk()); },
                   [&] { expectRecv(*p.server, kSize, 4, kSize, 17); }});
}

// The same with the bound derived from the RTT (no dead_peer_timeout): on
// loopback 6 x 200 ms, and the window stays closed for four times that
// while the sender waits. Zero-window probes are answered by the receiver's
// kernel; nothing is in flight, so no KEEPALIVE goes and none is missed.
TEST(DeadPeer, ReceiverThatStopsReadingIsNotTakenForDeadUnderTheDerivedBound) {
  ChannelOptions o;
  o.lanes = 2;
  o.max_unexpected_bytes = 1 << 20;
  ChannelPair p = connectPair("tcp", o, o);
  ASSERT_TRUE(p.client && p.server);
  constexpr size_t kSize = 64u << 20;
  Buffer out = Buffer::patterned(kSize, 23);
  auto send = p.client->isend(out.data(), kSize, 4);
  ASSERT_TRUE(send.isOk());
  Status early = send->wait(std::chrono::milliseconds(5000));
  EXPECT_EQ(early.code(), StatusCode::kTimedOut) << early.toString();
  runConcurrently({[&] { ASSERT_TRUE(send->wait(kLongWait).isOk()); },
                   [&] { expectRecv(*p.server, kSize, 4, kSize, 23); }});
}

}  // namespace
}  // namespace farlink::test
