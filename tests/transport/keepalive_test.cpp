// KEEPALIVE frames (wire kCapKeepalive): a thread waiting on a quiet TCP
// channel probes every lane at the scale of its RTT, so that the peer's
// kernel ACKs them and a dead peer is noticed (tests/wanem cuts the link).
// Here, on loopback: the probes really flow, they disturb no message, tag
// or resume count, a peer that did not offer them never gets one, and a
// peer that stops reading is not taken for dead under the derived bound.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "core/wire.h"
#include "cut_relay.h"
#include "test_support.h"

namespace farlink::test {
namespace {

uint64_t laneBytesSent(const Channel& ch) {
  uint64_t n = 0;
  for (const LaneStats& l : ch.stats().lane) n += l.bytes_sent;
  return n;
}
uint64_t laneChunksSent(const Channel& ch) {
  uint64_t n = 0;
  for (const LaneStats& l : ch.stats().lane) n += l.chunks_sent;
  return n;
}

// Waits in irecv on `ch` for `ms` (nothing arrives): the probes' chance.
void waitQuietly(Channel& ch, std::chrono::milliseconds ms) {
  Buffer sink(64);
  auto r = ch.irecv(sink.data(), sink.size(), 999);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  Status s = r->wait(ms);
  ASSERT_EQ(s.code(), StatusCode::kTimedOut) << s.toString();
  // The receive stays posted; nothing is ever sent with tag 999 after this.
}

// Tags sent in one order, received in another, both ways: every byte checked.
void exchangeTagged(Channel& a, Channel& b, uint64_t seed) {
  runConcurrently({[&] {
                     for (uint64_t tag : {3, 1, 2}) expectSend(a, 4096 * tag + 5, tag, seed + tag);
                   },
                   [&] {
                     for (uint64_t tag : {2, 3, 1})
                       expectRecv(b, 1 << 16, tag, 4096 * tag + 5, seed + tag);
                   },
                   [&] { expectSend(b, 70000, 8, seed + 8); },
                   [&] { expectRecv(a, 1 << 17, 8, 70000, seed + 8); }});
}

TEST(Keepalive, QuietChannelProbesAndMessagesAreUndisturbed) {
  ChannelOptions o;
  o.lanes = 3;
  ChannelPair p = connectPair("tcp", o, o);
  ASSERT_TRUE(p.client && p.server);
  exchangeTagged(*p.client, *p.server, 10);
  uint64_t bytes0 = laneBytesSent(*p.server), chunks0 = laneChunksSent(*p.server);
  uint64_t peer_rx0 = 0;
  for (const LaneStats& l : p.client->stats().lane) peer_rx0 += l.bytes_received;
  // On loopback the bound is 6 x 200 ms; a probe goes after ~200 ms quiet.
  Buffer sink(64);
  auto waiting = p.server->irecv(sink.data(), sink.size(), 999);
  ASSERT_TRUE(waiting.isOk());
  EXPECT_EQ(waiting->wait(std::chrono::milliseconds(1500)).code(), StatusCode::kTimedOut);
  uint64_t probes = laneBytesSent(*p.server) - bytes0;
  EXPECT_GE(probes, uint64_t{3} * wire::kFrameHeaderSize) << "no KEEPALIVE on some lane";
  EXPECT_EQ(probes % wire::kFrameHeaderSize, 0u) << "probes are bare 40-byte headers";
  EXPECT_EQ(laneChunksSent(*p.server), chunks0) << "a probe was counted as a chunk";
  std::printf("server sent %llu KEEPALIVE frames over 3 lanes in 1.5 s of waiting\n",
              static_cast<unsigned long long>(probes / wire::kFrameHeaderSize));
  // The probes reach the client's stack; its parser discards them.
  exchangeTagged(*p.client, *p.server, 20);
  uint64_t peer_rx = 0;
  for (const LaneStats& l : p.client->stats().lane) peer_rx += l.bytes_received;
  EXPECT_GE(peer_rx - peer_rx0, probes);
  // The waiting receive still matches its own tag only.
  runConcurrently({[&] { expectSend(*p.client, 33, 999, 5); },
                   [&] { ASSERT_TRUE(waiting->wait(kLongWait).isOk()); }});
  EXPECT_EQ(waiting->bytes(), 33u);
  EXPECT_EQ(p.server->stats().messages_received, p.client->stats().messages_sent);
  EXPECT_EQ(p.client->stats().messages_received, p.server->stats().messages_sent);
  runConcurrently({[&] { EXPECT_TRUE(p.client->close(kLongWait).isOk()); },
                   [&] { EXPECT_TRUE(p.server->close(kLongWait).isOk()); }});
}

// With session resume the per-lane frame counts decide what goes again
// after a cut: probes must not be counted, or frames would be skipped or
// sent twice. Probes flow on both ends, then every lane is cut and the
// channel resumes with every byte checked.
TEST(Keepalive, ProbesDoNotDisturbResumeCounts) {
  ChannelOptions o;
  o.lanes = 2;
  o.resume_timeout = std::chrono::milliseconds(20000);
  o.connect_timeout = std::chrono::milliseconds(5000);
  auto l = Listener::listen("tcp://127.0.0.1:0", o);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  CutRelay relay((*l)->port());
  ASSERT_TRUE(relay.error().empty()) << relay.error();
  auto accepted = std::async(std::launch::async, [&] { return (*l)->accept(kShortWait); });
  auto c = Channel::connect(relay.uri(), o);
  auto s = accepted.get();
  ASSERT_TRUE(c.isOk() && s.isOk()) << c.status().toString() << s.status().toString();
  Channel& client = **c;
  Channel& server = **s;
  exchangeTagged(client, server, 30);
  uint64_t before = laneBytesSent(client) + laneBytesSent(server);
  runConcurrently({[&] { waitQuietly(client, std::chrono::milliseconds(1200)); },
                   [&] { waitQuietly(server, std::chrono::milliseconds(1200)); }});
  EXPECT_GE(laneBytesSent(client) + laneBytesSent(server) - before, 4 * wire::kFrameHeaderSize);
  exchangeTagged(client, server, 40);
  // More probes, then a cut while both wait: the resume must pick up exactly
  // where each lane's count says.
  waitQuietly(server, std::chrono::milliseconds(700));
  relay.cutNow();
  waitQuietly(server, std::chrono::milliseconds(300));
  exchangeTagged(client, server, 50);  // the listener routes the reconnected lanes
  EXPECT_GE(client.stats().resumes, 1u);
  // Every message matched once: the waiting receives (tag 999) got nothing.
  EXPECT_EQ(server.stats().messages_received, client.stats().messages_sent);
  EXPECT_EQ(client.stats().messages_received, server.stats().messages_sent);
}

// A peer that does not offer kCapKeepalive (an older farlink) never gets a
// KEEPALIVE frame, however long a thread waits on the channel.
TEST(Keepalive, PeerThatDidNotOfferGetsNone) {
  ChannelOptions o;
  auto l = Listener::listen("tcp://127.0.0.1:0", o);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  ListenerPump pump(l->get());
  auto helloWith = [&](uint32_t caps, wire::Welcome* w) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((*l)->port());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    wire::Hello h;
    h.capabilities = caps;
    h.lane_count = 1;
    h.max_chunk = 1 << 20;
    h.session.fill(static_cast<uint8_t>(caps + 1));
    uint8_t hello[wire::kHelloSize];
    wire::encodeHello(h, hello);
    EXPECT_EQ(::send(fd, hello, sizeof hello, MSG_NOSIGNAL), ssize_t(sizeof hello));
    uint8_t welcome[wire::kWelcomeFixedSize];
    EXPECT_EQ(::recv(fd, welcome, sizeof welcome, MSG_WAITALL), ssize_t(sizeof welcome));
    size_t reason_len = 0;
    EXPECT_TRUE(wire::decodeWelcomeFixed(
                    std::span<const uint8_t, wire::kWelcomeFixedSize>(welcome), w, &reason_len)
                    .isOk());
    return fd;
  };
  wire::Welcome old_w, new_w;
  int old_fd = helloWith(0, &old_w);
  auto old_ch = pump.next();
  ASSERT_TRUE(old_ch);
  EXPECT_EQ(old_w.status, wire::HandshakeStatus::kOk);
  EXPECT_EQ(old_w.capabilities & wire::kCapKeepalive, 0u) << "agreed to what was not offered";
  int new_fd = helloWith(wire::kCapKeepalive, &new_w);
  auto new_ch = pump.next();
  ASSERT_TRUE(new_ch);
  EXPECT_NE(new_w.capabilities & wire::kCapKeepalive, 0u) << "an offer was not agreed";
  runConcurrently({[&] { waitQuietly(*old_ch, std::chrono::milliseconds(1000)); },
                   [&] { waitQuietly(*new_ch, std::chrono::milliseconds(1000)); }});
  auto pending = [](int fd) {
    uint8_t buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 && size_t(n) % wire::kFrameHeaderSize == 0) {
      wire::FrameHeader f;
      EXPECT_TRUE(wire::decodeFrame(std::span<const uint8_t, wire::kFrameHeaderSize>(buf, 40), {}, &f)
                      .isOk());
      EXPECT_EQ(f.type, wire::FrameType::kKeepalive);
    }
    return n;
  };
  EXPECT_LT(pending(old_fd), 0) << "a KEEPALIVE went to a peer that did not offer it";
  EXPECT_GE(pending(new_fd), ssize_t(wire::kFrameHeaderSize)) << "no KEEPALIVE to a peer that offered it";
  ::close(old_fd);
  ::close(new_fd);
}

}  // namespace
}  // namespace farlink::test
