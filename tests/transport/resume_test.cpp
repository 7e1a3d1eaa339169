// Session resume on TCP lanes (ChannelOptions::resume_timeout) through a
// relay that resets every lane (cut_relay.h): a large transfer survives
// repeated cuts byte for byte with nothing duplicated; an idle channel
// resumes; a link that stays down past the grace period ends in kPeerClosed
// saying so; with resume off a cut is an error as before; a forged resume
// HELLO is refused while a good channel keeps working.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>

#include "core/wire.h"
#include "cut_relay.h"
#include "test_support.h"

namespace farlink::test {
namespace {

ChannelOptions resumeOptions(int lanes, std::chrono::milliseconds grace = 20000ms) {
  ChannelOptions o;
  o.lanes = lanes;
  o.resume_timeout = grace;
  o.connect_timeout = 5000ms;
  return o;
}

// A channel whose client goes through `relay` to `listener`.
struct RelayedPair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<CutRelay> relay;
  std::unique_ptr<Channel> client, server;
};

RelayedPair relayedPair(const ChannelOptions& o) {
  RelayedPair p;
  auto l = Listener::listen("tcp://127.0.0.1:0", o);
  if (!l) {
    ADD_FAILURE() << l.status().toString();
    return p;
  }
  p.listener = std::move(l.value());
  p.relay = std::make_unique<CutRelay>(p.listener->port());
  if (!p.relay->error().empty()) {
    ADD_FAILURE() << p.relay->error();
    return p;
  }
  auto accepted = std::async(std::launch::async, [&] { return p.listener->accept(kShortWait); });
  auto c = Channel::connect(p.relay->uri(), o);
  auto s = accepted.get();
  if (!c || !s) {
    ADD_FAILURE() << "connect: " << c.status().toString() << "; accept: " << s.status().toString();
    return p;
  }
  p.client = std::move(c.value());
  p.server = std::move(s.value());
  return p;
}

// `count` messages of `size` bytes, message i patterned with seed i, all
// with one tag (so they match in send order), `window` in flight at a time.
void sendStream(Channel& ch, size_t count, size_t size, size_t window) {
  std::vector<Buffer> bufs;
  for (size_t k = 0; k < window; ++k) bufs.emplace_back(size);
  std::deque<Request> inflight;
  for (size_t i = 0; i < count; ++i) {
    if (inflight.size() == window) {
      Status s = inflight.front().wait(kLongWait);
      ASSERT_TRUE(s.isOk()) << "send " << i - window << ": " << s.toString();
      inflight.pop_front();
    }
    Buffer& b = bufs[i % window];
    fillPattern(b.data(), size, i);
    auto r = ch.isend(b.data(), size, 7);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    inflight.push_back(*r);
  }
  for (auto& r : inflight) {
    Status s = r.wait(kLongWait);
    ASSERT_TRUE(s.isOk()) << s.toString();
  }
}

void recvStream(Channel& ch, size_t count, size_t size, size_t window) {
  std::vector<Buffer> bufs;
  for (size_t k = 0; k < window; ++k) bufs.emplace_back(size);
  std::deque<std::pair<size_t, Request>> posted;
  size_t next_post = 0;
  for (size_t i = 0; i < count; ++i) {
    while (next_post < count && posted.size() < window) {
      auto r = ch.irecv(bufs[next_post % window].data(), size, 7);
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      posted.emplace_back(next_post++, *r);
    }
    auto [idx, req] = posted.front();
    posted.pop_front();
    Status s = req.wait(kLongWait);
    ASSERT_TRUE(s.isOk()) << "message " << idx << ": " << s.toString();
    ASSERT_EQ(req.bytes(), size) << "message " << idx;
    // Seed = index: a lost, duplicated or reordered message shows here.
    ASSERT_TRUE(matchesPattern(bufs[idx % window].data(), size, idx)) << "message " << idx;
  }
}

class ResumeCuts : public ::testing::TestWithParam<int> {};

// The 256 MiB (under a second on loopback); FARLINK_TEST_RESUME_MIB
// changes it.
TEST_P(ResumeCuts, TransferSurvivesThreeCutsByteForByte) {
  size_t mib = 256;
  if (const char* v = std::getenv("FARLINK_TEST_RESUME_MIB")) mib = std::strtoul(v, nullptr, 10);
  constexpr size_t kMsg = 1 << 20;
  const size_t count = mib;
  ChannelOptions o = resumeOptions(GetParam());
  RelayedPair p = relayedPair(o);
  ASSERT_TRUE(p.client && p.server);
  // A cut every quarter of the transfer's bytes (counting both directions).
  const uint64_t quarter = uint64_t(mib) * kMsg / 4;
  std::atomic<bool> done{false};
  std::thread cutter([&] {
    for (int k = 0; k < 3 && !done; ++k) {
      int before = p.relay->cuts();
      p.relay->cutAfter(quarter);
      while (p.relay->cuts() == before && !done) std::this_thread::sleep_for(1ms);
    }
  });
  runConcurrently({[&] { sendStream(*p.client, count, kMsg, 8); },
                   [&] { recvStream(*p.server, count, kMsg, 8); }});
  done = true;
  cutter.join();
  EXPECT_EQ(p.relay->cuts(), 3);
  EXPECT_EQ(p.client->stats().resumes, 3u);
  EXPECT_EQ(p.server->stats().resumes, 3u);
  EXPECT_EQ(p.server->stats().messages_received, count);  // nothing twice
  for (const LaneStats& l : p.client->stats().lane) EXPECT_GT(l.chunks_sent, 0u);
  // Nothing more arrives: no duplicate was left over either.
  Buffer extra(kMsg);
  auto r = p.server->irecv(extra.data(), kMsg, 7);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->wait(300ms).code(), StatusCode::kTimedOut);
  runConcurrently({[&] { EXPECT_TRUE(p.client->close(kShortWait).isOk()); },
                   [&] { EXPECT_TRUE(p.server->close(kShortWait).isOk()); }});
}

INSTANTIATE_TEST_SUITE_P(Lanes, ResumeCuts, ::testing::Values(1, 4), [](const auto& param_info) {
  return "lanes" + std::to_string(param_info.param);
});

// The reconnected lanes prove the key and run TLS as first connections do.
TEST(Resume, TlsLanesWithAKeyResume) {
  ChannelOptions o = resumeOptions(3);
  o.psk = "resume-test-key";
  o.tls = TlsMode::kRequired;
  RelayedPair p = relayedPair(o);
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(p.client->stats().encrypted);
  constexpr size_t kMsg = 1 << 20, kCount = 32;
  p.relay->cutAfter(kCount * kMsg / 2);
  runConcurrently({[&] { sendStream(*p.client, kCount, kMsg, 4); },
                   [&] { recvStream(*p.server, kCount, kMsg, 4); }});
  EXPECT_EQ(p.relay->cuts(), 1);
  EXPECT_EQ(p.client->stats().resumes, 1u);
  EXPECT_TRUE(p.client->stats().encrypted);
  EXPECT_EQ(p.server->stats().messages_received, kCount);
}

TEST(Resume, IdleChannelResumesAfterACut) {
  RelayedPair p = relayedPair(resumeOptions(2));
  ASSERT_TRUE(p.client && p.server);
  runConcurrently({[&] { expectSend(*p.client, 100000, 1, 1); },
                   [&] { expectRecv(*p.server, 100000, 1, 100000, 1); }});
  p.relay->cutNow();  // nobody drives either end now
  std::this_thread::sleep_for(100ms);
  runConcurrently({[&] { expectSend(*p.client, 3 << 20, 2, 2); },
                   [&] { expectRecv(*p.server, 3 << 20, 2, 3 << 20, 2); }});
  runConcurrently({[&] { expectSend(*p.server, 5000, 3, 3); },
                   [&] { expectRecv(*p.client, 5000, 3, 5000, 3); }});
  EXPECT_EQ(p.client->stats().resumes, 1u);
  EXPECT_EQ(p.server->stats().resumes, 1u);
}

// The reconnection itself is cut (mid-handshake or just after): the next
// attempt still resumes.
TEST(Resume, CutDuringTheReconnectionIsRetried) {
  RelayedPair p = relayedPair(resumeOptions(4));
  ASSERT_TRUE(p.client && p.server);
  runConcurrently({[&] { expectSend(*p.client, 100000, 1, 1); },
                   [&] { expectRecv(*p.server, 100000, 1, 100000, 1); }});
  p.relay->cutNow();
  p.relay->cutAfter(300);  // a few handshake messages into the first attempt
  runConcurrently({[&] { expectSend(*p.client, 3 << 20, 2, 2); },
                   [&] { expectRecv(*p.server, 3 << 20, 2, 3 << 20, 2); }});
  EXPECT_EQ(p.relay->cuts(), 2);
  // 1, or 2 when the first attempt got far enough to be installed.
  EXPECT_GE(p.client->stats().resumes, 1u);
  EXPECT_GE(p.server->stats().resumes, 1u);
}

// Lane 0 of an unfinished reconnection sits at the listener (an attempt
// that broke half-way; here a raw HELLO naming the live session): the next
// attempt's lane 0 replaces it. Were it refused as a duplicate instead, the
// session would be put together from the stale lane and the new lane 1,
// and take a second resume to recover.
TEST(Resume, NewerReconnectionReplacesAnUnfinishedOne) {
  ChannelOptions o = resumeOptions(2, 10000ms);
  o.connect_timeout = 30000ms;
  RelayedPair p = relayedPair(o);
  ASSERT_TRUE(p.client && p.server);
  std::string hex = p.client->stats().session_id;
  ASSERT_EQ(hex.size(), 32u);
  wire::Hello h;
  h.capabilities = wire::kCapResume | wire::kCapResuming;
  h.lane_count = 2;
  h.max_chunk = 1 << 20;
  for (size_t i = 0; i < 16; ++i)
    h.session[i] = uint8_t(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(p.listener->port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  uint8_t hello[wire::kHelloSize];
  wire::encodeHello(h, hello);
  ASSERT_EQ(::send(fd, hello, sizeof hello, MSG_NOSIGNAL), ssize_t(sizeof hello));
  p.relay->cutNow();
  runConcurrently({[&] { expectSend(*p.client, 3 << 20, 2, 2, 20000ms); },
                   [&] { expectRecv(*p.server, 3 << 20, 2, 3 << 20, 2, 20000ms); }});
  EXPECT_EQ(p.client->stats().resumes, 1u);
  ::close(fd);
}

TEST(Resume, LinkDownLongerThanGraceIsPeerClosedSayingSo) {
  RelayedPair p = relayedPair(resumeOptions(2, 1000ms));
  ASSERT_TRUE(p.client && p.server);
  p.relay->refuse(true);
  p.relay->cutNow();
  Buffer in(64), in2(64);
  auto started = std::chrono::steady_clock::now();
  runConcurrently(
      {[&] {
         Result<size_t> r = p.client->recv(in.data(), in.size(), 1, 20000ms);
         ASSERT_FALSE(r.isOk());
         EXPECT_EQ(r.status().code(), StatusCode::kPeerClosed) << r.status().toString();
         EXPECT_NE(r.status().message().find("tried to reconnect for"), std::string::npos)
             << r.status().toString();
         EXPECT_NE(r.status().message().find("FARLINK_RESUME_TIMEOUT"), std::string::npos)
             << r.status().toString();
       },
       [&] {
         Result<size_t> r = p.server->recv(in2.data(), in2.size(), 1, 20000ms);
         ASSERT_FALSE(r.isOk());
         EXPECT_EQ(r.status().code(), StatusCode::kPeerClosed) << r.status().toString();
         EXPECT_NE(r.status().message().find("waited for it to reconnect"), std::string::npos)
             << r.status().toString();
       }});
  // Loose: the grace period (1 s) plus one connection attempt, not forever.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  EXPECT_GT(p.relay->connectionsAccepted(), 0);  // it did try
}

TEST(Resume, OffMeansACutIsAnErrorAsBefore) {
  ChannelOptions o = resumeOptions(2, 0ms);
  RelayedPair p = relayedPair(o);
  ASSERT_TRUE(p.client && p.server);
  p.relay->cutNow();
  Buffer in(64);
  Result<size_t> r = p.client->recv(in.data(), in.size(), 1, 20000ms);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kPeerClosed) << r.status().toString();
  EXPECT_EQ(p.client->stats().resumes, 0u);
}

// A HELLO that claims to resume a session the listener never opened.
TEST(Resume, ForgedResumeIsRefusedWhileAGoodChannelWorks) {
  ChannelOptions o = resumeOptions(2);
  auto l = Listener::listen("tcp://127.0.0.1:0", o);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  ListenerPump pump(l->get());
  auto c = Channel::connect(uriFor("tcp", (*l)->port()), o);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump.next();
  ASSERT_TRUE(s);

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((*l)->port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  wire::Hello h;
  h.capabilities = wire::kCapResume | wire::kCapResuming;
  h.lane_count = 2;
  h.max_chunk = 1 << 20;
  h.session.fill(0x5a);
  uint8_t hello[wire::kHelloSize];
  wire::encodeHello(h, hello);
  ASSERT_EQ(::send(fd, hello, sizeof hello, MSG_NOSIGNAL), ssize_t(sizeof hello));
  uint8_t welcome[wire::kWelcomeFixedSize];
  size_t got = 0;
  while (got < sizeof welcome) {
    ssize_t n = ::recv(fd, welcome + got, sizeof welcome - got, 0);
    ASSERT_GT(n, 0) << "the listener closed without answering";
    got += size_t(n);
  }
  wire::Welcome w;
  size_t reason_len = 0;
  ASSERT_TRUE(wire::decodeWelcomeFixed(std::span<const uint8_t, wire::kWelcomeFixedSize>(welcome),
                                       &w, &reason_len)
                  .isOk());
  EXPECT_EQ(w.status, wire::HandshakeStatus::kSessionMismatch);
  std::string reason(reason_len, '\0');
  ASSERT_EQ(::recv(fd, reason.data(), reason_len, MSG_WAITALL), ssize_t(reason_len));
  EXPECT_NE(reason.find("does not know"), std::string::npos) << reason;
  ::close(fd);
  Status rej = pump.waitRejection(
      [](const Status& st) { return st.message().find("does not know") != std::string::npos; });
  EXPECT_FALSE(rej.isOk()) << "the listener did not record the refusal";

  runConcurrently(
      {[&] { expectSend(**c, 2 << 20, 4, 4); }, [&] { expectRecv(*s, 2 << 20, 4, 2 << 20, 4); }});
}

}  // namespace
}  // namespace farlink::test
