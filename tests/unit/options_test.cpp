// ChannelOptions::fromEnvironment and validate(): FARLINK_* parsing, suffixes,
// errors that name the variable, and the documented ranges.
#include "farlink/options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace farlink {
namespace {

constexpr const char* kAllVars[] = {
    "FARLINK_LANES",          "FARLINK_CHUNK_SIZE", "FARLINK_MAX_MESSAGE",
    "FARLINK_MAX_UNEXPECTED", "FARLINK_PSK",        "FARLINK_CONNECT_TIMEOUT_MS",
    "FARLINK_SOCKET_BUFFER",  "FARLINK_NODELAY",    "FARLINK_RING_DEPTH",
    "FARLINK_DEAD_PEER_MS",   "FARLINK_TLS",        "FARLINK_RESUME_TIMEOUT",
    "FARLINK_SOURCE_ADDRESS",
};

// Clears every FARLINK_* variable for the test's lifetime, then sets the given
// ones; restores nothing (tests run in a process of their own via meson, and
// each test starts from a clean slate anyway).
class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const char* v : kAllVars) unsetenv(v);
  }
  static void set(const char* name, const char* value) { ASSERT_EQ(setenv(name, value, 1), 0); }
};

TEST_F(EnvTest, NoVariablesKeepsDefaults) {
  ChannelOptions defaults;
  defaults.lanes = 3;
  defaults.psk = "from-code";
  auto r = ChannelOptions::fromEnvironment(defaults);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->lanes, 3);
  EXPECT_EQ(r->psk, "from-code");
  EXPECT_EQ(r->chunk_size, ChannelOptions{}.chunk_size);
}

TEST_F(EnvTest, LanesAndChunkSize) {
  set("FARLINK_LANES", "8");
  set("FARLINK_CHUNK_SIZE", "2M");
  auto r = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->lanes, 8);
  EXPECT_EQ(r->chunk_size, size_t{2} << 20);
}

TEST_F(EnvTest, SizeSuffixes) {
  const std::pair<const char*, size_t> cases[] = {
      {"4096", 4096},   {"64K", 64u << 10}, {"64k", 64u << 10},
      {"1M", 1u << 20}, {"8m", 8u << 20},   {"64M", 64u << 20},
  };
  for (auto [text, want] : cases) {
    set("FARLINK_CHUNK_SIZE", text);
    auto r = ChannelOptions::fromEnvironment();
    ASSERT_TRUE(r.isOk()) << text << ": " << r.status().toString();
    EXPECT_EQ(r->chunk_size, want) << text;
  }
  set("FARLINK_MAX_MESSAGE", "1G");
  auto r = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->max_message_size, uint64_t{1} << 30);
}

TEST_F(EnvTest, SourceAddressMustBeNumeric) {
  for (const char* text : {"10.0.0.7", "::1", "fd00::2"}) {
    set("FARLINK_SOURCE_ADDRESS", text);
    auto r = ChannelOptions::fromEnvironment();
    ASSERT_TRUE(r.isOk()) << text << ": " << r.status().toString();
    EXPECT_EQ(r->source_address, text);
  }
  for (const char* text : {"site-a.example", "10.0.0", "10.0.0.7:80"}) {
    set("FARLINK_SOURCE_ADDRESS", text);
    auto r = ChannelOptions::fromEnvironment();
    ASSERT_FALSE(r.isOk()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("FARLINK_SOURCE_ADDRESS"), std::string::npos)
        << r.status().toString();
  }
}

TEST_F(EnvTest, OtherVariables) {
  set("FARLINK_PSK", "s3cret key");
  set("FARLINK_CONNECT_TIMEOUT_MS", "2500");
  set("FARLINK_NODELAY", "0");
  set("FARLINK_MAX_UNEXPECTED", "16M");
  set("FARLINK_SOCKET_BUFFER", "4M");
  set("FARLINK_RING_DEPTH", "64");
  auto r = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->psk, "s3cret key");
  EXPECT_EQ(r->connect_timeout, std::chrono::milliseconds(2500));
  EXPECT_FALSE(r->nodelay);
  EXPECT_EQ(r->max_unexpected_bytes, size_t{16} << 20);
  EXPECT_EQ(r->socket_buffer, size_t{4} << 20);
  EXPECT_EQ(r->ring_depth, 64u);
}

TEST_F(EnvTest, EnvironmentOverridesDefaults) {
  ChannelOptions defaults;
  defaults.lanes = 2;
  set("FARLINK_LANES", "16");
  auto r = ChannelOptions::fromEnvironment(defaults);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->lanes, 16);
}

TEST_F(EnvTest, GarbageIsAnErrorNamingTheVariable) {
  const std::pair<const char*, const char*> cases[] = {
      {"FARLINK_LANES", "eight"},     {"FARLINK_LANES", "8x"},
      {"FARLINK_LANES", "-1"},        {"FARLINK_CHUNK_SIZE", "2Q"},
      {"FARLINK_CHUNK_SIZE", "M"},    {"FARLINK_CHUNK_SIZE", "99999999999999999999999"},
      {"FARLINK_MAX_MESSAGE", "1 G"}, {"FARLINK_CONNECT_TIMEOUT_MS", "soon"},
      {"FARLINK_NODELAY", "maybe"},   {"FARLINK_RING_DEPTH", "0x"},
  };
  for (auto [name, value] : cases) {
    clear();
    set(name, value);
    auto r = ChannelOptions::fromEnvironment();
    ASSERT_FALSE(r.isOk()) << name << "=" << value << " was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name << "=" << value;
    EXPECT_NE(r.status().message().find(name), std::string::npos)
        << "message does not name " << name << ": " << r.status().message();
  }
}

TEST_F(EnvTest, OutOfRangeIsRejected) {
  for (const char* lanes : {"0", "65", "1000"}) {
    clear();
    set("FARLINK_LANES", lanes);
    auto r = ChannelOptions::fromEnvironment();
    EXPECT_FALSE(r.isOk()) << "FARLINK_LANES=" << lanes;
  }
  clear();
  set("FARLINK_CHUNK_SIZE", "1K");
  EXPECT_FALSE(ChannelOptions::fromEnvironment().isOk());
}

TEST(OptionsValidate, DefaultsAreValid) {
  Status s = ChannelOptions{}.validate();
  EXPECT_TRUE(s.isOk()) << s.toString();
}

TEST(OptionsValidate, LaneRange) {
  for (int lanes : {1, 2, 8, 64}) {
    ChannelOptions o;
    o.lanes = lanes;
    EXPECT_TRUE(o.validate().isOk()) << lanes;
  }
  for (int lanes : {0, -1, 65, 1 << 20}) {
    ChannelOptions o;
    o.lanes = lanes;
    Status s = o.validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << lanes;
    EXPECT_NE(s.message().find("lanes"), std::string::npos) << s.message();
  }
}

TEST(OptionsValidate, ChunkRange) {
  for (size_t chunk : {size_t{4096}, size_t{1} << 20, size_t{64} << 20}) {
    ChannelOptions o;
    o.chunk_size = chunk;
    EXPECT_TRUE(o.validate().isOk()) << chunk;
  }
  for (size_t chunk : {size_t{0}, size_t{4095}, (size_t{64} << 20) + 1, SIZE_MAX}) {
    ChannelOptions o;
    o.chunk_size = chunk;
    Status s = o.validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << chunk;
    EXPECT_NE(s.message().find("chunk"), std::string::npos) << s.message();
  }
}

TEST_F(EnvTest, DeadPeerTimeoutInMillisecondsAtLeastTheMinimumRto) {
  set("FARLINK_DEAD_PEER_MS", "2500");
  auto r = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->dead_peer_timeout, std::chrono::milliseconds(2500));
  set("FARLINK_DEAD_PEER_MS", "200");  // TCP's minimum RTO: the lowest that makes sense
  auto rto = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(rto.isOk()) << rto.status().toString();
  EXPECT_EQ(rto->dead_peer_timeout, std::chrono::milliseconds(200));
  set("FARLINK_DEAD_PEER_MS", "150");
  auto low = ChannelOptions::fromEnvironment();
  ASSERT_FALSE(low.isOk());
  EXPECT_NE(low.status().message().find("200 ms"), std::string::npos) << low.status().message();
  set("FARLINK_DEAD_PEER_MS", "soon");
  auto bad = ChannelOptions::fromEnvironment();
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("FARLINK_DEAD_PEER_MS"), std::string::npos);
}

TEST_F(EnvTest, ResumeTimeoutOffByDefaultMillisecondsWhenSet) {
  auto off = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(off.isOk()) << off.status().toString();
  EXPECT_EQ(off->resume_timeout, std::chrono::milliseconds(0));
  set("FARLINK_RESUME_TIMEOUT", "30000");
  auto r = ChannelOptions::fromEnvironment();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->resume_timeout, std::chrono::milliseconds(30000));
  set("FARLINK_RESUME_TIMEOUT", "a while");
  auto bad = ChannelOptions::fromEnvironment();
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("FARLINK_RESUME_TIMEOUT"), std::string::npos)
      << bad.status().message();
}

TEST(OptionsValidate, OtherLimits) {
  ChannelOptions o;
  o.max_message_size = 0;
  EXPECT_FALSE(o.validate().isOk());
  o = ChannelOptions{};
  o.connect_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(o.validate().isOk());
  o = ChannelOptions{};
  o.connect_timeout = std::chrono::milliseconds(-5);
  EXPECT_FALSE(o.validate().isOk());
  o = ChannelOptions{};
  o.ring_depth = 0;
  EXPECT_FALSE(o.validate().isOk());
}

}  // namespace
}  // namespace farlink
