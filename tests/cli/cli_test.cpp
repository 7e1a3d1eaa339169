// End-to-end tests of the farlink binary on loopback: what a user types, what
// they see, and the exit status they get.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child.h"
#include "core/channel_impl.h"
#include "farlink/channel.h"
#include "perf/control.h"
#include "ping/ping.h"

namespace farlink::clitest {
namespace {

using std::chrono::seconds;

::testing::AssertionResult HasSubstr(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << part << "\" not in:\n" << text;
}

::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "does not start with \"" << prefix << "\":\n" << text;
}

constexpr const char* kBwHeader =
    " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]";
constexpr const char* kLatHeader =
    " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    "
    "t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<nlohmann::json> jsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const std::string& l : lines(text))
    out.push_back(nlohmann::json::parse(l));  // throws if not JSON
  return out;
}

// Numbers of the first table row after `header`.
std::vector<double> rowAfter(const std::string& text, const std::string& header) {
  const std::vector<std::string> ls = lines(text);
  for (size_t i = 0; i + 1 < ls.size(); ++i) {
    if (ls[i] != header) continue;
    std::vector<double> v;
    std::istringstream row(ls[i + 1]);
    for (double x; row >> x;) v.push_back(x);
    return v;
  }
  return {};
}

std::string describe(const Finished& f) {
  return "exit " + std::to_string(f.code) + (f.timed_out ? " (timed out)" : "") +
         "\n--- stdout ---\n" + f.out + "--- stderr ---\n" + f.err;
}

TEST(PerfCli, NoArgumentsMeasuresLoopbackBandwidth) {
  const Finished f = run({"perf"});
  ASSERT_EQ(f.code, 0) << describe(f);
  EXPECT_TRUE(HasSubstr(f.out, "embedded, loopback"));
  const std::vector<double> row = rowAfter(f.out, kBwHeader);
  ASSERT_EQ(row.size(), 5u) << describe(f);
  EXPECT_EQ(row[0], 65536);
  EXPECT_EQ(row[1], 5000);
  EXPECT_GT(row[3], 0.0);     // average Gb/s
  EXPECT_GE(row[2], row[3]);  // peak >= average
  EXPECT_GT(row[4], 0.0);     // Mpps
  EXPECT_EQ(f.err, "");
}

TEST(PerfCli, JsonHasOneObjectWithTheDocumentedKeys) {
  const Finished f = run({"perf", "--json", "--size", "1M", "-n", "200"});
  ASSERT_EQ(f.code, 0) << describe(f);
  const std::vector<nlohmann::json> rows = jsonLines(f.out);
  ASSERT_EQ(rows.size(), 1u) << f.out;
  const nlohmann::json& j = rows[0];
  for (const char* key : {"transport", "lanes", "bytes", "iterations", "bw_peak_gbps",
                          "bw_avg_gbps", "msg_rate_mpps"})
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
  EXPECT_EQ(j["transport"], "tcp");
  EXPECT_EQ(j["bytes"], 1 << 20);
  EXPECT_EQ(j["iterations"], 200);
  EXPECT_GT(j["bw_avg_gbps"].get<double>(), 0.0);
  EXPECT_GE(j["bw_peak_gbps"].get<double>(), j["bw_avg_gbps"].get<double>());
}

TEST(PerfCli, LatencyTable) {
  const Finished f = run({"perf", "--mode", "lat", "-n", "300"});
  ASSERT_EQ(f.code, 0) << describe(f);
  const std::vector<double> row = rowAfter(f.out, kLatHeader);
  ASSERT_EQ(row.size(), 9u) << describe(f);
  EXPECT_EQ(row[0], 2);
  EXPECT_EQ(row[1], 300);
  EXPECT_GT(row[2], 0.0);
  EXPECT_LE(row[2], row[4]);  // min <= typical
  EXPECT_LE(row[4], row[3]);  // typical <= max
  EXPECT_LE(row[7], row[8]);  // p99 <= p99.9
}

TEST(PerfCli, LatencyJsonWithVerification) {
  const Finished f =
      run({"perf", "--mode", "lat", "--json", "--verify", "--size", "4K", "-n", "100"});
  ASSERT_EQ(f.code, 0) << describe(f);
  const std::vector<nlohmann::json> rows = jsonLines(f.out);
  ASSERT_EQ(rows.size(), 1u);
  for (const char* key : {"transport", "bytes", "iterations", "t_min_us", "t_max_us",
                          "t_typical_us", "t_avg_us", "t_stdev_us", "t_p99_us", "t_p999_us"})
    EXPECT_TRUE(rows[0].contains(key)) << key;
  EXPECT_EQ(rows[0]["bytes"], 4096);
  EXPECT_EQ(rows[0]["iterations"], 100);
  EXPECT_LE(rows[0]["t_min_us"].get<double>(), rows[0]["t_p99_us"].get<double>());
}

TEST(PerfCli, BidirectionalVerifiedSumsBothDirections) {
  const Finished f = run({"perf", "--bidir", "--verify", "--json", "--size", "64K", "-n", "300"});
  ASSERT_EQ(f.code, 0) << describe(f);
  const std::vector<nlohmann::json> rows = jsonLines(f.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["bidir"], true);
  EXPECT_EQ(rows[0]["iterations"], 600);
}

TEST(PerfCli, DurationBoundsTheRun) {
  const auto start = std::chrono::steady_clock::now();
  const Finished f = run({"perf", "-D", "0.5", "--json", "--size", "8K"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(f.code, 0) << describe(f);
  EXPECT_LT(took, seconds(10));
  const std::vector<nlohmann::json> rows = jsonLines(f.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GE(rows[0]["iterations"].get<uint64_t>(), 2u);
}

TEST(PerfCli, SweepCoversTwoBytesTo64MiB) {
  const std::string plot = testing::TempDir() + "farlink-sweep.svg";
  std::remove(plot.c_str());
  const Finished f = run({"perf", "-a", "--json", "-n", "20", "--plot", plot}, seconds(180));
  ASSERT_EQ(f.code, 0) << describe(f);
  // --plot: the same sweep as a chart, average and peak, a point per size.
  std::ifstream in(plot);
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u) << plot;
  size_t polylines = 0, circles = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++polylines;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1))
    ++circles;
  EXPECT_EQ(polylines, 2u);
  EXPECT_EQ(circles, 2u * 26u);
  EXPECT_NE(svg.find("BW average"), std::string::npos);
  const std::vector<nlohmann::json> rows = jsonLines(f.out);
  ASSERT_EQ(rows.size(), 26u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["bytes"].get<uint64_t>(), uint64_t{2} << i);
    EXPECT_GE(rows[i]["iterations"].get<uint64_t>(), 5u);
    EXPECT_LE(rows[i]["iterations"].get<uint64_t>(), 20u);
  }
}

TEST(PerfCli, ServerAndClientProcesses) {
  const std::string port = std::to_string(freePort());
  Child server({"perf", "-s", "--once", "-p", port});
  ASSERT_TRUE(server.waitForOutput("listening on", seconds(10))) << server.err();
  const Finished client =
      run({"perf", "-c", "127.0.0.1", "-p", port, "-n", "500", "--size", "32K"});
  ASSERT_EQ(client.code, 0) << describe(client);
  const Finished s = server.wait(seconds(20));
  ASSERT_EQ(s.code, 0) << describe(s);
  const std::vector<double> crow = rowAfter(client.out, kBwHeader);
  const std::vector<double> srow = rowAfter(s.out, kBwHeader);
  ASSERT_EQ(crow.size(), 5u) << describe(client);
  ASSERT_EQ(srow.size(), 5u) << describe(s);
  // Both print what the server measured.
  EXPECT_EQ(crow, srow);
  EXPECT_EQ(crow[0], 32768);
  EXPECT_EQ(crow[1], 500);
}

TEST(PerfCli, ServerRefusesAbsurdTestAndSurvivesGarbage) {
  const std::string port = std::to_string(freePort());
  Child server({"perf", "-s", "--once", "-p", port});
  ASSERT_TRUE(server.waitForOutput("listening on", seconds(10))) << server.err();
  auto ch = Channel::connect("tcp://127.0.0.1:" + port);
  ASSERT_TRUE(ch) << ch.status().toString();
  perf::ControlMsg run_msg;
  run_msg.spec.size = uint64_t{4} << 30;
  run_msg.spec.iters = 10;
  ASSERT_TRUE(perf::sendControl(**ch, perf::kTagControlUp, run_msg, seconds(10)));
  auto reply = perf::recvControl(**ch, perf::kTagControlDown, seconds(10));
  ASSERT_TRUE(reply) << reply.status().toString();
  EXPECT_EQ(reply->type, perf::MsgType::kRefuse);
  EXPECT_TRUE(HasSubstr(reply->text, "message size"));
  const char garbage[] = "not a control message";
  ASSERT_TRUE((*ch)->send(garbage, sizeof garbage, perf::kTagControlUp, seconds(10)));
  const Finished s = server.wait(seconds(20));
  EXPECT_EQ(s.code, 1) << describe(s);
  EXPECT_TRUE(HasSubstr(s.err, "farlink perf: client"));
  EXPECT_TRUE(HasSubstr(s.err, "perf control"));
}

TEST(PerfCli, ClosedPortIsAClearErrorWithStatus1) {
  const std::string port = std::to_string(freePort());
  const Finished f = run({"perf", "-c", "127.0.0.1", "-p", port}, seconds(30));
  EXPECT_EQ(f.code, 1) << describe(f);
  EXPECT_TRUE(StartsWith(f.err, "farlink perf: cannot connect to 127.0.0.1:" + port + ": "));
  EXPECT_EQ(lines(f.err).size(), 1u) << f.err;
  EXPECT_EQ(f.out, "");
}

bool built(const std::string& scheme) {
  const std::vector<std::string> all = registeredTransports();
  return std::find(all.begin(), all.end(), scheme) != all.end();
}

TEST(PerfCli, ReservedTransportsReportNotSupported) {
  for (const char* t : {"verbs", "ucx", "auto"}) {
    if (built(t)) continue;
    const Finished f = run({"perf", "--transport", t}, seconds(30));
    EXPECT_EQ(f.code, 1) << describe(f);
    EXPECT_TRUE(HasSubstr(f.err, "not supported")) << t;
  }
}

// auto:// on loopback: no RDMA device reaches 127.0.0.1 (rxe cannot), so
// the embedded run falls back to TCP and says so in its banner.
TEST(PerfCli, AutoFallsBackToTcpOnLoopback) {
  if (!built("auto")) GTEST_SKIP() << "this build has no auto:// (needs the verbs datapath)";
  const Finished f = run({"perf", "--transport", "auto", "-n", "50"}, seconds(60));
  EXPECT_EQ(f.code, 0) << describe(f);
  EXPECT_TRUE(HasSubstr(f.out, "Transport       : tcp")) << f.out;
}

TEST(PerfCli, PskMismatchIsRefused) {
  const std::string port = std::to_string(freePort());
  Child server({"perf", "-s", "-p", port}, {"FARLINK_PSK=right-key"});
  ASSERT_TRUE(server.waitForOutput("listening on", seconds(10))) << server.err();
  const Finished bad =
      run({"perf", "-c", "127.0.0.1", "-p", port, "--psk", "wrong-key"}, seconds(30));
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_TRUE(StartsWith(bad.err, "farlink perf: cannot connect to"));
  const Finished good = run({"perf", "-c", "127.0.0.1", "-p", port, "-n", "100"}, seconds(30),
                            {"FARLINK_PSK=right-key"});
  EXPECT_EQ(good.code, 0) << describe(good);
}

TEST(UsageCli, BadUsageExits2WithAMessage) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"perf", "--size", "banana"},
      {"perf", "--size", "2G"},
      {"perf", "-s", "-c", "127.0.0.1"},
      {"perf", "-n", "100", "-D", "2"},
      {"perf", "--mode", "lat", "--bidir"},
      {"perf", "--tx-depth", "0"},
      {"perf", "-s", "--size", "4K"},
      {"perf", "--once"},
      {"ping"},
      {"ping", "-c"},
      {"ping", "-c", "-a", "127.0.0.1", "-S", "10"},
      {"ping", "-s", "-c"},
      {"ping", "-c", "-a", "127.0.0.1", "-S", "65536"},     // above 64 KiB needs --rping
      {"ping", "-c", "-a", "127.0.0.1", "--timeout", "5"},  // --timeout needs --rping
      {"ping", "--rping", "-c", "-a", "127.0.0.1", "--lanes", "2"},
      {"ping", "--rping", "-c", "-a", "127.0.0.1", "--timeout", "0"},
      {"ping", "--rping", "-c", "-a", "127.0.0.1", "-S", "67108865"},
      {"ping", "--rping", "-c"},
      {"ping", "-c", "-a", "127.0.0.1", "-I", "not-an-address"},
      {"ping", "-s", "-I", "127.0.0.1"},  // -I is the client's
  };
  for (const auto& args : cases) {
    const Finished f = run(args, seconds(10));
    std::string cmd = "farlink";
    for (const std::string& a : args) cmd += " " + a;
    EXPECT_EQ(f.code, 2) << cmd << "\n" << describe(f);
    EXPECT_TRUE(StartsWith(f.err, "farlink")) << cmd;
  }
}

TEST(UsageCli, EnvironmentErrorsAreUsageErrors) {
  const Finished f = run({"perf"}, seconds(10), {"FARLINK_LANES=lots"});
  EXPECT_EQ(f.code, 2) << describe(f);
  EXPECT_TRUE(HasSubstr(f.err, "FARLINK_LANES"));
}

TEST(UsageCli, HelpListsTheOptions) {
  const Finished perf = run({"perf", "--help"}, seconds(10));
  EXPECT_EQ(perf.code, 0);
  for (const char* opt : {"--server", "--client", "--port", "--transport", "--lanes", "--size",
                          "--iters", "--duration", "--mode", "--all", "--bidir", "--tx-depth",
                          "--json", "--verify", "--psk", "--once"})
    EXPECT_TRUE(HasSubstr(perf.out, opt));
  const Finished ping = run({"ping", "--help"}, seconds(10));
  EXPECT_EQ(ping.code, 0);
  for (const char* opt :
       {"-s", "-c", "-a", "-p", "-C", "-S", "-v", "-V", "-d", "-P", "--rping", "--timeout"})
    EXPECT_TRUE(HasSubstr(ping.out, std::string(opt) + " "));
  const Finished top = run({"--help"}, seconds(10));
  EXPECT_EQ(top.code, 0);
  EXPECT_TRUE(HasSubstr(top.out, "perf"));
  EXPECT_TRUE(HasSubstr(top.out, "ping"));
}

TEST(PingCli, ServerAndVerboseValidatingClient) {
  const std::string port = std::to_string(freePort());
  Child server({"ping", "-s", "-d", "-a", "127.0.0.1", "-p", port});
  ASSERT_TRUE(server.waitForOutput("listening on", seconds(10))) << server.err();
  const Finished c = run({"ping", "-c", "-a", "127.0.0.1", "-p", port, "-C", "5", "-v", "-V"});
  ASSERT_EQ(c.code, 0) << describe(c);
  std::vector<std::string> data;
  for (const std::string& l : lines(c.out))
    if (l.rfind("ping data: rdma-ping-", 0) == 0) data.push_back(l);
  ASSERT_EQ(data.size(), 5u) << c.out;
  // rping's pattern: 64 bytes = prefix, letters from 'A' (then 'B', ...), NUL.
  EXPECT_EQ(data[0], "ping data: rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr");
  EXPECT_EQ(data[1], "ping data: rdma-ping-1: BCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrs");
  EXPECT_TRUE(HasSubstr(c.out, "5 pings sent, 5 echoed"));
  const Finished s = server.wait(seconds(10));  // serves one client, like rping
  EXPECT_EQ(s.code, 0) << describe(s);
  EXPECT_TRUE(HasSubstr(s.out, "served 5 pings"));
}

// -I (rping's source address): the server sees the client coming from it;
// an address this host lacks is a runtime error naming it.
TEST(PingCli, SourceAddressIsWhereTheClientComesFrom) {
  const std::string port = std::to_string(freePort());
  Child server({"ping", "-s", "-d", "-a", "127.0.0.1", "-p", port});
  ASSERT_TRUE(server.waitForOutput("listening on", seconds(10))) << server.err();
  const Finished c =
      run({"ping", "-c", "-a", "127.0.0.1", "-p", port, "-I", "127.0.0.9", "-C", "2", "-V"});
  ASSERT_EQ(c.code, 0) << describe(c);
  const Finished s = server.wait(seconds(10));
  EXPECT_EQ(s.code, 0) << describe(s);
  EXPECT_TRUE(HasSubstr(s.out, "client 127.0.0.9:")) << s.out;
  const Finished bad =
      run({"ping", "-c", "-a", "127.0.0.1", "-p", port, "-I", "203.0.113.9", "-C", "1"});
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_TRUE(HasSubstr(bad.err, "203.0.113.9")) << bad.err;
}

TEST(PingCli, ClosedPortIsAClearErrorWithStatus1) {
  const std::string port = std::to_string(freePort());
  const Finished f = run({"ping", "-c", "-a", "127.0.0.1", "-p", port, "-C", "1"}, seconds(30));
  EXPECT_EQ(f.code, 1) << describe(f);
  EXPECT_TRUE(StartsWith(f.err, "farlink ping: cannot connect to 127.0.0.1:" + port + ": "));
  EXPECT_EQ(lines(f.err).size(), 1u) << f.err;
}

TEST(PingCli, CorruptedEchoFailsValidationWithStatus3) {
  auto listener = Listener::listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener) << listener.status().toString();
  std::thread evil([&] {
    auto ch = (*listener)->accept(seconds(20));
    if (!ch) return;
    std::vector<char> buf(ping::kMaxSize);
    auto n = (*ch)->recv(buf.data(), buf.size(), ping::kTagPing, seconds(20));
    if (!n) return;
    buf[20] ^= 1;  // one flipped bit
    (void)(*ch)->send(buf.data(), *n, ping::kTagPong, seconds(20));
    (void)(*ch)->recv(buf.data(), buf.size(), ping::kTagPing,
                      seconds(20));  // until the client leaves
  });
  const Finished f = run(
      {"ping", "-c", "-V", "-a", "127.0.0.1", "-p", std::to_string((*listener)->port()), "-C", "3"},
      seconds(30));
  evil.join();
  EXPECT_EQ(f.code, 3) << describe(f);
  EXPECT_TRUE(HasSubstr(f.err, "data mismatch in ping 0"));
}

bool hostHasRdmaDevices() {
  std::error_code ec;
  auto it = std::filesystem::directory_iterator("/sys/class/infiniband", ec);
  return !ec && it != std::filesystem::directory_iterator();
}

// On a host without RDMA the mode must say why it cannot run, promptly and in
// one line, not hang or crash. (Real rping interop: tests/cli/rping_interop.sh.)
TEST(RpingCli, WithoutRdmaIsAClearErrorWithStatus1) {
  if (FARLINK_PING_RPING && hostHasRdmaDevices())
    GTEST_SKIP() << "this host has RDMA devices; rping_interop.sh covers it";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"ping", "--rping", "-c", "-a", "127.0.0.1", "-C", "1"},
        std::vector<std::string>{"ping", "--rping", "-s", "-a", "127.0.0.1"}}) {
    const Finished f = run(args, seconds(30));
    EXPECT_EQ(f.code, 1) << describe(f);
    EXPECT_TRUE(StartsWith(f.err, "farlink ping: ")) << describe(f);
    EXPECT_TRUE(HasSubstr(f.err, FARLINK_PING_RPING ? "no RDMA device" : "without rdma-core"));
    EXPECT_EQ(lines(f.err).size(), 1u) << f.err;
    EXPECT_EQ(f.out, "");
  }
}

}  // namespace
}  // namespace farlink::clitest
