// The conformance suite: every test runs once per (built transport, lane
// count). Both ends live in this process; each end is driven by its own
// thread because a channel moves bytes only while someone waits on it.
#pragma once

#include <cstdlib>
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "test_support.h"
#include "transports.h"

namespace farlink::test {

using ConformanceParam = std::tuple<std::string, int>;  // transport, lanes

// Unconnected: for tests that set up their own listener and clients.
class ConformanceBase : public ::testing::TestWithParam<ConformanceParam> {
 protected:
  void SetUp() override {
    if (std::string why = transportUnavailable(transport()); !why.empty())
      GTEST_SKIP() << transport() << ": " << why;
  }
  const std::string& host() const {
    static thread_local std::string h;
    h = testHost(transport());
    return h;
  }
  const std::string& transport() const { return std::get<0>(GetParam()); }
  int lanes() const { return std::get<1>(GetParam()); }
  ChannelOptions options() const {
    ChannelOptions o;
    // The suite runs again with flow control forced on (conformance-flow).
    if (const char* f = std::getenv("FARLINK_TEST_FLOW"); f && std::string(f) == "model")
      o.flow = FlowMode::kModel;
    // And again with every TCP lane in TLS (conformance-tls).
    if (const char* t = std::getenv("FARLINK_TEST_TLS");
        t && std::string(t) == "required" && transport() == "tcp") {
      o.tls = TlsMode::kRequired;
      o.psk = "conformance-tls";
    }
    // And again with session resume on (conformance-resume): with no cut
    // the same guarantees hold, sends just complete on the peer's ACKs.
    if (const char* r = std::getenv("FARLINK_TEST_RESUME"); r && transport() == "tcp")
      o.resume_timeout = std::chrono::milliseconds(std::atoi(r));
    o.lanes = lanes();
    return o;
  }
  std::string uri(uint16_t port) const { return uriFor(transport(), port); }
};

// Connected: a client/server pair over testHost() with lanes() lanes.
class Conformance : public ConformanceBase {
 protected:
  void SetUp() override {
    ConformanceBase::SetUp();
    if (IsSkipped()) return;
    connect(options(), options());
  }
  void connect(const ChannelOptions& client_opts, const ChannelOptions& server_opts) {
    pair_ = connectPair(transport(), client_opts, server_opts);
    ASSERT_TRUE(pair_.client && pair_.server)
        << "could not set up a " << transport() << " channel with " << lanes() << " lanes";
  }
  Channel& client() { return *pair_.client; }
  Channel& server() { return *pair_.server; }
  ChannelPair pair_;
};

inline std::string conformanceName(const ::testing::TestParamInfo<ConformanceParam>& info) {
  return std::get<0>(info.param) + "_lanes" + std::to_string(std::get<1>(info.param));
}

}  // namespace farlink::test

// One line per fixture: run it over every built transport, with 1 and 8 lanes.
#define FARLINK_INSTANTIATE_CONFORMANCE(Fixture)                                  \
  INSTANTIATE_TEST_SUITE_P(                                                       \
      AllTransports, Fixture,                                                     \
      ::testing::Combine(::testing::ValuesIn(::farlink::test::builtTransports()), \
                         ::testing::Values(1, 8)),                                \
      ::farlink::test::conformanceName)
