// One-sided write/read against a peer's registered region: data placed and
// fetched byte for byte, refusals (bad key, bounds, access, deregistered)
// reported as kInvalidArgument while the channel keeps working.
#include "conformance.h"

namespace farlink::test {
namespace {

class ConformanceRma : public Conformance {
 protected:
  // The server registers `region_` and the client learns its key as a
  // message, as an application would.
  void expose(uint32_t access) {
    region_ = Buffer::patterned(kRegion, 91);
    auto mr = MemoryRegion::create(region_.data(), region_.size(), access);
    ASSERT_TRUE(mr.isOk()) << mr.status().toString();
    mr_ = std::move(mr.value());
    auto bytes = mr_->remoteKey().serialize();
    std::array<uint8_t, RemoteKey::kSerializedSize> got{};
    runConcurrently({
        [&] { EXPECT_TRUE(server().send(bytes.data(), bytes.size(), 1, kShortWait).isOk()); },
        [&] {
          auto n = client().recv(got.data(), got.size(), 1, kShortWait);
          ASSERT_TRUE(n.isOk()) << n.status().toString();
        },
    });
    auto key = RemoteKey::deserialize(got.data(), got.size());
    ASSERT_TRUE(key.isOk()) << key.status().toString();
    key_ = key.value();
    EXPECT_EQ(key_.length, kRegion);
  }
  // One-sided ops need the owner's channel driven: a receive that the
  // client's final message completes does that.
  template <typename Fn>
  void withOwnerDriven(Fn client_work) {
    runConcurrently({
        [&] {
          uint8_t done = 0;
          auto n = server().recv(&done, 1, 99, kLongWait);
          EXPECT_TRUE(n.isOk()) << n.status().toString();
        },
        [&] {
          client_work();
          uint8_t done = 1;
          EXPECT_TRUE(client().send(&done, 1, 99, kShortWait).isOk());
        },
    });
  }

  static constexpr size_t kRegion = (5u << 20) + 77;
  Buffer region_{1};
  std::unique_ptr<MemoryRegion> mr_;
  RemoteKey key_;
};

TEST_P(ConformanceRma, ReadFetchesRegionBytes) {
  expose(kRemoteRead);
  Buffer local(3u << 20);
  withOwnerDriven([&] {
    Status s = client().read(local.data(), local.size(), key_, 1001, kLongWait);
    ASSERT_TRUE(s.isOk()) << s.toString();
  });
  for (size_t i = 0; i < local.size(); ++i)
    ASSERT_EQ(local.data()[i], patternByte(91, i + 1001)) << "byte " << i;
}

TEST_P(ConformanceRma, WritePlacesBytesThenReadSeesThem) {
  expose(kRemoteRead | kRemoteWrite);
  Buffer out = Buffer::patterned((2u << 20) + 3, 17);
  Buffer back(out.size());
  withOwnerDriven([&] {
    Status s = client().write(out.data(), out.size(), key_, 4096, kLongWait);
    ASSERT_TRUE(s.isOk()) << s.toString();
    s = client().read(back.data(), back.size(), key_, 4096, kLongWait);
    ASSERT_TRUE(s.isOk()) << s.toString();
  });
  EXPECT_TRUE(matchesPattern(region_.data() + 4096, out.size(), 17));
  EXPECT_TRUE(matchesPattern(back.data(), back.size(), 17));
  // Bytes around the written range are untouched.
  EXPECT_EQ(region_.data()[4095], patternByte(91, 4095));
  EXPECT_EQ(region_.data()[4096 + out.size()], patternByte(91, 4096 + out.size()));
}

TEST_P(ConformanceRma, ZeroByteOpsComplete) {
  expose(kRemoteRead | kRemoteWrite);
  withOwnerDriven([&] {
    EXPECT_TRUE(client().write(nullptr, 0, key_, 0, kShortWait).isOk());
    EXPECT_TRUE(client().read(nullptr, 0, key_, kRegion, kShortWait).isOk());
  });
}

TEST_P(ConformanceRma, RefusalsAreClearAndTheChannelKeepsWorking) {
  expose(kRemoteRead);
  Buffer local(4096);
  withOwnerDriven([&] {
    // Refused locally: the key itself says no.
    Status s = client().write(local.data(), 16, key_, 0, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    s = client().read(local.data(), 16, key_, kRegion - 8, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    // Refused by the owner: a forged key claiming more than was granted.
    RemoteKey forged = key_;
    forged.access |= kRemoteWrite;
    forged.length = kRegion * 2;
    s = client().write(local.data(), 16, forged, 0, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    EXPECT_NE(s.message().find("refused"), std::string::npos) << s.toString();
    s = client().read(local.data(), 16, forged, kRegion + 100, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    forged = key_;
    forged.id ^= 0x5a5a;
    s = client().read(local.data(), 16, forged, 0, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    // A good read still works afterwards.
    s = client().read(local.data(), local.size(), key_, 0, kShortWait);
    EXPECT_TRUE(s.isOk()) << s.toString();
  });
  EXPECT_TRUE(matchesPattern(local.data(), local.size(), 91));
  // The region was only readable: nothing was written into it.
  EXPECT_TRUE(matchesPattern(region_.data(), region_.size(), 91));
}

TEST_P(ConformanceRma, DeregisteredRegionIsRefused) {
  expose(kRemoteRead | kRemoteWrite);
  mr_.reset();
  Buffer local(64);
  withOwnerDriven([&] {
    Status s = client().read(local.data(), local.size(), key_, 0, kShortWait);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
  });
}

TEST_P(ConformanceRma, KeyBytesAreValidated) {
  std::array<uint8_t, RemoteKey::kSerializedSize> junk{};
  EXPECT_FALSE(RemoteKey::deserialize(junk.data(), junk.size()).isOk());  // id 0
  EXPECT_FALSE(RemoteKey::deserialize(junk.data(), 23).isOk());
  junk[0] = 1;
  junk[16] = 0xff;  // unknown access bits
  EXPECT_FALSE(RemoteKey::deserialize(junk.data(), junk.size()).isOk());
}

FARLINK_INSTANTIATE_CONFORMANCE(ConformanceRma);

}  // namespace
}  // namespace farlink::test
