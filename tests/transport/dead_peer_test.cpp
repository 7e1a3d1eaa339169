// TCP dead-peer detection (ChannelOptions::dead_peer_timeout) must not take
// a slow peer for a dead one: a receiver whose application stops reading
// (back-pressure closes the TCP window) keeps answering through its kernel.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "farlink/channel.h"
#include "test_support.h"
#include "transport/tcp/socket_util.h"

namespace farlink::test {
namespace {

// A receiver that stops reading while `wait` passes: the sender's wait
// times out (the channel is not failed as dead), then every byte arrives.
void expectSlowReaderSurvives(std::chrono::milliseconds dead_peer_timeout,
                              std::chrono::milliseconds wait, uint8_t seed) {
  ChannelOptions o;
  o.lanes = 2;
  o.dead_peer_timeout = dead_peer_timeout;
  o.max_unexpected_bytes = 1 << 20;  // back-pressure after 1 MiB
  ChannelPair p = connectPair("tcp", o, o);
  ASSERT_TRUE(p.client && p.server);
  constexpr size_t kSize = 64u << 20;
  Buffer out = Buffer::patterned(kSize, seed);
  auto send = p.client->isend(out.data(), kSize, 4);
  ASSERT_TRUE(send.isOk());
  Status early = send->wait(wait);
  EXPECT_EQ(early.code(), StatusCode::kTimedOut) << early.toString();
  runConcurrently({[&] { ASSERT_TRUE(send->wait(kLongWait).isOk()); },
                   [&] { expectRecv(*p.server, kSize, 4, kSize, seed); }});
}

TEST(DeadPeer, ReceiverThatStopsReadingIsNotTakenForDead) {
  // Three timeouts' worth of a closed window while the sender waits.
  expectSlowReaderSurvives(std::chrono::milliseconds(1000), std::chrono::milliseconds(3000), 17);
}

// The same with the bound derived from the RTT (no dead_peer_timeout): on
// loopback 6 x 200 ms, and the window stays closed for four times that
// while the sender waits. Zero-window probes are answered by the receiver's
// kernel; nothing is in flight, so no KEEPALIVE goes and none is missed.
TEST(DeadPeer, ReceiverThatStopsReadingIsNotTakenForDeadUnderTheDerivedBound) {
  expectSlowReaderSurvives(std::chrono::milliseconds(0), std::chrono::milliseconds(5000), 23);
}

// What the liveness rules rely on, seen in the kernel itself: behind a
// closed window (a receiver that never reads) nothing is in flight, the
// bytes wait unsent, and the receiver's kernel answers the sender's window
// probes, so the time since the last ACK keeps falling back. The rules
// never call such a lane dead nor probe it.
TEST(DeadPeer, ClosedWindowLeavesNothingInFlightAndItsProbesAreAnswered) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  int small = 32 << 10;
  ::setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // inherited by the accepted socket
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen), 0);
  int tx = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(tx, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  int rx = ::accept(lfd, nullptr, nullptr);  // never read from
  ASSERT_GE(rx, 0);
  ::fcntl(tx, F_SETFL, ::fcntl(tx, F_GETFL) | O_NONBLOCK);
  std::vector<char> junk(1 << 16, 'x');
  for (int i = 0; i < 100000 && ::send(tx, junk.data(), junk.size(), MSG_NOSIGNAL) > 0; ++i) {
  }
  ChannelOptions o;
  tcp::LivenessWatch w;
  uint32_t max_unacked = 0, falls = 0, last_since_ack = 0, max_since_ack = 0;
  bool queued = true;
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the last window's ACKs
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4)) {
    std::optional<tcp::LanePulse> p = tcp::readPulse(tx);
    ASSERT_TRUE(p);
    max_unacked = std::max(max_unacked, p->unacked);
    queued = queued && p->notsent_bytes > 0;
    if (p->since_ack_ms < last_since_ack) ++falls;  // an ACK arrived: a probe answered
    last_since_ack = p->since_ack_ms;
    max_since_ack = std::max(max_since_ack, p->since_ack_ms);
    auto bound = tcp::silenceBound(o, *p);
    EXPECT_EQ(tcp::judge(*p, bound, std::chrono::steady_clock::now(), &w), tcp::Pulse::kAlive)
        << "unacked " << p->unacked << ", notsent " << p->notsent_bytes << ", since ack "
        << p->since_ack_ms << " ms, bound " << bound.count() << " ms";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(max_unacked, 0u) << "bytes in flight behind a closed window";
  EXPECT_TRUE(queued) << "the window opened: the test did not fill it";
  EXPECT_GE(falls, 2u) << "the receiver's kernel did not answer window probes";
  std::printf("closed window for 4 s: %u window-probe ACKs seen; the longest time without an "
              "ACK was %u ms\n",
              falls, max_since_ack);
  ::close(tx);
  ::close(rx);
  ::close(lfd);
}

}  // namespace
}  // namespace farlink::test
