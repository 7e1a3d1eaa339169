// Error paths a user meets: receive too small, peer closes, nothing arrives,
// nobody listening, schemes this build lacks, bad arguments.
#include <thread>

#include "conformance.h"

namespace farlink::test {
namespace {

class ConformanceErrors : public Conformance {};

TEST_P(ConformanceErrors, MessageLargerThanCapacityFailsAndChannelKeepsWorking) {
  runConcurrently({
      [&] {
        expectSend(client(), 1000, 4, 1);
        expectSend(client(), 50, 4, 2);
      },
      [&] {
        Buffer small(100);
        auto r = server().irecv(small.data(), small.size(), 4);
        ASSERT_TRUE(r.isOk());
        Status s = r->wait(kShortWait);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
        EXPECT_FALSE(s.message().empty());
        // The oversized message is consumed; the next one matches next.
        expectRecv(server(), 100, 4, 50, 2, kShortWait);
      },
  });
  // Both directions still work.
  runConcurrently({[&] { expectSend(server(), 3 << 20, 5, 3); },
                   [&] { expectRecv(client(), 3 << 20, 5, 3 << 20, 3); }});
}

TEST_P(ConformanceErrors, PeerCloseFinishesPendingReceivesWithPeerClosed) {
  Buffer in(1024);
  auto pending = server().irecv(in.data(), in.size(), 1);
  ASSERT_TRUE(pending.isOk());
  runConcurrently({
      [&] {
        Status s = client().close(kShortWait);
        EXPECT_TRUE(s.isOk()) << s.toString();
      },
      [&] {
        Status s = pending->wait(kShortWait);
        EXPECT_EQ(s.code(), StatusCode::kPeerClosed) << s.toString();
      },
  });
  // Receives posted after the close learn it at once.
  auto later = server().irecv(in.data(), in.size(), kAnyTag);
  if (later.isOk()) {
    Status s = later->wait(kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kPeerClosed) << s.toString();
  } else {
    EXPECT_EQ(later.status().code(), StatusCode::kPeerClosed) << later.status().toString();
  }
}

TEST_P(ConformanceErrors, CloseDeliversEarlierSendsFirst) {
  constexpr size_t kSize = 3 * (1u << 20) + 5;
  Buffer out = Buffer::patterned(kSize, 77);
  runConcurrently({
      [&] {
        auto r = client().isend(out.data(), kSize, 8);
        ASSERT_TRUE(r.isOk());
        // No wait: close() itself must flush the send before telling the peer.
        Status s = client().close(kShortWait);
        EXPECT_TRUE(s.isOk()) << s.toString();
        EXPECT_TRUE(r->done());
        EXPECT_TRUE(r->status().isOk()) << r->status().toString();
      },
      [&] {
        expectRecv(server(), kSize, 8, kSize, 77);
        Buffer in(16);
        auto r = server().irecv(in.data(), in.size(), 8);
        if (r.isOk()) {
          EXPECT_EQ(r->wait(kShortWait).code(), StatusCode::kPeerClosed);
        }
      },
  });
}

TEST_P(ConformanceErrors, CloseCancelsOwnPendingReceivesAndRefusesNewSends) {
  Buffer in(64);
  auto pending = client().irecv(in.data(), in.size(), 1);
  ASSERT_TRUE(pending.isOk());
  runConcurrently({[&] {
                     Status s = client().close(kShortWait);
                     EXPECT_TRUE(s.isOk()) << s.toString();
                   },
                   [&] {  // the usual peer: learns of the close, then closes too
                     Buffer sink(8);
                     auto r = server().irecv(sink.data(), sink.size(), kAnyTag);
                     ASSERT_TRUE(r.isOk());
                     EXPECT_EQ(r->wait(kShortWait).code(), StatusCode::kPeerClosed);
                     Status s = server().close(kShortWait);
                     EXPECT_TRUE(s.isOk()) << s.toString();
                   }});
  ASSERT_TRUE(pending->done()) << "close() left a receive pending";
  // channel.h says kCancelled; the peer's answering goodbye may win the race.
  StatusCode code = pending->status().code();
  EXPECT_TRUE(code == StatusCode::kCancelled || code == StatusCode::kPeerClosed)
      << pending->status().toString();
  uint8_t byte = 1;
  auto r = client().isend(&byte, 1, 1);
  if (r.isOk()) {
    EXPECT_FALSE(r->wait(kShortWait).isOk()) << "send after close() succeeded";
  }
}

TEST_P(ConformanceErrors, WaitTimesOutWithoutSenderThenCompletes) {
  Buffer in(32);
  auto r = server().irecv(in.data(), in.size(), 6);
  ASSERT_TRUE(r.isOk());
  Status s = r->wait(200ms);
  EXPECT_EQ(s.code(), StatusCode::kTimedOut) << s.toString();
  EXPECT_FALSE(r->done());
  EXPECT_FALSE(r->test());
  EXPECT_EQ(r->status().code(), StatusCode::kInProgress);
  auto blocking = server().recv(in.data(), in.size(), 99, 100ms);
  EXPECT_EQ(blocking.status().code(), StatusCode::kTimedOut) << blocking.status().toString();
  // The timed-out request continues and completes when data comes.
  runConcurrently({[&] { expectSend(client(), 20, 6, 5); },
                   [&] {
                     ASSERT_TRUE(r->wait(kShortWait).isOk());
                     EXPECT_EQ(r->bytes(), 20u);
                     EXPECT_TRUE(matchesPattern(in.data(), 20, 5));
                   }});
}

// A blocking recv() that timed out has returned to its caller, who may reuse
// or free the buffer: the receive must be withdrawn, so the next message of
// that tag goes to the next receive, not into the abandoned buffer.
TEST_P(ConformanceErrors, TimedOutBlockingRecvIsWithdrawn) {
  Buffer abandoned(64);
  auto r = server().recv(abandoned.data(), abandoned.size(), 99, 100ms);
  ASSERT_EQ(r.status().code(), StatusCode::kTimedOut) << r.status().toString();
  runConcurrently({[&] { expectSend(client(), 16, 99, 3); },
                   [&] { expectRecv(server(), 64, 99, 16, 3, kShortWait); }});
  EXPECT_EQ(abandoned.data()[0], 0xEE) << "a message landed in the buffer of a timed-out recv()";
}

// A send cannot be taken back mid-stream: a timed-out blocking send fails
// the channel (so the caller's buffer is free) instead of leaving it in use.
TEST_P(ConformanceErrors, TimedOutBlockingSendFailsTheChannel) {
  Buffer big = Buffer::patterned(64u << 20, 5);  // far more than socket buffers hold
  Status s = client().send(big.data(), big.size(), 7, 200ms);  // the server never reads
  ASSERT_EQ(s.code(), StatusCode::kTimedOut) << s.toString();
  auto r = client().isend(big.data(), 1, 7);
  ASSERT_FALSE(r.isOk()) << "a failed channel accepted a send";
  EXPECT_EQ(r.status().code(), StatusCode::kTimedOut) << r.status().toString();
  EXPECT_NE(r.status().message().find("could not be withdrawn"), std::string::npos)
      << r.status().toString();
}

TEST_P(ConformanceErrors, SendWithAnyTagIsInvalid) {
  uint8_t b[4] = {};
  auto r = client().isend(b, sizeof b, kAnyTag);
  if (r.isOk()) {
    EXPECT_EQ(r->wait(kShortWait).code(), StatusCode::kInvalidArgument);
  } else {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  }
}

class ConformanceConnect : public ConformanceBase {};

TEST_P(ConformanceConnect, ConnectToClosedPortIsAClearError) {
  uint16_t port = closedLoopbackPort();
  ChannelOptions o = options();
  o.connect_timeout = 3000ms;
  auto r = Channel::connect(uri(port), o);
  ASSERT_FALSE(r.isOk());
  StatusCode code = r.status().code();
  EXPECT_TRUE(code == StatusCode::kIoError || code == StatusCode::kPeerClosed)
      << r.status().toString();
  EXPECT_NE(r.status().message().find(host() + ":" + std::to_string(port)), std::string::npos)
      << "message does not name the address: " << r.status().message();
}

TEST_P(ConformanceConnect, InvalidOptionsAreRejected) {
  ChannelOptions o = options();
  o.lanes = 0;
  auto r = Channel::connect(uri(1), o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  o = options();
  o.chunk_size = 100;
  auto l = Listener::listen(uri(0), o);
  EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument) << l.status().toString();
  auto bad_host = Listener::listen(transport() + "://300.1.2.3:0", options());
  EXPECT_FALSE(bad_host.isOk());
}

TEST(ConformanceSchemes, UnbuiltSchemesAreNotSupported) {
  for (const std::string& scheme : unbuiltReservedSchemes()) {
    auto c = Channel::connect(scheme + "://127.0.0.1:1");
    EXPECT_EQ(c.status().code(), StatusCode::kNotSupported)
        << scheme << ": " << c.status().toString();
    EXPECT_NE(c.status().message().find(scheme), std::string::npos) << c.status().message();
    auto l = Listener::listen(scheme + "://127.0.0.1:0");
    EXPECT_EQ(l.status().code(), StatusCode::kNotSupported)
        << scheme << ": " << l.status().toString();
  }
  auto c = Channel::connect("carrierpigeon://127.0.0.1:1");
  EXPECT_FALSE(c.isOk());
  EXPECT_NE(c.status().code(), StatusCode::kOk);
}

FARLINK_INSTANTIATE_CONFORMANCE(ConformanceErrors);
FARLINK_INSTANTIATE_CONFORMANCE(ConformanceConnect);

}  // namespace
}  // namespace farlink::test
