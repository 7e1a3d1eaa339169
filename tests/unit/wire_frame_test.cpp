// Frame header codec: exact byte layout, round trips, and every rejection the
// receiver must make before trusting a peer-controlled field.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/wire.h"

namespace farlink::wire {
namespace {

using Bytes = std::array<uint8_t, kFrameHeaderSize>;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

Bytes encode(const FrameHeader& f) {
  Bytes b{};
  encodeFrame(f, b.data());
  return b;
}

Status decode(const Bytes& b, FrameHeader* out, FrameLimits limits = {}) {
  return decodeFrame(std::span<const uint8_t, kFrameHeaderSize>(b), limits, out);
}

uint64_t le(const Bytes& b, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

void putLe(Bytes& b, size_t at, size_t width, uint64_t v) {
  for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

FrameHeader sample() {
  FrameHeader f;
  f.type = FrameType::kData;
  f.chunk_len = 0x00012345;
  f.msg_seq = 0x0102030405060708;
  f.tag = 0x1112131415161718;
  f.offset = 0x2000;
  f.total_len = 0x100000;
  return f;
}

TEST(WireFrame, LayoutIsLittleEndianAtDocumentedOffsets) {
  static_assert(kFrameHeaderSize == 40);
  Bytes b = encode(sample());
  EXPECT_EQ(b[0], uint8_t{1});  // type DATA
  EXPECT_EQ(b[1], uint8_t{0});  // flags
  EXPECT_EQ(le(b, 2, 2), 0u);   // reserved
  EXPECT_EQ(le(b, 4, 4), 0x00012345u);
  EXPECT_EQ(le(b, 8, 8), 0x0102030405060708u);
  EXPECT_EQ(le(b, 16, 8), 0x1112131415161718u);
  EXPECT_EQ(le(b, 24, 8), 0x2000u);
  EXPECT_EQ(le(b, 32, 8), 0x100000u);
}

TEST(WireFrame, RoundTripData) {
  FrameHeader in = sample();
  FrameHeader out;
  ASSERT_TRUE(decode(encode(in), &out).isOk());
  EXPECT_EQ(out.type, in.type);
  EXPECT_EQ(out.chunk_len, in.chunk_len);
  EXPECT_EQ(out.msg_seq, in.msg_seq);
  EXPECT_EQ(out.tag, in.tag);
  EXPECT_EQ(out.offset, in.offset);
  EXPECT_EQ(out.total_len, in.total_len);
}

TEST(WireFrame, RoundTripEdgeValues) {
  struct Case {
    uint32_t chunk;
    uint64_t offset, total, tag, seq;
  };
  const Case cases[] = {
      {0, 0, 0, 0, 0},                  // empty message
      {1, 0, 1, kU64Max - 1, kU64Max},  // one byte, extreme tag/seq
      {kMaxChunk, 0, kMaxChunk, 7, 1},  // one full chunk
      {kMaxChunk, (uint64_t{1} << 40) - kMaxChunk, uint64_t{1} << 40, 7, 2},  // last chunk
      {4095, 1'000'003 - 4095, 1'000'003, 42, 3},                             // odd tail
  };
  for (const Case& c : cases) {
    FrameHeader in;
    in.chunk_len = c.chunk;
    in.offset = c.offset;
    in.total_len = c.total;
    in.tag = c.tag;
    in.msg_seq = c.seq;
    FrameHeader out;
    Status s = decode(encode(in), &out);
    ASSERT_TRUE(s.isOk()) << s.toString() << " chunk=" << c.chunk << " total=" << c.total;
    EXPECT_EQ(out.chunk_len, c.chunk);
    EXPECT_EQ(out.offset, c.offset);
    EXPECT_EQ(out.total_len, c.total);
    EXPECT_EQ(out.tag, c.tag);
    EXPECT_EQ(out.msg_seq, c.seq);
  }
}

TEST(WireFrame, RoundTripClose) {
  FrameHeader in;
  in.type = FrameType::kClose;
  in.msg_seq = 12345;  // messages sent in total
  FrameHeader out;
  ASSERT_TRUE(decode(encode(in), &out).isOk());
  EXPECT_EQ(out.type, FrameType::kClose);
  EXPECT_EQ(out.msg_seq, 12345u);
  EXPECT_EQ(out.chunk_len, 0u);
}

TEST(WireFrame, RejectsCloseWithPayloadLength) {
  // CLOSE carries no payload; a length there would desynchronise the stream.
  FrameHeader f;
  f.type = FrameType::kClose;
  f.chunk_len = 16;
  FrameHeader out;
  EXPECT_EQ(decode(encode(f), &out).code(), StatusCode::kProtocolError);
}

TEST(WireFrame, RejectsUnknownTypes) {
  const int first_unknown = static_cast<int>(FrameType::kKeepalive) + 1;
  for (int t : {0, first_unknown, first_unknown + 1, 0x7f, 0x80, 0xff}) {
    Bytes b = encode(sample());
    b[0] = static_cast<uint8_t>(t);
    FrameHeader out;
    Status s = decode(b, &out);
    EXPECT_EQ(s.code(), StatusCode::kProtocolError) << "type " << t << ": " << s.toString();
    EXPECT_FALSE(s.message().empty());
  }
}

TEST(WireFrame, RejectsNonzeroFlags) {
  for (int bit = 0; bit < 8; ++bit) {
    Bytes b = encode(sample());
    b[1] = static_cast<uint8_t>(1u << bit);
    FrameHeader out;
    EXPECT_EQ(decode(b, &out).code(), StatusCode::kProtocolError) << "flag bit " << bit;
  }
}

TEST(WireFrame, RejectsNonzeroReserved) {
  for (uint16_t r : {uint16_t{1}, uint16_t{0x100}, uint16_t{0xffff}}) {
    Bytes b = encode(sample());
    putLe(b, 2, 2, r);
    FrameHeader out;
    EXPECT_EQ(decode(b, &out).code(), StatusCode::kProtocolError) << "reserved " << r;
  }
}

TEST(WireFrame, RejectsChunkLongerThanLimit) {
  FrameLimits limits;
  limits.max_chunk = 1u << 20;
  FrameHeader f = sample();
  f.offset = 0;
  f.total_len = uint64_t{1} << 32;
  f.chunk_len = limits.max_chunk;
  FrameHeader out;
  EXPECT_TRUE(decode(encode(f), &out, limits).isOk());
  for (uint32_t len : {limits.max_chunk + 1, uint32_t{1} << 31, ~uint32_t{0}}) {
    f.chunk_len = len;
    EXPECT_EQ(decode(encode(f), &out, limits).code(), StatusCode::kProtocolError) << len;
  }
}

TEST(WireFrame, RejectsChunkPastEndOfMessage) {
  FrameHeader f = sample();
  f.total_len = 10000;
  f.chunk_len = 4000;
  f.offset = 6000;  // ends exactly at total: fine
  FrameHeader out;
  EXPECT_TRUE(decode(encode(f), &out).isOk());
  f.offset = 6001;
  EXPECT_EQ(decode(encode(f), &out).code(), StatusCode::kProtocolError);
  f.offset = 10000;  // starts at the end
  EXPECT_EQ(decode(encode(f), &out).code(), StatusCode::kProtocolError);
  f.offset = 0;
  f.total_len = 3999;
  EXPECT_EQ(decode(encode(f), &out).code(), StatusCode::kProtocolError);
}

TEST(WireFrame, RejectsOffsetOverflowNear2To64) {
  // offset + chunk_len wraps around to a small number; a naive
  // `offset + len > total` check would let these through.
  FrameLimits limits;
  limits.max_message = kU64Max;
  FrameHeader f = sample();
  f.chunk_len = 100;
  f.total_len = kU64Max;
  FrameHeader out;
  for (uint64_t offset : {kU64Max - 99 + 1, kU64Max - 10, kU64Max}) {
    f.offset = offset;
    EXPECT_EQ(decode(encode(f), &out, limits).code(), StatusCode::kProtocolError)
        << "offset " << offset;
  }
  // Total small, offset huge: wraps to below total.
  f.total_len = 50;
  f.offset = kU64Max - 20;
  f.chunk_len = 40;
  EXPECT_EQ(decode(encode(f), &out, limits).code(), StatusCode::kProtocolError);
  // The largest chunk that does fit is still accepted.
  f.total_len = kU64Max;
  f.chunk_len = 100;
  f.offset = kU64Max - 100;
  EXPECT_TRUE(decode(encode(f), &out, limits).isOk());
}

TEST(WireFrame, RejectsMessageLargerThanLimit) {
  FrameLimits limits;
  limits.max_message = uint64_t{1} << 30;
  FrameHeader f = sample();
  f.offset = 0;
  f.chunk_len = 10;
  f.total_len = limits.max_message;
  FrameHeader out;
  EXPECT_TRUE(decode(encode(f), &out, limits).isOk());
  for (uint64_t total : {limits.max_message + 1, uint64_t{1} << 63, kU64Max}) {
    f.total_len = total;
    EXPECT_EQ(decode(encode(f), &out, limits).code(), StatusCode::kProtocolError) << total;
  }
}

// One-sided operation frames (WRITE, READ_REQ, READ_RESP, RMA_ACK).
FrameHeader rma(FrameType type, uint32_t chunk, uint64_t tag, uint64_t offset, uint64_t total) {
  FrameHeader f;
  f.type = type;
  f.chunk_len = chunk;
  f.msg_seq = 77;
  f.tag = tag;
  f.offset = offset;
  f.total_len = total;
  return f;
}

TEST(WireFrame, RmaFramesRoundTrip) {
  const FrameHeader cases[] = {
      rma(FrameType::kWrite, 4096, 9, uint64_t{1} << 33, 1 << 20),  // region offset > total
      rma(FrameType::kReadReq, 0, 9, 4096, 1 << 20),
      rma(FrameType::kReadResp, 4096, kMaxVerdict, 8192, 1 << 20),
      rma(FrameType::kRmaAck, 0, kMaxVerdict, 0, 0),
  };
  for (const FrameHeader& in : cases) {
    FrameHeader out;
    Status s = decode(encode(in), &out);
    ASSERT_TRUE(s.isOk()) << "type " << int(in.type) << ": " << s.toString();
    EXPECT_EQ(out.type, in.type);
    EXPECT_EQ(out.chunk_len, in.chunk_len);
    EXPECT_EQ(out.msg_seq, in.msg_seq);
    EXPECT_EQ(out.tag, in.tag);
    EXPECT_EQ(out.offset, in.offset);
    EXPECT_EQ(out.total_len, in.total_len);
  }
}

TEST(WireFrame, RmaFramesRejectBadFields) {
  const std::pair<const char*, FrameHeader> cases[] = {
      {"READ_REQ with payload", rma(FrameType::kReadReq, 16, 1, 0, 64)},
      {"READ_REQ range wraps", rma(FrameType::kReadReq, 0, 1, kU64Max - 10, 64)},
      {"WRITE chunk > operation", rma(FrameType::kWrite, 128, 1, 0, 64)},
      {"WRITE range wraps", rma(FrameType::kWrite, 64, 1, kU64Max - 10, 64)},
      {"WRITE chunk > limit", rma(FrameType::kWrite, kMaxChunk + 1, 1, 0, uint64_t{1} << 32)},
      {"READ_RESP unknown verdict", rma(FrameType::kReadResp, 16, kMaxVerdict + 1, 0, 64)},
      {"READ_RESP past end", rma(FrameType::kReadResp, 16, 0, 60, 64)},
      {"RMA_ACK unknown verdict", rma(FrameType::kRmaAck, 0, kMaxVerdict + 1, 0, 0)},
      {"RMA_ACK with length", rma(FrameType::kRmaAck, 8, 0, 0, 0)},
      {"RMA_ACK with offset", rma(FrameType::kRmaAck, 0, 0, 5, 0)},
      {"READ_REQ > max message", rma(FrameType::kReadReq, 0, 1, 0, (uint64_t{1} << 40) + 1)},
  };
  for (const auto& [what, f] : cases) {
    FrameHeader out;
    EXPECT_EQ(decode(encode(f), &out).code(), StatusCode::kProtocolError) << what;
  }
}

// ACK and RESUME (session resume) carry one count in msg_seq and nothing else.
TEST(WireFrame, ResumeFramesCarryOnlyACount) {
  for (FrameType t : {FrameType::kAck, FrameType::kResume}) {
    FrameHeader in;
    in.type = t;
    in.msg_seq = (uint64_t{1} << 40) + 3;
    FrameHeader out;
    ASSERT_TRUE(decode(encode(in), &out).isOk()) << int(t);
    EXPECT_EQ(out.type, t);
    EXPECT_EQ(out.msg_seq, in.msg_seq);
    for (int field = 0; field < 4; ++field) {
      FrameHeader bad = in;
      if (field == 0) bad.chunk_len = 1;
      if (field == 1) bad.tag = 1;
      if (field == 2) bad.offset = 1;
      if (field == 3) bad.total_len = 1;
      EXPECT_EQ(decode(encode(bad), &out).code(), StatusCode::kProtocolError)
          << "type " << int(t) << " field " << field;
    }
  }
}

// KEEPALIVE (keepalive agreed) is a bare header: every field must be 0, so
// that it can never be mistaken for, or smuggle, anything the receiver counts.
TEST(WireFrame, KeepaliveCarriesNothing) {
  FrameHeader in;
  in.type = FrameType::kKeepalive;
  FrameHeader out;
  ASSERT_TRUE(decode(encode(in), &out).isOk());
  EXPECT_EQ(out.type, FrameType::kKeepalive);
  for (int field = 0; field < 5; ++field) {
    FrameHeader bad = in;
    if (field == 0) bad.chunk_len = 1;
    if (field == 1) bad.msg_seq = 1;
    if (field == 2) bad.tag = 1;
    if (field == 3) bad.offset = 1;
    if (field == 4) bad.total_len = 1;
    EXPECT_EQ(decode(encode(bad), &out).code(), StatusCode::kProtocolError) << "field " << field;
  }
}

TEST(WireFrame, DefaultLimitsMatchProtocolConstants) {
  FrameLimits limits;
  EXPECT_EQ(limits.max_chunk, kMaxChunk);
  EXPECT_EQ(limits.max_message, uint64_t{1} << 40);
  EXPECT_EQ(kMinChunk, 4096u);
  EXPECT_EQ(kMaxChunk, 64u << 20);
}

}  // namespace
}  // namespace farlink::wire
