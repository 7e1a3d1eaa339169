// Bad frames after a correct handshake. A raw one-lane client completes the
// handshake by hand, proves the lane works with one valid message, then sends
// a frame that breaks the protocol: the server's pending irecv must finish
// with kProtocolError naming the peer, the lane must be closed, and a good
// client on the same listener must be unaffected.
#include <limits>

#include "badinput_fixture.h"

namespace farlink::test {
namespace {

using Header = std::array<uint8_t, wire::kFrameHeaderSize>;

Header encoded(const wire::FrameHeader& f) {
  Header h{};
  wire::encodeFrame(f, h.data());
  return h;
}

struct BadFrame {
  const char* name;
  Header header;
  // Payload bytes sent after the header (then the raw peer goes quiet).
  size_t payload;
  StatusCode expect;
  // Capacity of the pending irecv: large enough that the message is
  // matched, so the frame itself is what must be refused.
  size_t capacity = 4096;
};

// gtest prints a parameter with this instead of its bytes.
void PrintTo(const BadFrame& f, std::ostream* os) { *os << f.name; }

// msg_seq 1: the positive-control message used seq 0.
std::vector<BadFrame> badFrames() {
  std::vector<BadFrame> v;
  wire::FrameHeader f = dataFrame(1, 1, 16);
  f.chunk_len = uint32_t{1} << 31;
  f.total_len = uint64_t{1} << 32;
  v.push_back({"ChunkLen2To31", encoded(f), 0, StatusCode::kProtocolError});
  f = dataFrame(1, 1, 16);
  f.total_len = uint64_t{1} << 63;
  v.push_back({"TotalLen2To63", encoded(f), 16, StatusCode::kProtocolError});
  Header h = encoded(dataFrame(1, 1, 16));
  h[0] = 0x7f;
  v.push_back({"UnknownFrameType", h, 16, StatusCode::kProtocolError});
  h = encoded(dataFrame(1, 1, 16));
  h[1] = 0x01;
  v.push_back({"NonzeroFlags", h, 16, StatusCode::kProtocolError});
  f = dataFrame(1, 1, 16);
  f.offset = 100;
  f.total_len = 108;
  v.push_back({"ChunkPastEndOfMessage", encoded(f), 16, StatusCode::kProtocolError});
  f = dataFrame(1, 1, 16);
  f.offset = std::numeric_limits<uint64_t>::max() - 4;
  f.total_len = 64;
  v.push_back({"OffsetWrapsAround", encoded(f), 16, StatusCode::kProtocolError});
  f = dataFrame(wire::kMaxOpenMessages + 1000, 1, 16);
  v.push_back({"MsgSeqFarBeyondWindow", encoded(f), 16, StatusCode::kProtocolError});
  f = dataFrame(0, 1, 16);  // seq 0 again, whole message again
  v.push_back({"DuplicateMessage", encoded(f), 16, StatusCode::kProtocolError});
  f = dataFrame(1, 1, 16);  // the peer promised 4 KiB chunks: offset 100 is off the grid
  f.offset = 100;
  f.total_len = 4096;
  v.push_back({"ChunkOffTheChunkGrid", encoded(f), 16, StatusCode::kProtocolError});
  // An empty chunk *at* the end of a 64-chunk message: passes the range
  // check (offset + 0 <= total) but names chunk index 64 of 0..63.
  f = dataFrame(1, 1, 0);
  f.total_len = 64 * wire::kMinChunk;
  f.offset = f.total_len;
  v.push_back(
      {"EmptyChunkPastLastChunk", encoded(f), 0, StatusCode::kProtocolError, 64 * wire::kMinChunk});
  // The raw peer's HELLO did not offer bit 6: a KEEPALIVE is not its to send.
  wire::FrameHeader k;
  k.type = wire::FrameType::kKeepalive;
  v.push_back({"KeepaliveNotAgreed", encoded(k), 0, StatusCode::kProtocolError});
  return v;
}

class BadFrames : public BadInput, public ::testing::WithParamInterface<BadFrame> {
 protected:
  // Raw handshake, accept its channel, check one valid message arrives.
  void connectRaw() {
    raw_ = rawPeer();
    std::string why;
    ASSERT_TRUE(raw_->handshake("", &why)) << why;
    raw_channel_ = pump_->next(kShortWait);
    ASSERT_NE(raw_channel_, nullptr) << "the hand-made lane produced no channel";
    EXPECT_NE(raw_channel_->peer().find(raw_->name()), std::string::npos)
        << "channel peer '" << raw_channel_->peer() << "' is not " << raw_->name();
    Buffer good = Buffer::patterned(1000, 5);
    ASSERT_TRUE(raw_->sendFrame(dataFrame(0, 1, 1000), good.data(), good.size()));
    expectRecv(*raw_channel_, 4096, 1, 1000, 5, kShortWait);
  }
  std::unique_ptr<RawPeer> raw_;
  std::unique_ptr<Channel> raw_channel_;
};

TEST_P(BadFrames, ServerReportsProtocolErrorAndDropsLane) {
  const BadFrame& bad = GetParam();
  start();
  connectRaw();
  if (HasFatalFailure()) return;
  startGoodTransfer();
  Buffer in(bad.capacity);
  auto r = raw_channel_->irecv(in.data(), in.size(), kAnyTag);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_TRUE(raw_->send(bad.header.data(), bad.header.size()));
  if (bad.payload > 0) {
    std::vector<uint8_t> junk(bad.payload, 0xab);
    (void)raw_->send(junk.data(), junk.size());  // may fail: server may have hung up
  }
  Status s = r->wait(kShortWait);
  EXPECT_EQ(s.code(), bad.expect) << s.toString();
  EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos)
      << "error does not name the peer: " << s.toString();
  EXPECT_TRUE(raw_->waitClosed(kShortWait)) << "server kept the lane open after " << bad.name;
  // Later receives fail too instead of waiting forever.
  auto again = raw_channel_->irecv(in.data(), in.size(), kAnyTag);
  if (again.isOk()) {
    EXPECT_FALSE(again->wait(kShortWait).isOk());
  }
  finishGoodTransfer();
}

INSTANTIATE_TEST_SUITE_P(Frames, BadFrames, ::testing::ValuesIn(badFrames()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_F(BadInput, TruncatedPayloadThenCloseEndsPendingReceive) {
  start();
  auto raw = rawPeer();
  std::string why;
  ASSERT_TRUE(raw->handshake("", &why)) << why;
  auto ch = pump_->next(kShortWait);
  ASSERT_NE(ch, nullptr);
  startGoodTransfer();
  Buffer in(4096);
  auto r = ch->irecv(in.data(), in.size(), kAnyTag);
  ASSERT_TRUE(r.isOk());
  uint8_t part[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(raw->sendFrame(dataFrame(0, 1, 1000), part, sizeof part));  // 990 B short
  raw->close();
  Status s = r->wait(kShortWait);
  EXPECT_TRUE(s.code() == StatusCode::kPeerClosed || s.code() == StatusCode::kProtocolError)
      << s.toString();
  finishGoodTransfer();
}

TEST_F(BadInput, GarbageAfterHandshake) {
  start();
  auto raw = rawPeer();
  std::string why;
  ASSERT_TRUE(raw->handshake("", &why)) << why;
  auto ch = pump_->next(kShortWait);
  ASSERT_NE(ch, nullptr);
  startGoodTransfer();
  Buffer in(4096);
  auto r = ch->irecv(in.data(), in.size(), kAnyTag);
  ASSERT_TRUE(r.isOk());
  std::string junk(wire::kFrameHeaderSize * 3, '\xff');
  ASSERT_TRUE(raw->send(junk));
  EXPECT_EQ(r->wait(kShortWait).code(), StatusCode::kProtocolError);
  EXPECT_TRUE(raw->waitClosed(kShortWait));
  finishGoodTransfer();
}

}  // namespace
}  // namespace farlink::test
