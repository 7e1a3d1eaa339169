// HELLO / WELCOME / VERDICT codecs: layout, round trips and rejections of
// malformed peer input (magic, capabilities, lane fields, chunk size, reason).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/wire.h"

namespace farlink::wire {
namespace {

using HelloBytes = std::array<uint8_t, kHelloSize>;

uint64_t le(const uint8_t* b, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{b[i]} << (8 * i);
  return v;
}

void putLe(uint8_t* b, size_t width, uint64_t v) {
  for (size_t i = 0; i < width; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
}

Hello sampleHello() {
  Hello h;
  h.capabilities = kCapPsk;
  h.lane_index = 3;
  h.lane_count = 8;
  h.max_chunk = 1u << 20;
  for (size_t i = 0; i < h.session.size(); ++i) h.session[i] = static_cast<uint8_t>(0xa0 + i);
  for (size_t i = 0; i < h.nonce.size(); ++i) h.nonce[i] = static_cast<uint8_t>(i * 7 + 1);
  return h;
}

HelloBytes encode(const Hello& h) {
  HelloBytes b{};
  encodeHello(h, b.data());
  return b;
}

Status decode(const HelloBytes& b, Hello* h) {
  return decodeHello(std::span<const uint8_t, kHelloSize>(b), h);
}

TEST(WireHello, LayoutAtDocumentedOffsets) {
  static_assert(kHelloSize == 68);
  HelloBytes b = encode(sampleHello());
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "FLNK");
  EXPECT_EQ(le(&b[4], 2), kVersion);
  EXPECT_EQ(le(&b[6], 2), 0u);  // reserved
  EXPECT_EQ(le(&b[8], 4), kCapPsk);
  EXPECT_EQ(le(&b[12], 2), 3u);
  EXPECT_EQ(le(&b[14], 2), 8u);
  EXPECT_EQ(le(&b[16], 4), 1u << 20);
  EXPECT_EQ(b[20], 0xa0);
  EXPECT_EQ(b[35], 0xa0 + 15);
  EXPECT_EQ(b[36], 1);
  EXPECT_EQ(b[67], 31 * 7 + 1);
}

TEST(WireHello, RoundTrip) {
  Hello in = sampleHello();
  Hello out;
  ASSERT_TRUE(decode(encode(in), &out).isOk());
  EXPECT_EQ(out.version, in.version);
  EXPECT_EQ(out.capabilities, in.capabilities);
  EXPECT_EQ(out.lane_index, in.lane_index);
  EXPECT_EQ(out.lane_count, in.lane_count);
  EXPECT_EQ(out.max_chunk, in.max_chunk);
  EXPECT_EQ(out.session, in.session);
  EXPECT_EQ(out.nonce, in.nonce);
}

TEST(WireHello, AcceptsBoundaryValues) {
  Hello h = sampleHello();
  Hello out;
  h.lane_count = kMaxLanes;
  h.lane_index = kMaxLanes - 1;
  h.max_chunk = kMinChunk;
  EXPECT_TRUE(decode(encode(h), &out).isOk());
  h.lane_count = 1;
  h.lane_index = 0;
  h.max_chunk = kMaxChunk;
  h.capabilities = 0;
  EXPECT_TRUE(decode(encode(h), &out).isOk());
}

TEST(WireHello, OtherVersionDecodesSoServerCanAnswer) {
  Hello h = sampleHello();
  h.version = 2;
  Hello out;
  ASSERT_TRUE(decode(encode(h), &out).isOk());
  EXPECT_EQ(out.version, 2);
}

TEST(WireHello, RejectsBadMagic) {
  for (size_t i = 0; i < 4; ++i) {
    HelloBytes b = encode(sampleHello());
    b[i] ^= 0x20;
    Hello out;
    Status s = decode(b, &out);
    EXPECT_EQ(s.code(), StatusCode::kProtocolError) << "byte " << i;
  }
}

TEST(WireHello, DropsUnknownCapabilityOffers) {
  // A newer client's offers this version does not know are ignored, so the
  // listener answers with only what it knows instead of refusing the client.
  const uint32_t next_unknown = (kKnownCaps + 1) & ~kKnownCaps;
  for (uint32_t cap : {next_unknown, 1u << 31, ~kKnownCaps}) {
    Hello h = sampleHello();
    h.capabilities = kCapPsk | cap;
    Hello out;
    ASSERT_TRUE(decode(encode(h), &out).isOk()) << std::hex << cap;
    EXPECT_EQ(out.capabilities, kCapPsk) << std::hex << cap;
  }
}

TEST(WireHello, RejectsBadLaneFields) {
  struct Case {
    uint16_t index, count;
  };
  for (Case c : {Case{8, 8}, Case{9, 8}, Case{0xffff, 8}, Case{0, 0}, Case{0, kMaxLanes + 1},
                 Case{64, 65}, Case{0, 0xffff}}) {
    Hello h = sampleHello();
    h.lane_index = c.index;
    h.lane_count = c.count;
    Hello out;
    EXPECT_EQ(decode(encode(h), &out).code(), StatusCode::kProtocolError)
        << "lane " << c.index << " of " << c.count;
  }
}

TEST(WireHello, RejectsChunkSizeOutOfRange) {
  for (uint32_t chunk : {uint32_t{1}, kMinChunk - 1, kMaxChunk + 1, ~uint32_t{0}}) {
    Hello h = sampleHello();
    h.max_chunk = chunk;
    Hello out;
    EXPECT_EQ(decode(encode(h), &out).code(), StatusCode::kProtocolError) << chunk;
  }
}

Welcome sampleWelcome(std::string reason = "") {
  Welcome w;
  w.status = HandshakeStatus::kOk;
  w.capabilities = kCapPsk;
  w.max_chunk = 2u << 20;
  for (size_t i = 0; i < w.nonce.size(); ++i) w.nonce[i] = static_cast<uint8_t>(0x40 + i);
  for (size_t i = 0; i < w.proof.size(); ++i) w.proof[i] = static_cast<uint8_t>(0x90 + i);
  w.reason = std::move(reason);
  return w;
}

Status decodeW(const std::string& bytes, Welcome* w, size_t* reason_len) {
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  return decodeWelcomeFixed(std::span<const uint8_t, kWelcomeFixedSize>(p, kWelcomeFixedSize), w,
                            reason_len);
}

// Where reason_len sits, found by encoding two reasons that differ in length
// only (keeps these tests independent of the offset of that field).
size_t reasonLenOffset(const std::string& a, const std::string& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i] != b[i]) return i;
  return SIZE_MAX;
}

TEST(WireWelcome, SizeIsFixedPartPlusReason) {
  EXPECT_EQ(encodeWelcome(sampleWelcome()).size(), kWelcomeFixedSize);
  EXPECT_EQ(encodeWelcome(sampleWelcome("busy")).size(), kWelcomeFixedSize + 4);
  EXPECT_EQ(encodeWelcome(sampleWelcome(std::string(kMaxReason, 'x'))).size(),
            kWelcomeFixedSize + kMaxReason);
}

TEST(WireWelcome, RoundTripWithReason) {
  Welcome in = sampleWelcome("version 2 is not spoken here");
  in.status = HandshakeStatus::kBadVersion;
  std::string bytes = encodeWelcome(in);
  ASSERT_GE(bytes.size(), kWelcomeFixedSize);
  EXPECT_EQ(bytes.substr(0, 4), "FLNK");
  EXPECT_EQ(le(reinterpret_cast<const uint8_t*>(&bytes[6]), 2),
            static_cast<uint16_t>(HandshakeStatus::kBadVersion));
  Welcome out;
  size_t reason_len = 0;
  ASSERT_TRUE(decodeW(bytes, &out, &reason_len).isOk());
  EXPECT_EQ(out.version, kVersion);
  EXPECT_EQ(out.status, HandshakeStatus::kBadVersion);
  EXPECT_EQ(out.capabilities, in.capabilities);
  EXPECT_EQ(out.max_chunk, in.max_chunk);
  EXPECT_EQ(out.nonce, in.nonce);
  EXPECT_EQ(out.proof, in.proof);
  ASSERT_EQ(reason_len, in.reason.size());
  EXPECT_EQ(bytes.substr(kWelcomeFixedSize), in.reason);
}

TEST(WireWelcome, RejectsBadMagic) {
  std::string bytes = encodeWelcome(sampleWelcome());
  bytes[3] = 'X';
  Welcome out;
  size_t reason_len = 0;
  EXPECT_EQ(decodeW(bytes, &out, &reason_len).code(), StatusCode::kProtocolError);
}

TEST(WireWelcome, RejectsUnknownCapabilities) {
  std::string bytes = encodeWelcome(sampleWelcome());
  bytes[8 + 3] = static_cast<char>(0x80);  // capability bit 31
  Welcome out;
  size_t reason_len = 0;
  EXPECT_EQ(decodeW(bytes, &out, &reason_len).code(), StatusCode::kProtocolError);
}

TEST(WireWelcome, RejectsChunkSizeOutOfRange) {
  for (uint32_t chunk : {kMinChunk - 1, kMaxChunk + 1}) {
    Welcome w = sampleWelcome();
    w.max_chunk = chunk;
    Welcome out;
    size_t reason_len = 0;
    EXPECT_EQ(decodeW(encodeWelcome(w), &out, &reason_len).code(), StatusCode::kProtocolError)
        << chunk;
  }
}

TEST(WireWelcome, RejectsReasonLongerThanLimit) {
  std::string a = encodeWelcome(sampleWelcome("abcde"));
  std::string b = encodeWelcome(sampleWelcome("abcdef"));
  size_t at = reasonLenOffset(a, b);
  ASSERT_LT(at + 1, kWelcomeFixedSize) << "reason_len not found in the fixed part";
  for (uint16_t len : {uint16_t(kMaxReason + 1), uint16_t{0xffff}}) {
    std::string bytes = a;
    putLe(reinterpret_cast<uint8_t*>(&bytes[at]), 2, len);
    Welcome out;
    size_t reason_len = 0;
    EXPECT_EQ(decodeW(bytes, &out, &reason_len).code(), StatusCode::kProtocolError) << len;
  }
}

std::string_view tailAfter(const std::string& s, size_t n) { return std::string_view(s).substr(n); }

TEST(WireVerdict, RoundTripAndLayout) {
  Verdict in{HandshakeStatus::kUnauthenticated, "bad proof for lane 0"};
  std::string bytes = encodeVerdict(in);
  ASSERT_EQ(bytes.size(), kVerdictFixedSize + in.reason.size());
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  EXPECT_EQ(le(p, 2), static_cast<uint16_t>(HandshakeStatus::kUnauthenticated));
  EXPECT_EQ(le(p + 2, 2), in.reason.size());
  Verdict out;
  size_t reason_len = 0;
  ASSERT_TRUE(
      decodeVerdictFixed(std::span<const uint8_t, kVerdictFixedSize>(p, 4), &out, &reason_len)
          .isOk());
  EXPECT_EQ(out.status, HandshakeStatus::kUnauthenticated);
  EXPECT_EQ(reason_len, in.reason.size());
  EXPECT_EQ(tailAfter(bytes, kVerdictFixedSize), in.reason);
}

TEST(WireVerdict, RejectsReasonLongerThanLimit) {
  for (uint16_t len : {uint16_t(kMaxReason + 1), uint16_t{0xffff}}) {
    uint8_t b[kVerdictFixedSize] = {};
    putLe(b, 2, static_cast<uint16_t>(HandshakeStatus::kOk));
    putLe(b + 2, 2, len);
    Verdict out;
    size_t reason_len = 0;
    EXPECT_EQ(decodeVerdictFixed(std::span<const uint8_t, kVerdictFixedSize>(b), &out, &reason_len)
                  .code(),
              StatusCode::kProtocolError)
        << len;
  }
}

TEST(WireHandshake, StatusNamesAreDistinct) {
  std::set<std::string> names;
  for (uint16_t s = 0; s <= static_cast<uint16_t>(HandshakeStatus::kTlsMismatch); ++s) {
    const char* n = handshakeStatusName(static_cast<HandshakeStatus>(s));
    ASSERT_NE(n, nullptr);
    EXPECT_GT(std::string(n).size(), 0u);
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(HandshakeStatus::kTlsMismatch) + 1);
  // An unknown value from a peer must not crash the name lookup.
  EXPECT_NE(handshakeStatusName(static_cast<HandshakeStatus>(999)), nullptr);
}

}  // namespace
}  // namespace farlink::wire
