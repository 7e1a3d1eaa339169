// auto:// picks verbs where an RDMA device reaches the peer and TCP
// otherwise, says which (and why) in ChannelStats, counts fallbacks, and
// FARLINK_VERBS-style policies forbid or force the fallback.
#include <algorithm>

#include "conformance.h"

namespace farlink::test {
namespace {

bool autoBuilt() {
  auto r = registeredTransports();
  return std::find(r.begin(), r.end(), "auto") != r.end();
}

bool verbsUsable() { return autoBuilt() && transportUnavailable("verbs").empty(); }

class AutoTransport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!autoBuilt()) GTEST_SKIP() << "auto:// is not built (no rdma-core at build time)";
  }
};

TEST_F(AutoTransport, PicksADatapathAndSaysWhy) {
  uint64_t fallbacks_before = autoFallbackCount();
  ChannelOptions o;
  o.lanes = 2;
  auto p = connectPair("auto", o, o);
  ASSERT_TRUE(p.client && p.server);
  runConcurrently({[&] { expectSend(*p.client, 200000, 9, 9); },
                   [&] { expectRecv(*p.server, 200000, 9, 200000, 9); }});
  ChannelStats c = p.client->stats();
  ChannelStats s = p.server->stats();
  EXPECT_EQ(c.transport, s.transport);
  EXPECT_FALSE(c.transport_reason.empty());
  if (verbsUsable()) {
    EXPECT_EQ(c.transport, "verbs") << c.transport_reason;
    EXPECT_EQ(autoFallbackCount(), fallbacks_before);
  } else {
    EXPECT_EQ(c.transport, "tcp");
    EXPECT_NE(c.transport_reason.find("RDMA"), std::string::npos) << c.transport_reason;
    EXPECT_GT(autoFallbackCount(), fallbacks_before);
  }
}

TEST_F(AutoTransport, PolicyOffUsesTcp) {
  ChannelOptions o;
  o.lanes = 1;
  o.verbs_policy = VerbsPolicy::kOff;
  auto p = connectPair("auto", o, o);
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.client->stats().transport, "tcp");
  EXPECT_NE(p.client->stats().transport_reason.find("FARLINK_VERBS=off"), std::string::npos);
}

TEST_F(AutoTransport, PolicyRequiredRefusesTcp) {
  if (verbsUsable()) GTEST_SKIP() << "an RDMA device exists here; nothing to refuse";
  ChannelOptions o;
  o.verbs_policy = VerbsPolicy::kRequired;
  auto c = Channel::connect("auto://127.0.0.1:1", o);
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), StatusCode::kNotSupported) << c.status().toString();
  EXPECT_NE(c.status().message().find("required"), std::string::npos) << c.status().message();
  auto l = Listener::listen("auto://127.0.0.1:0", o);
  EXPECT_EQ(l.status().code(), StatusCode::kNotSupported) << l.status().toString();
}

}  // namespace
}  // namespace farlink::test
