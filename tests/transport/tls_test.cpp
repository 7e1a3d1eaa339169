// TLS 1.3 on TCP lanes (ChannelOptions::tls): data intact over encrypted
// lanes, nothing readable on the wire (seen through a recording relay),
// tampered records fail the channel, and every mismatch (one side requires
// TLS, the other does not use it; wrong key; no key) is a clear error on
// both ends while the listener keeps serving others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "test_support.h"
#include "transport/tcp/tls_lane.h"

namespace farlink::test {
namespace {

ChannelOptions tlsOptions(TlsMode mode, int lanes = 4, std::string psk = "tls-test-key") {
  ChannelOptions o;
  o.lanes = lanes;
  o.tls = mode;
  o.psk = std::move(psk);
  o.connect_timeout = 5000ms;
  return o;
}

// Who sealed the records: with kTLS off, OpenSSL and a note saying so;
// with it on, the kernel where it offers the `tls` ULP (the Soft-RoCE
// guest sets FARLINK_TEST_EXPECT_KTLS=1 to insist), else OpenSSL and why.
void expectOffload(const ChannelStats& st, bool ktls) {
  SCOPED_TRACE("tls_offload=" + st.tls_offload + " note=" + st.tls_offload_note);
  ASSERT_TRUE(st.encrypted);
  if (!ktls) {
    EXPECT_EQ(st.tls_offload, "user");
    EXPECT_NE(st.tls_offload_note.find("FARLINK_KTLS=0"), std::string::npos);
  } else if (std::getenv("FARLINK_TEST_EXPECT_KTLS") != nullptr) {
    EXPECT_EQ(st.tls_offload, "kernel");
  } else if (st.tls_offload != "kernel") {
    EXPECT_EQ(st.tls_offload, "user");
    EXPECT_FALSE(st.tls_offload_note.empty());
  }
}

std::string tcpUri(uint16_t port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// Forwards every connection made to its port to `target_port`, records the
// client→server bytes of each, and optionally flips one byte at offset
// `flip_at` of every such stream (0: never).
class Relay {
 public:
  explicit Relay(uint16_t target_port, size_t flip_at = 0)
      : target_(target_port), flip_at_(flip_at) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "relay: " << std::strerror(errno);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_) {
      ::close(c.a);
      ::close(c.b);
    }
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  // Everything clients sent, all connections concatenated.
  std::string upstream() {
    std::lock_guard lk(mu_);
    std::string all;
    for (auto& c : conns_) all += c.seen;
    return all;
  }

 private:
  struct Conn {
    int a, b;  // client side, server side
    std::string seen;
    bool a_open = true, b_open = true;
  };
  void acceptOne() {
    int a = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) return;
    int b = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in t{};
    t.sin_family = AF_INET;
    t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t.sin_port = htons(target_);
    if (::connect(b, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0) {
      ::close(a);
      ::close(b);
      return;
    }
    std::lock_guard lk(mu_);
    conns_.push_back({a, b, {}});
  }
  // Moves what is readable on `from` to `to`; false at EOF or error.
  bool pump(int from, int to, std::string* record) {
    char buf[65536];
    ssize_t n = ::recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (n < 0) return true;
    if (record != nullptr) {
      std::lock_guard lk(mu_);
      size_t before = record->size();
      if (flip_at_ > 0 && before < flip_at_ && before + size_t(n) >= flip_at_)
        buf[flip_at_ - before - 1] ^= 0x40;
      record->append(buf, size_t(n));
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::send(to, buf + off, size_t(n - off), MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }
  void run() {
    while (!stop_) {
      std::vector<pollfd> p{{fd_, POLLIN, 0}};
      size_t n;
      {
        std::lock_guard lk(mu_);
        n = conns_.size();
        for (auto& c : conns_) {
          p.push_back({c.a_open ? c.a : -1, POLLIN, 0});
          p.push_back({c.b_open ? c.b : -1, POLLIN, 0});
        }
      }
      if (::poll(p.data(), p.size(), 50) <= 0) continue;
      if (p[0].revents & POLLIN) acceptOne();
      for (size_t i = 0; i < n; ++i) {
        Conn& c = conns_[i];  // only this thread adds to conns_
        if (p[1 + 2 * i].revents && !pump(c.a, c.b, &c.seen)) {
          c.a_open = false;
          ::shutdown(c.b, SHUT_WR);
        }
        if (p[2 + 2 * i].revents && !pump(c.b, c.a, nullptr)) {
          c.b_open = false;
          ::shutdown(c.a, SHUT_WR);
        }
      }
    }
  }
  uint16_t target_;
  size_t flip_at_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::deque<Conn> conns_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class TlsLanes : public ::testing::TestWithParam<int> {};

TEST_P(TlsLanes, ManySizesIntactBothWays) {
  ChannelPair p = connectPair("tcp", tlsOptions(TlsMode::kRequired, GetParam()),
                              tlsOptions(TlsMode::kOn, GetParam()));
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.client->stats().encrypted);
  EXPECT_TRUE(p.server->stats().encrypted);
  EXPECT_TRUE(p.client->stats().authenticated);
  expectOffload(p.client->stats(), true);
  expectOffload(p.server->stats(), true);
  const std::vector<size_t> sizes = {0,       1,
                                     39,      40,
                                     41,      4095,
                                     16383,   16384,
                                     16385,   65536 + 7,
                                     1 << 20, (3 << 20) + 5,
                                     100,     (17 << 20) + 3};
  runConcurrently({
      [&] {
        for (size_t i = 0; i < sizes.size(); ++i) expectSend(*p.client, sizes[i], i, 1000 + i);
        for (size_t i = 0; i < sizes.size(); ++i)
          expectRecv(*p.client, sizes[i] + 1, 50 + i, sizes[i], 2000 + i);
      },
      [&] {
        for (size_t i = 0; i < sizes.size(); ++i)
          expectRecv(*p.server, sizes[i] + 1, i, sizes[i], 1000 + i);
        for (size_t i = 0; i < sizes.size(); ++i) expectSend(*p.server, sizes[i], 50 + i, 2000 + i);
      },
  });
  // A graceful close: CLOSE frames inside TLS, then EOF on every lane.
  runConcurrently({[&] { EXPECT_TRUE(p.client->close(kShortWait).isOk()); },
                   [&] { EXPECT_TRUE(p.server->close(kShortWait).isOk()); }});
}

// Many messages in flight at once, spread over every lane, received in an
// order other than the one they were sent in.
TEST_P(TlsLanes, ConcurrentMessagesAcrossLanes) {
  ChannelPair p = connectPair("tcp", tlsOptions(TlsMode::kOn, GetParam()),
                              tlsOptions(TlsMode::kOn, GetParam()));
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(p.client->stats().encrypted);
  constexpr int kMessages = 40;
  std::vector<Buffer> out;
  std::vector<Request> sends;
  for (int i = 0; i < kMessages; ++i) {
    out.push_back(Buffer::patterned(size_t(i) * 37001 + 3, 500 + i));
    auto r = p.client->isend(out.back().data(), out.back().size(), 7000 + i);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    sends.push_back(std::move(*r));
  }
  runConcurrently({
      [&] {
        for (auto& r : sends) EXPECT_TRUE(r.wait(kLongWait).isOk());
      },
      [&] {
        for (int i = kMessages - 1; i >= 0; --i)
          expectRecv(*p.server, size_t(i) * 37001 + 3, 7000 + i, size_t(i) * 37001 + 3, 500 + i);
      },
  });
  for (const LaneStats& l : p.client->stats().lane) EXPECT_GT(l.chunks_sent, 0u);
}

// One side with kTLS off (OpenSSL's records), the other with it on (the
// kernel's where it can): the records are the same TLS 1.3 either way.
TEST(TlsOffload, UserSpaceAndKernelRecordsInteroperate) {
  ChannelOptions user = tlsOptions(TlsMode::kOn, 2);
  user.ktls = false;
  ChannelPair p = connectPair("tcp", tlsOptions(TlsMode::kOn, 2), user);
  ASSERT_TRUE(p.client && p.server);
  expectOffload(p.client->stats(), true);
  expectOffload(p.server->stats(), false);
  const std::vector<size_t> sizes = {1, 16385, (2 << 20) + 3};
  runConcurrently({
      [&] {
        for (size_t i = 0; i < sizes.size(); ++i) expectSend(*p.client, sizes[i], i, 300 + i);
        for (size_t i = 0; i < sizes.size(); ++i)
          expectRecv(*p.client, sizes[i], 50 + i, sizes[i], 400 + i);
      },
      [&] {
        for (size_t i = 0; i < sizes.size(); ++i)
          expectRecv(*p.server, sizes[i], i, sizes[i], 300 + i);
        for (size_t i = 0; i < sizes.size(); ++i) expectSend(*p.server, sizes[i], 50 + i, 400 + i);
      },
  });
}

INSTANTIATE_TEST_SUITE_P(Lanes, TlsLanes, ::testing::Values(1, 8),
                         [](const auto& p) { return "lanes" + std::to_string(p.param); });

// What a relay on the path sees: the payload in the clear without TLS (so
// the check can see it), never with TLS; and a record altered on the way
// fails the channel with kProtocolError instead of delivering bad bytes.
class TlsWire : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = Listener::listen("tcp://127.0.0.1:0", tlsOptions(TlsMode::kOn, 2));
    ASSERT_TRUE(l.isOk()) << l.status().toString();
    listener_ = std::move(l).value();
    pump_ = std::make_unique<ListenerPump>(listener_.get());
  }
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<ListenerPump> pump_;
};

TEST_F(TlsWire, RelaySeesNoPlaintext) {
  const std::string secret(64 * 1024, 'Z');  // easy to find in a capture
  for (TlsMode mode : {TlsMode::kOff, TlsMode::kRequired}) {
    Relay relay(listener_->port());
    ChannelOptions o = tlsOptions(mode, 2);
    if (mode == TlsMode::kOff) o.psk = "tls-test-key";
    auto c = Channel::connect(tcpUri(relay.port()), o);
    ASSERT_TRUE(c.isOk()) << c.status().toString();
    auto s = pump_->next();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->stats().encrypted, mode != TlsMode::kOff);
    Buffer in(secret.size());
    auto r = s->irecv(in.data(), in.size(), 1);
    ASSERT_TRUE(r.isOk());
    ASSERT_TRUE((*c)->send(secret.data(), secret.size(), 1).isOk());
    ASSERT_TRUE(r->wait(kShortWait).isOk());
    EXPECT_EQ(std::memcmp(in.data(), secret.data(), secret.size()), 0);
    std::string wire = relay.upstream();
    bool visible = wire.find(std::string(256, 'Z')) != std::string::npos;
    EXPECT_EQ(visible, mode == TlsMode::kOff)
        << "mode " << int(mode) << ", " << wire.size() << " bytes relayed";
    EXPECT_GT(wire.size(), secret.size());
  }
}

TEST_F(TlsWire, AlteredRecordFailsTheChannel) {
  // Past the handshakes (HELLO, PROOF, ClientHello, Finished: < 1 KiB),
  // inside the data of the first lane.
  constexpr size_t kSize = 1 << 20;
  Buffer out = Buffer::patterned(kSize, 9), in(kSize);  // outlive the channels
  Relay relay(listener_->port(), 64 * 1024);
  auto c = Channel::connect(tcpUri(relay.port()), tlsOptions(TlsMode::kOn, 1));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump_->next();
  ASSERT_NE(s, nullptr);
  auto r = s->irecv(in.data(), kSize, 1);
  ASSERT_TRUE(r.isOk());
  auto w = (*c)->isend(out.data(), kSize, 1);
  ASSERT_TRUE(w.isOk());
  Status st = r->wait(kShortWait);
  EXPECT_EQ(st.code(), StatusCode::kProtocolError) << st.toString();
  EXPECT_NE(st.message().find("altered"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("127.0.0.1"), std::string::npos) << st.message();
  (void)w->wait(kShortWait);  // fails or not: the server closed the lanes
}

// A byte changed in the TLS handshake (here in the ClientHello, which the
// PSK binder covers; HELLO and PROOF take the first 100 bytes) is refused
// on both ends as an authentication failure, not taken for a channel.
TEST_F(TlsWire, AlteredHandshakeIsRefused) {
  Relay relay(listener_->port(), 150);
  auto c = Channel::connect(tcpUri(relay.port()), tlsOptions(TlsMode::kOn, 1));
  ASSERT_FALSE(c.isOk()) << "a channel over an altered TLS handshake";
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().toString();
  EXPECT_NE(c.status().message().find("TLS handshake with peer 127.0.0.1"), std::string::npos)
      << c.status().message();
  Status rej = pump_->waitRejection(
      [](const Status& st) { return st.message().find("TLS handshake") != std::string::npos; });
  EXPECT_EQ(rej.code(), StatusCode::kUnauthenticated) << describe(pump_->allRejections());
  EXPECT_EQ(pump_->next(200ms), nullptr);
}

// Mismatches: both ends learn why and what to set; the listener keeps
// serving a client that fits.
class TlsMismatch : public ::testing::Test {
 protected:
  void listen(const ChannelOptions& o) {
    auto l = Listener::listen("tcp://127.0.0.1:0", o);
    ASSERT_TRUE(l.isOk()) << l.status().toString();
    listener_ = std::move(l).value();
    pump_ = std::make_unique<ListenerPump>(listener_.get());
  }
  // `bad` fails with `code` and a message containing `hint`; the listener
  // records a rejection containing `server_hint`; then `good` gets through.
  void refusedThenServes(const ChannelOptions& bad, StatusCode code, const std::string& hint,
                         const std::string& server_hint, const ChannelOptions& good) {
    auto c = Channel::connect(tcpUri(listener_->port()), bad);
    ASSERT_FALSE(c.isOk()) << "connected despite the mismatch";
    EXPECT_EQ(c.status().code(), code) << c.status().toString();
    EXPECT_NE(c.status().message().find(hint), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("127.0.0.1:" + std::to_string(listener_->port())),
              std::string::npos)
        << "the error does not name the peer: " << c.status().message();
    Status rej = pump_->waitRejection(
        [&](const Status& s) { return s.message().find(server_hint) != std::string::npos; });
    EXPECT_FALSE(rej.isOk()) << "no listener rejection containing '" << server_hint
                             << "'; seen:" << describe(pump_->allRejections());
    EXPECT_NE(rej.message().find("127.0.0.1:"), std::string::npos) << rej.message();
    EXPECT_EQ(pump_->next(200ms), nullptr) << "a refused client produced a channel";

    auto g = Channel::connect(tcpUri(listener_->port()), good);
    ASSERT_TRUE(g.isOk()) << g.status().toString();
    auto s = pump_->next();
    ASSERT_NE(s, nullptr);
    runConcurrently(
        {[&] { expectSend(**g, 300000, 2, 5); }, [&] { expectRecv(*s, 300000, 2, 300000, 5); }});
    EXPECT_EQ((*g)->stats().encrypted, good.tls != TlsMode::kOff && s->stats().encrypted);
  }
  void TearDown() override {
    if (pump_) {
      pump_->stop();
      EXPECT_TRUE(pump_->acceptErrors().empty()) << describe(pump_->acceptErrors());
    }
  }
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<ListenerPump> pump_;
};

TEST_F(TlsMismatch, ListenerRequiresClientOffersNone) {
  listen(tlsOptions(TlsMode::kRequired));
  refusedThenServes(tlsOptions(TlsMode::kOff), StatusCode::kNotSupported,
                    "FARLINK_TLS=on or required on the client", "did not offer TLS",
                    tlsOptions(TlsMode::kOn));
}

TEST_F(TlsMismatch, ClientRequiresListenerHasItOff) {
  listen(tlsOptions(TlsMode::kOff));
  refusedThenServes(tlsOptions(TlsMode::kRequired), StatusCode::kNotSupported,
                    "FARLINK_TLS=on on the listener", "requires TLS but this listener has it off",
                    tlsOptions(TlsMode::kOff));
}

TEST_F(TlsMismatch, WrongKeyWithTls) {
  listen(tlsOptions(TlsMode::kRequired));
  refusedThenServes(tlsOptions(TlsMode::kRequired, 4, "not-the-key"), StatusCode::kUnauthenticated,
                    "pre-shared key", "failed PSK authentication", tlsOptions(TlsMode::kRequired));
}

// "on" on either side alone falls back to plaintext, visibly.
TEST_F(TlsMismatch, OnMeetsOffIsPlaintext) {
  listen(tlsOptions(TlsMode::kOff));
  ChannelPair p;
  auto c = Channel::connect(tcpUri(listener_->port()), tlsOptions(TlsMode::kOn));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump_->next();
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE((*c)->stats().encrypted);
  EXPECT_FALSE(s->stats().encrypted);
  EXPECT_TRUE((*c)->stats().authenticated);
  runConcurrently(
      {[&] { expectSend(**c, 5000, 1, 1); }, [&] { expectRecv(*s, 5000, 1, 5000, 1); }});
}

// A TLS handshake writing to a peer that has closed (a listener that gave
// up, a client that died): OpenSSL's socket BIO write()s, which raises
// SIGPIPE and kills a process that does not ignore it (seen once in
// conformance-tls). The lane must fail with an error instead. Run in a
// child with SIGPIPE at its default, as in an application that never
// heard of it.
TEST(TlsLaneSocket, PeerClosedDuringTheHandshakeIsAnErrorNotSigpipe) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ::close(sv[1]);  // the peer is gone before the ClientHello is sent
  auto lane = tcp::TlsLane::create(tcp::TlsLane::Side::kClient, wire::Proof{}, "peer-x", 3, true);
  ASSERT_TRUE(lane.isOk()) << lane.status().toString();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGPIPE, SIG_DFL);
    Status st = (*lane)->handshake(sv[0]);
    bool named = st.message().find("peer-x") != std::string::npos &&
                 st.message().find("lane 3") != std::string::npos;
    ::_exit(st.isOk() || st.code() == StatusCode::kAgain ? 2 : named ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(sv[0]);
  ASSERT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status)
                                    << (WTERMSIG(status) == SIGPIPE ? " (SIGPIPE)" : "");
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: the handshake did not fail; 3: its error names neither peer nor lane";
}

TEST(TlsOptions, NeedsAPreSharedKey) {
  for (TlsMode mode : {TlsMode::kOn, TlsMode::kRequired}) {
    ChannelOptions o = tlsOptions(mode, 1, "");
    auto l = Listener::listen("tcp://127.0.0.1:0", o);
    ASSERT_FALSE(l.isOk());
    EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(l.status().message().find("FARLINK_PSK"), std::string::npos) << l.status().message();
    auto c = Channel::connect(tcpUri(closedLoopbackPort()), o);
    ASSERT_FALSE(c.isOk());
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().toString();
  }
}

TEST(TlsOptions, FromEnvironment) {
  struct Case {
    const char* value;
    bool ok;
    TlsMode mode;
  };
  ::setenv("FARLINK_PSK", "k", 1);
  for (Case c : {Case{"off", true, TlsMode::kOff}, Case{"on", true, TlsMode::kOn},
                 Case{"required", true, TlsMode::kRequired},
                 Case{"require", true, TlsMode::kRequired}, Case{"yes please", false, {}}}) {
    ::setenv("FARLINK_TLS", c.value, 1);
    auto o = ChannelOptions::fromEnvironment();
    EXPECT_EQ(o.isOk(), c.ok) << c.value;
    if (o.isOk())
      EXPECT_EQ(o->tls, c.mode) << c.value;
    else
      EXPECT_NE(o.status().message().find("FARLINK_TLS"), std::string::npos);
  }
  ::unsetenv("FARLINK_TLS");
  ::unsetenv("FARLINK_PSK");
}

TEST(TlsOptions, KernelTlsFromEnvironment) {
  EXPECT_TRUE(ChannelOptions{}.ktls);
  ::setenv("FARLINK_KTLS", "0", 1);
  auto o = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_FALSE(o->ktls);
  ::setenv("FARLINK_KTLS", "maybe", 1);
  o = ChannelOptions::fromEnvironment();
  ASSERT_FALSE(o.isOk());
  EXPECT_NE(o.status().message().find("FARLINK_KTLS"), std::string::npos);
  ::unsetenv("FARLINK_KTLS");
}

}  // namespace
}  // namespace farlink::test
