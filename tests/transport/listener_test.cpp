// One listener, several peers: pre-shared-key checks (a bad client is refused
// while a good one transfers) and several channels served at once.
#include <set>

#include "conformance.h"

namespace farlink::test {
namespace {

class ConformanceListener : public ConformanceBase {
 protected:
  void listen(const ChannelOptions& o) {
    auto l = Listener::listen(uri(0), o);
    ASSERT_TRUE(l.isOk()) << l.status().toString();
    listener_ = std::move(l).value();
    pump_ = std::make_unique<ListenerPump>(listener_.get());
  }
  ChannelOptions withPsk(std::string psk) const {
    ChannelOptions o = options();
    o.psk = std::move(psk);
    o.connect_timeout = 5000ms;
    return o;
  }
  void TearDown() override {
    if (!pump_) return;
    pump_->stop();
    EXPECT_TRUE(pump_->acceptErrors().empty()) << pump_->acceptErrors()[0].toString();
    // Each failed connection is recorded once, not once per listener pass.
    std::vector<Status> all = pump_->allRejections();
    std::set<std::string> distinct;
    for (const Status& s : all) distinct.insert(s.toString());
    EXPECT_EQ(distinct.size(), all.size()) << "duplicate rejections:" << describe(all);
  }
  void badKeyWhileGoodClientTransfers(const std::string& bad_psk);
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<ListenerPump> pump_;
};

TEST_P(ConformanceListener, PskRightKeyTransfersBothWays) {
  listen(withPsk("s3cret"));
  auto c = Channel::connect(uri(listener_->port()), withPsk("s3cret"));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump_->next();
  ASSERT_NE(s, nullptr) << "listener did not deliver the authenticated channel";
  Channel& client = **c;
  runConcurrently({[&] {
                     expectSend(client, 1 << 20, 1, 1);
                     expectRecv(client, 1 << 20, 2, 1 << 20, 2);
                   },
                   [&] {
                     expectRecv(*s, 1 << 20, 1, 1 << 20, 1);
                     expectSend(*s, 1 << 20, 2, 2);
                   }});
  EXPECT_TRUE(client.stats().authenticated);
  EXPECT_TRUE(s->stats().authenticated);
  EXPECT_TRUE(pump_->allRejections().empty());
}

// A wrong (or missing) key fails on the client with kUnauthenticated, the
// listener records a kUnauthenticated rejection naming the peer, and a good
// client on the same listener is not disturbed.
void ConformanceListener::badKeyWhileGoodClientTransfers(const std::string& bad_psk) {
  listen(withPsk("s3cret"));
  const std::string target = uri(listener_->port());
  constexpr size_t kSize = 16u << 20;
  runConcurrently({
      [&] {  // good client
        auto c = Channel::connect(target, withPsk("s3cret"));
        ASSERT_TRUE(c.isOk()) << c.status().toString();
        expectSend(**c, kSize, 3, 33);
        expectRecv(**c, 8, 4, 8, 44);
        EXPECT_TRUE((*c)->close(kShortWait).isOk());
      },
      [&] {  // server side of the good client
        auto s = pump_->next(kShortWait * 2);
        ASSERT_NE(s, nullptr);
        expectRecv(*s, kSize, 3, kSize, 33);
        expectSend(*s, 8, 4, 44);
        // Graceful: dropping the channel would close abortively, and the
        // 8 bytes could then be lost with the lanes (that is what abortive means).
        EXPECT_TRUE(s->close(kShortWait).isOk());
      },
      [&] {
        auto c = Channel::connect(target, withPsk(bad_psk));
        ASSERT_FALSE(c.isOk()) << "connected with psk '" << bad_psk << "'";
        EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().toString();
        EXPECT_FALSE(c.status().message().empty());
      },
  });
  auto isAuth = [](const Status& s) { return s.code() == StatusCode::kUnauthenticated; };
  Status first = pump_->waitRejection(isAuth);
  EXPECT_EQ(first.code(), StatusCode::kUnauthenticated)
      << "no kUnauthenticated rejection; seen:" << describe(pump_->allRejections());
  EXPECT_TRUE(namesClientHost(transport(), first.message())) << first.message();
  EXPECT_EQ(pump_->next(200ms), nullptr) << "a refused client produced a channel";
}

TEST_P(ConformanceListener, PskWrongKeyRefusedWhileGoodClientTransfers) {
  badKeyWhileGoodClientTransfers("not-the-key");
}

TEST_P(ConformanceListener, PskMissingRefusedWhileGoodClientTransfers) {
  badKeyWhileGoodClientTransfers("");
}

// A lane that completed its handshake must not be reported later as one that
// did not (the listener's handshake deadline here is 300 ms; nothing may be
// rejected in the 1.5 s after a good channel was set up).
TEST_P(ConformanceListener, GoodChannelLeavesNoRejection) {
  ChannelOptions lo = options();
  lo.connect_timeout = 300ms;
  listen(lo);
  auto c = Channel::connect(uri(listener_->port()), options());
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump_->next();
  ASSERT_NE(s, nullptr);
  runConcurrently(
      {[&] { expectSend(**c, 1000, 1, 1); }, [&] { expectRecv(*s, 1000, 1, 1000, 1); }});
  size_t n = pump_->countRejections([](const Status&) { return true; }, 1, 1500ms);
  EXPECT_EQ(n, 0u) << "rejections after a good handshake:" << describe(pump_->allRejections());
}

// source_address: the accepted channel's peer is the address the client
// named, and an address this host lacks is refused at once, naming it.
TEST_P(ConformanceListener, SourceAddressIsWhereTheClientComesFrom) {
  if (host() != "127.0.0.1")
    GTEST_SKIP() << "uses 127.0.0.2 as the source; verbs is checked with rping -I in the guest";
  listen(options());
  ChannelOptions o = options();
  o.source_address = "127.0.0.2";
  auto c = Channel::connect(uri(listener_->port()), o);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto s = pump_->next();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->peer().rfind("127.0.0.2:", 0), 0u) << s->peer();
  runConcurrently({[&] { expectSend(**c, 1 << 20, 1, 3); },
                   [&] { expectRecv(*s, 1 << 20, 1, 1 << 20, 3); }});
  o.source_address = "203.0.113.9";  // TEST-NET-3: never an address of this host
  auto bad = Channel::connect(uri(listener_->port()), o);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("203.0.113.9"), std::string::npos)
      << bad.status().toString();
}

TEST_P(ConformanceListener, ThreeClientsAtOnce) {
  listen(options());
  const std::string target = uri(listener_->port());
  constexpr size_t kUp = 8u << 20, kDown = 1u << 20;
  std::vector<std::function<void()>> fns;
  for (uint64_t i = 0; i < 3; ++i) {
    fns.push_back([&, i] {
      auto c = Channel::connect(target, options());
      ASSERT_TRUE(c.isOk()) << "client " << i << ": " << c.status().toString();
      expectSend(**c, kUp + i, 100 + i, i);
      expectRecv(**c, kDown, 100 + i, kDown - i, 50 + i);
      EXPECT_TRUE((*c)->close(kShortWait).isOk());
    });
    fns.push_back([&] {
      auto s = pump_->next(kShortWait * 2);
      ASSERT_NE(s, nullptr) << "fewer than 3 channels accepted";
      // Which client this is shows in the tag of its first message.
      Buffer in(kUp + 3);
      auto r = s->irecv(in.data(), in.size(), kAnyTag);
      ASSERT_TRUE(r.isOk());
      ASSERT_TRUE(r->wait(kLongWait).isOk());
      uint64_t id = r->tag() - 100;
      ASSERT_LT(id, 3u) << "tag " << r->tag();
      EXPECT_EQ(r->bytes(), kUp + id);
      EXPECT_TRUE(matchesPattern(in.data(), kUp + id, id)) << "client " << id;
      expectSend(*s, kDown - id, 100 + id, 50 + id);
      // The client closes after reading the reply.
      Buffer tail(1);
      auto end = s->irecv(tail.data(), 1, kAnyTag);
      ASSERT_TRUE(end.isOk());
      EXPECT_EQ(end->wait(kShortWait).code(), StatusCode::kPeerClosed);
    });
  }
  runConcurrently(std::move(fns));
  EXPECT_TRUE(pump_->allRejections().empty());
}

FARLINK_INSTANTIATE_CONFORMANCE(ConformanceListener);

}  // namespace
}  // namespace farlink::test
