// Bad handshakes against a listener that is serving a good client meanwhile:
// each bad peer loses its connection, the listener records why, naming the
// peer, and the good transfer completes.
#include <cstring>

#include "badinput_fixture.h"

namespace farlink::test {
namespace {

using wire::HandshakeStatus;

TEST_F(BadInput, GarbageBytes) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  std::string junk = "GET / HTTP/1.1\r\nHost: farlink\r\n\r\n";
  junk.resize(wire::kHelloSize * 2, '\x7f');
  ASSERT_TRUE(raw->send(junk));
  expectDropped(*raw);
  expectRejected(*raw);
  finishGoodTransfer();
}

TEST_F(BadInput, WrongMagic) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  uint8_t b[wire::kHelloSize];
  wire::encodeHello(RawPeer::hello(), b);
  std::memcpy(b, "FLNX", 4);
  ASSERT_TRUE(raw->send(b, sizeof b));
  expectDropped(*raw);
  expectRejected(*raw);
  finishGoodTransfer();
}

TEST_F(BadInput, WrongVersionGetsBadVersionWelcome) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  wire::Hello h = RawPeer::hello();
  h.version = 2;
  ASSERT_TRUE(raw->sendHello(h));
  auto w = raw->readWelcome(kShortWait);
  ASSERT_TRUE(w.has_value()) << "no WELCOME for a version-2 HELLO: " << raw->error();
  EXPECT_EQ(w->status, HandshakeStatus::kBadVersion) << wire::handshakeStatusName(w->status);
  EXPECT_EQ(w->version, wire::kVersion) << "server must answer with the version it speaks";
  EXPECT_TRUE(raw->waitClosed(kShortWait)) << "listener kept a wrong-version peer open";
  expectRejected(*raw);
  finishGoodTransfer();
}

TEST_F(BadInput, TruncatedHelloThenClose) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  uint8_t b[wire::kHelloSize];
  wire::encodeHello(RawPeer::hello(), b);
  ASSERT_TRUE(raw->send(b, 20));
  std::string name = raw->name();
  raw->close();
  Status s = pump_->waitRejection(
      [&](const Status& r) { return r.message().find(name) != std::string::npos; });
  EXPECT_FALSE(s.isOk()) << "no rejection names " << name << "; seen: " << seen();
  finishGoodTransfer();
}

TEST_F(BadInput, TruncatedHelloThenSilenceHitsHandshakeDeadline) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  uint8_t b[wire::kHelloSize];
  wire::encodeHello(RawPeer::hello(), b);
  ASSERT_TRUE(raw->send(b, 20));
  // Deadline is 500 ms; allow ten times that before calling it a hang.
  expectDropped(*raw, kHandshakeDeadline * 10);
  Status s = expectRejectionNaming(*raw);
  EXPECT_EQ(s.code(), StatusCode::kTimedOut) << s.toString();
  finishGoodTransfer();
}

TEST_F(BadInput, ConnectThenSilenceHitsHandshakeDeadline) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  expectDropped(*raw, kHandshakeDeadline * 10);
  expectRejected(*raw);
  finishGoodTransfer();
}

TEST_F(BadInput, BadLaneFields) {
  start();
  startGoodTransfer();
  struct Case {
    uint16_t index, count;
  };
  for (Case c : {Case{2, 2}, Case{0, 0}, Case{0, 65}, Case{70, 65}}) {
    SCOPED_TRACE("lane " + std::to_string(c.index) + " of " + std::to_string(c.count));
    auto raw = rawPeer();
    wire::Hello h = RawPeer::hello();
    h.lane_index = c.index;
    h.lane_count = c.count;
    ASSERT_TRUE(raw->sendHello(h));
    expectDropped(*raw);
    expectRejected(*raw);
  }
  finishGoodTransfer();
}

TEST_F(BadInput, BadChunkSize) {
  start();
  startGoodTransfer();
  auto raw = rawPeer();
  wire::Hello h = RawPeer::hello();
  h.max_chunk = 1;
  ASSERT_TRUE(raw->sendHello(h));
  expectDropped(*raw);
  expectRejected(*raw);
  finishGoodTransfer();
}

// Capability bits this version does not know (a newer client's offers) are
// ignored, not refused: the WELCOME says OK and agrees to none of them.
TEST_F(BadInput, UnknownCapabilityIsNotAgreed) {
  start();
  auto raw = rawPeer();
  wire::Hello h = RawPeer::hello();
  h.capabilities = 1u << 30;
  ASSERT_TRUE(raw->sendHello(h));
  std::optional<wire::Welcome> w = raw->readWelcome(kShortWait);
  ASSERT_TRUE(w.has_value()) << "no WELCOME for a HELLO offering an unknown bit: " << raw->error();
  EXPECT_EQ(w->status, wire::HandshakeStatus::kOk);
  EXPECT_EQ(w->capabilities & (1u << 30), 0u) << "the listener agreed to a bit it does not know";
  auto ch = pump_->next(kShortWait);
  ASSERT_NE(ch, nullptr) << "a HELLO with an unknown offer produced no channel";
  startGoodTransfer();
  finishGoodTransfer();
}

TEST_F(BadInput, IncompleteSessionHitsHandshakeDeadline) {
  start();
  auto raw = rawPeer();
  startGoodTransfer();
  // Lane 0 of 2 says hello correctly; lane 1 never comes. The listener must
  // not keep the half session (and its socket) forever.
  ASSERT_TRUE(raw->sendHello(RawPeer::hello(0, 2)));
  expectDropped(*raw, kHandshakeDeadline * 10, /*ok_welcome_allowed=*/true);
  expectRejected(*raw);
  finishGoodTransfer();
}

TEST_F(BadInput, RightPskByHandIsAccepted) {
  // Positive control for the raw PSK tests below: the same code path with
  // the right key must get a channel.
  start("s3cret");
  auto raw = rawPeer();
  std::string why;
  ASSERT_TRUE(raw->handshake("s3cret", &why)) << why;
  auto ch = pump_->next(kShortWait);
  ASSERT_NE(ch, nullptr) << "hand-made authenticated lane produced no channel";
  EXPECT_TRUE(ch->stats().authenticated);
  startGoodTransfer();
  finishGoodTransfer();
}

TEST_F(BadInput, WrongPskGetsUnauthenticatedVerdict) {
  start("s3cret");
  auto raw = rawPeer();
  startGoodTransfer();
  wire::Hello h = RawPeer::hello(0, 1, /*psk=*/true);
  ASSERT_TRUE(raw->sendHello(h));
  auto w = raw->readWelcome(kShortWait);
  ASSERT_TRUE(w.has_value()) << raw->error();
  ASSERT_EQ(w->status, HandshakeStatus::kOk);
  wire::Proof p = wire::computeProof("guess", wire::Role::kClient, h.session, 0, h.nonce, w->nonce);
  ASSERT_TRUE(raw->send(p.data(), p.size()));
  auto v = raw->readVerdict(kShortWait);
  ASSERT_TRUE(v.has_value()) << "no VERDICT after a wrong proof: " << raw->error();
  EXPECT_EQ(v->status, HandshakeStatus::kUnauthenticated);
  EXPECT_TRUE(raw->waitClosed(kShortWait));
  Status s = expectRejectionNaming(*raw);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.toString();
  finishGoodTransfer();
}

TEST_F(BadInput, MissingPskGetsAuthRequired) {
  start("s3cret");
  auto raw = rawPeer();
  startGoodTransfer();
  ASSERT_TRUE(raw->sendHello(RawPeer::hello(0, 1, /*psk=*/false)));
  auto w = raw->readWelcome(kShortWait);
  ASSERT_TRUE(w.has_value()) << raw->error();
  EXPECT_EQ(w->status, HandshakeStatus::kAuthRequired);
  EXPECT_TRUE(raw->waitClosed(kShortWait));
  Status s = expectRejectionNaming(*raw);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.toString();
  finishGoodTransfer();
}

}  // namespace
}  // namespace farlink::test
