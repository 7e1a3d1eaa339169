// computeProof / proofEqual: the PSK proof each lane exchanges. Checked
// against an independent HMAC-SHA256 (OpenSSL) over the documented input so
// that two builds with different crypto code still interoperate.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "core/wire.h"

namespace farlink::wire {
namespace {

struct Inputs {
  std::string psk = "correct horse battery staple";
  Role role = Role::kClient;
  SessionId session{};
  uint16_t lane = 5;
  Nonce client{};
  Nonce server{};

  Inputs() {
    for (size_t i = 0; i < session.size(); ++i) session[i] = static_cast<uint8_t>(i + 1);
    for (size_t i = 0; i < client.size(); ++i) client[i] = static_cast<uint8_t>(0x30 + i);
    for (size_t i = 0; i < server.size(); ++i) server[i] = static_cast<uint8_t>(0xc0 + i);
  }
  Proof compute() const { return computeProof(psk, role, session, lane, client, server); }
};

// role || session || lane_index (u16 little-endian) || client_nonce || server_nonce
Proof referenceHmac(const Inputs& in) {
  std::vector<uint8_t> msg;
  msg.push_back(static_cast<uint8_t>(in.role));
  msg.insert(msg.end(), in.session.begin(), in.session.end());
  msg.push_back(static_cast<uint8_t>(in.lane & 0xff));
  msg.push_back(static_cast<uint8_t>(in.lane >> 8));
  msg.insert(msg.end(), in.client.begin(), in.client.end());
  msg.insert(msg.end(), in.server.begin(), in.server.end());
  Proof out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), in.psk.data(), static_cast<int>(in.psk.size()), msg.data(), msg.size(),
       out.data(), &len);
  EXPECT_EQ(len, out.size());
  return out;
}

TEST(Proof, MatchesIndependentHmacSha256) {
  Inputs in;
  EXPECT_EQ(in.compute(), referenceHmac(in));
  in.role = Role::kServer;
  in.lane = 0x0102;  // both bytes of the lane index matter, little-endian
  EXPECT_EQ(in.compute(), referenceHmac(in));
}

TEST(Proof, IsDeterministic) {
  Inputs in;
  EXPECT_EQ(in.compute(), in.compute());
}

TEST(Proof, DiffersByEveryInput) {
  const Inputs base;
  const Proof p = base.compute();
  Inputs v = base;
  v.role = Role::kServer;
  EXPECT_NE(v.compute(), p) << "role";
  v = base;
  v.lane = 6;
  EXPECT_NE(v.compute(), p) << "lane";
  v = base;
  v.lane = base.lane + 256;
  EXPECT_NE(v.compute(), p) << "lane high byte";
  v = base;
  v.session[15] ^= 1;
  EXPECT_NE(v.compute(), p) << "session";
  v = base;
  v.client[0] ^= 1;
  EXPECT_NE(v.compute(), p) << "client nonce";
  v = base;
  v.server[31] ^= 1;
  EXPECT_NE(v.compute(), p) << "server nonce";
  v = base;
  v.psk += "!";
  EXPECT_NE(v.compute(), p) << "key";
  v = base;
  std::swap(v.client, v.server);
  EXPECT_NE(v.compute(), p) << "nonce order";
}

TEST(Proof, LongAndBinaryKeysWork) {
  Inputs in;
  in.psk = std::string(200, 'k');  // longer than the SHA-256 block: hashed first
  EXPECT_EQ(in.compute(), referenceHmac(in));
  in.psk = std::string("a\0b", 3);  // embedded NUL must not truncate the key
  Inputs other = in;
  other.psk = "a";
  EXPECT_NE(in.compute(), other.compute());
  EXPECT_EQ(in.compute(), referenceHmac(in));
}

TEST(Proof, EqualComparesEveryByte) {
  // Constant time cannot be asserted without timing (which tests must not
  // do); this checks that the comparison is correct at every position.
  Inputs in;
  const Proof p = in.compute();
  EXPECT_TRUE(proofEqual(p, p));
  Proof copy = p;
  EXPECT_TRUE(proofEqual(p, copy));
  for (size_t i = 0; i < p.size(); ++i) {
    for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
      Proof q = p;
      q[i] ^= bit;
      EXPECT_FALSE(proofEqual(p, q)) << "byte " << i;
      EXPECT_FALSE(proofEqual(q, p)) << "byte " << i;
    }
  }
  Proof zero{};
  EXPECT_FALSE(proofEqual(p, zero));
  EXPECT_TRUE(proofEqual(zero, Proof{}));
}

}  // namespace
}  // namespace farlink::wire
