// farlink-wanem for real: two namespaces, TUN devices, the forwarder, the
// control socket, and farlink's own channels across the emulated link.
// Needs root and /dev/net/tun; otherwise exits 77 (skip) with the reason.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "process.h"

namespace farlink::wanemtest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string envOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}
const std::string& wanem() {
  static const std::string bin = envOr("WANEM_BIN", "farlink-wanem");
  return bin;
}
const std::string& farlink() {
  static const std::string bin = envOr("FARLINK_BIN", "farlink");
  return bin;
}
const std::string& livenessPeer() {
  static const std::string bin = envOr("LIVENESS_PEER_BIN", "liveness-peer");
  return bin;
}

// A link that exists for one test: a name unique to this run, brought up as
// a daemon, always torn down (also when an assertion fails).
class Link {
 public:
  explicit Link(const std::vector<std::string>& options) {
    static int counter = 0;
    name_ = "flwt" + std::to_string(getpid()) + "x" + std::to_string(counter++);
    std::vector<std::string> argv = {wanem(), "up", "--daemon", "--name", name_, "--seed", "7"};
    argv.insert(argv.end(), options.begin(), options.end());
    Outcome o = run(argv, seconds(20));
    up_ = o.code == 0;
    up_output_ = o.out;
  }
  ~Link() {
    Outcome o = run({wanem(), "down", "--name", name_}, seconds(20));
    if (o.code != 0) std::fprintf(stderr, "teardown of %s failed: %s\n", name_.c_str(), o.out.c_str());
  }
  bool up() const { return up_; }
  const std::string& upOutput() const { return up_output_; }
  const std::string& name() const { return name_; }

  std::vector<std::string> exec(char side, const std::vector<std::string>& cmd) const {
    std::vector<std::string> argv = {wanem(), "exec", std::string(1, side), "--name", name_, "--"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return argv;
  }
  Outcome ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {wanem(), "ctl", "--name", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, seconds(10));
  }
  nlohmann::json stats() const {
    Outcome o = ctl({"stats", "--json"});
    auto j = nlohmann::json::parse(o.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

 private:
  std::string name_;
  bool up_ = false;
  std::string up_output_;
};

uint64_t counter(const nlohmann::json& stats, const char* dir, const char* key) {
  if (!stats.contains(dir) || !stats[dir].contains(key)) return 0;
  return stats[dir][key].get<uint64_t>();
}

#define REQUIRE_PING()                                                        \
  if (!haveProgram("ping")) GTEST_SKIP() << "ping (iputils-ping) is not installed"

TEST(Wanem, PingRoundTripIsAtLeastTwiceTheOneWayDelay) {
  REQUIRE_PING();
  Link link({"--delay", "10ms"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = run(link.exec('a', {"ping", "-c", "5", "-i", "0.2", "-W", "2", "10.99.0.2"}));
  ASSERT_EQ(o.code, 0) << o.out;
  std::smatch m;
  std::regex rtt(R"(= ([0-9.]+)/([0-9.]+)/([0-9.]+)/)");
  ASSERT_TRUE(std::regex_search(o.out, m, rtt)) << o.out;
  double min_ms = std::stod(m[1]);
  EXPECT_GE(min_ms, 20.0) << o.out;
  EXPECT_LT(min_ms, 40.0) << "far more than the configured delay: " << o.out;
  auto s = link.stats();
  EXPECT_GE(counter(s, "a2b", "forwarded_packets"), 5u);
  EXPECT_GE(counter(s, "b2a", "forwarded_packets"), 5u);
}

TEST(Wanem, LossMovesTheCounters) {
  REQUIRE_PING();
  Link link({"--a2b-loss", "30%"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = run(link.exec('a', {"ping", "-c", "40", "-i", "0.02", "-W", "1", "10.99.0.2"}));
  auto s = link.stats();
  EXPECT_GT(counter(s, "a2b", "dropped_loss"), 0u) << s.dump(2);
  EXPECT_GT(counter(s, "a2b", "forwarded_packets"), 0u) << s.dump(2);
  EXPECT_EQ(counter(s, "b2a", "dropped_loss"), 0u) << s.dump(2);
  EXPECT_EQ(counter(s, "a2b", "arrived_packets"),
            counter(s, "a2b", "forwarded_packets") + counter(s, "a2b", "dropped_loss") +
                counter(s, "a2b", "in_flight"))
      << s.dump(2);
}

TEST(Wanem, BlackoutDropsEverythingThenEnds) {
  REQUIRE_PING();
  Link link({"--delay", "1ms"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  ASSERT_EQ(link.ctl({"blackout", "1500ms"}).code, 0);
  Outcome dark = run(link.exec('a', {"ping", "-c", "4", "-i", "0.2", "-W", "1", "10.99.0.2"}));
  EXPECT_NE(dark.code, 0) << "pings crossed a blacked-out link: " << dark.out;
  EXPECT_GE(counter(link.stats(), "a2b", "dropped_blackout"), 4u);
  std::this_thread::sleep_for(milliseconds(800));
  Outcome light = run(link.exec('a', {"ping", "-c", "2", "-i", "0.2", "-W", "2", "10.99.0.2"}));
  EXPECT_EQ(light.code, 0) << "link did not come back after the blackout: " << light.out;
}

TEST(Wanem, SetChangesParametersAtRunTime) {
  Link link({"--delay", "5ms"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = link.ctl({"set", "--b2a-delay", "7ms", "--loss", "2%", "--rate", "100mbit"});
  ASSERT_EQ(o.code, 0) << o.out;
  auto s = link.stats();
  EXPECT_EQ(s["a2b"]["params"]["delay_ns"], 5'000'000);
  EXPECT_EQ(s["b2a"]["params"]["delay_ns"], 7'000'000);
  EXPECT_DOUBLE_EQ(s["a2b"]["params"]["loss"].get<double>(), 0.02);
  EXPECT_DOUBLE_EQ(s["b2a"]["params"]["rate_bps"].get<double>(), 1e8);
  EXPECT_NE(link.ctl({"set", "--loss", "150%"}).code, 0);
}

TEST(Wanem, NameInUseIsRefusedWithAHint) {
  Link link({});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = run({wanem(), "up", "--name", link.name()}, seconds(10));
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.out.find("farlink-wanem down --name " + link.name()), std::string::npos) << o.out;
}

// farlink perf server in B, verifying client in A; `drive` runs in this
// thread while the client runs and returns "" or what went wrong. Returns
// the client's outcome.
Outcome perfAcrossDriven(const Link& link, const std::vector<std::string>& client_args,
                         const std::function<std::string(Process& client)>& drive) {
  Process server(link.exec('b', {farlink(), "perf", "-s", "--once", "--bind", "10.99.0.2"}));
  if (!server.waitForOutput("listening", seconds(10))) {
    return {-1, false, "perf server did not start: " + server.output()};
  }
  std::vector<std::string> argv = {farlink(), "perf", "-c", "10.99.0.2", "--verify", "--json"};
  argv.insert(argv.end(), client_args.begin(), client_args.end());
  Process client(link.exec('a', argv));
  if (drive) {
    std::string failed = drive(client);
    if (!failed.empty()) return {-1, false, failed};
  }
  Outcome o = client.wait(seconds(60));
  if (o.code != 0) o.out += "\n--- server ---\n" + server.output();
  return o;
}

// The same with one `farlink-wanem ctl` command `during_after` into the run.
Outcome perfAcross(const Link& link, const std::vector<std::string>& client_args,
                   const std::vector<std::string>& during = {}, milliseconds during_after = {}) {
  if (during.empty()) return perfAcrossDriven(link, client_args, nullptr);
  return perfAcrossDriven(link, client_args, [&](Process&) -> std::string {
    std::this_thread::sleep_for(during_after);
    Outcome c = link.ctl(during);
    return c.code == 0 ? "" : "ctl failed: " + c.out;
  });
}

// Runs `transfer` with session resume on at both ends: FARLINK_RESUME_TIMEOUT
// is inherited by the perf server and client that `transfer` starts.
Outcome withResume(const std::function<Outcome()>& transfer) {
  setenv("FARLINK_RESUME_TIMEOUT", "20000", 1);
  Outcome o = transfer();
  unsetenv("FARLINK_RESUME_TIMEOUT");
  return o;
}

// The last JSON row farlink perf printed (an empty object if none).
nlohmann::json lastJsonRow(const std::string& out) {
  nlohmann::json row = nlohmann::json::object();
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') row = nlohmann::json::parse(line, nullptr, false);
  return row.is_discarded() ? nlohmann::json::object() : row;
}

TEST(Wanem, FarlinkPerfVerifiesUnderFivePercentLoss) {
  Link link({"--delay", "2ms", "--loss", "5%"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = perfAcross(link, {"--size", "16K", "-n", "200", "--lanes", "2"});
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_FALSE(o.timed_out);
  auto s = link.stats();
  EXPECT_GT(counter(s, "a2b", "dropped_loss") + counter(s, "b2a", "dropped_loss"), 0u);
}

TEST(Wanem, FarlinkPerfVerifiesWithReorderingJitter) {
  Link link({"--delay", "5ms", "--jitter", "2ms", "--jitter-dist", "uniform", "--reorder"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = perfAcross(link, {"--size", "64K", "-n", "200", "--lanes", "2"});
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_GT(counter(link.stats(), "a2b", "forwarded_packets"), 1000u);
}

TEST(Wanem, FarlinkPerfSurvivesATwoSecondBlackout) {
  // ~26 MB at 100 Mbit/s takes about 2 s, so the blackout starts mid-transfer.
  Link link({"--delay", "5ms", "--rate", "100mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  // The derived dead-peer bound at this RTT is 6 x 210 ms: riding out a
  // longer blackout is what an explicit bound is for.
  setenv("FARLINK_DEAD_PEER_MS", "5000", 1);
  Outcome o = perfAcross(link, {"--size", "64K", "-n", "400", "--lanes", "2"}, {"blackout", "2s"},
                         milliseconds(700));
  unsetenv("FARLINK_DEAD_PEER_MS");
  EXPECT_EQ(o.code, 0) << o.out;
  auto s = link.stats();
  EXPECT_GT(counter(s, "a2b", "dropped_blackout"), 0u) << s.dump(2);
  EXPECT_GT(counter(s, "a2b", "forwarded_bytes"), 26'000'000u) << s.dump(2);
}

// A middlebox that resets one lane mid-transfer (ctl reset): without session
// resume the transfer fails at once on both ends with an error naming the
// peer and the reset, never a hang and never wrong data. The loss makes it
// likely that the first RST lands behind a hole and is ignored by the
// receiver; the connection must die all the same (a killed flow stays dead).
TEST(Wanem, LaneResetMidTransferIsAClearError) {
  Link link({"--delay", "5ms", "--rate", "100mbit", "--loss", "1%"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = perfAcross(link, {"--size", "64K", "-n", "1000", "--lanes", "4"},
                         {"reset", "--port", "18515"}, milliseconds(700));
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_FALSE(o.timed_out) << o.out;
  EXPECT_NE(o.out.find("reset"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("10.99.0.2"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("verification failed"), std::string::npos) << o.out;
  auto s = link.stats();
  EXPECT_EQ(counter(s, "a2b", "resets") + counter(s, "b2a", "resets"), 1u) << s.dump(2);
  std::printf("killed 1 connection with %llu RST(s)\n",
              static_cast<unsigned long long>(counter(s, "a2b", "reset_segments") +
                                              counter(s, "b2a", "reset_segments")));
}

// The same middlebox reset with session resume on (FARLINK_RESUME_TIMEOUT):
// the channel reconnects every lane, re-sends what the peer had not
// acknowledged, and the transfer completes with every byte verified.
TEST(Wanem, LaneResetMidTransferResumesWithResumeOn) {
  Link link({"--delay", "5ms", "--rate", "100mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = withResume([&] {
    return perfAcross(link, {"--size", "64K", "-n", "1000", "--lanes", "4"},
                      {"reset", "--port", "18515"}, milliseconds(700));
  });
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_FALSE(o.timed_out) << o.out;
  auto s = link.stats();
  EXPECT_EQ(counter(s, "a2b", "resets") + counter(s, "b2a", "resets"), 1u) << s.dump(2);
  EXPECT_GT(counter(s, "a2b", "forwarded_bytes"), 65'000'000u) << s.dump(2);
}

// The size of the verified transfers that must survive a blackout, loss
// bursts and reordering: FARLINK_TEST_WANEM_MIB, else issue 8's 256 MiB
// (about 6 s at this link's 400 Mbit/s; keep it above ~2 s, so that the
// faults land mid-transfer).
std::string survivalMiB() { return envOr("FARLINK_TEST_WANEM_MIB", "256"); }

// Checks the JSON row of a verified transfer of survivalMiB() 1 MiB messages
// (farlink perf --verify: the server checks every byte of every message
// against a pattern seeded by the message's index, so a lost, duplicated or
// misordered message fails it too) and prints what the path went through.
void expectWholeTransfer(const Outcome& o, const Link& link) {
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_FALSE(o.timed_out) << o.out;
  nlohmann::json row = lastJsonRow(o.out);
  ASSERT_TRUE(row.contains("path")) << o.out;
  EXPECT_EQ(row["bytes"], 1u << 20) << o.out;
  EXPECT_EQ(row["iterations"], std::stoull(survivalMiB())) << o.out;
  auto s = link.stats();
  EXPECT_GE(counter(s, "a2b", "forwarded_bytes"), std::stoull(survivalMiB()) << 20) << s.dump(2);
  std::printf(
      "%s MiB verified: %.3f Gb/s average, %llu retransmits, %llu resumes; emulator "
      "dropped %llu (loss) %llu (blackout) %llu (queue) packets\n",
      survivalMiB().c_str(), row["bw_avg_gbps"].get<double>(),
      static_cast<unsigned long long>(row["path"]["retransmits"].get<uint64_t>()),
      static_cast<unsigned long long>(row["path"]["resumes"].get<uint64_t>()),
      static_cast<unsigned long long>(counter(s, "a2b", "dropped_loss") +
                                      counter(s, "b2a", "dropped_loss")),
      static_cast<unsigned long long>(counter(s, "a2b", "dropped_blackout") +
                                      counter(s, "b2a", "dropped_blackout")),
      static_cast<unsigned long long>(counter(s, "a2b", "dropped_queue") +
                                      counter(s, "b2a", "dropped_queue")));
}

// Issue 8: a 256 MiB transfer survives a 5 s blackout. The link goes dark
// mid-transfer for far longer than the dead-peer bound (6 RTO, ~1.3 s at
// this RTT), so both ends declare every lane dead; with session resume on
// both ends the client reconnects with the session id, both resume from
// the last acknowledged frame, and every byte arrives once, in order. How
// soon after the blackout the data flows again (in RTTs) is measured by
// bench/resume_time --blackout, not here.
TEST(Wanem, VerifiedTransferSurvivesAFiveSecondBlackoutWithResume) {
  Link link({"--delay", "5ms", "--rate", "400mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  Outcome o = withResume([&] {
    return perfAcross(link, {"--size", "1M", "-n", survivalMiB(), "--lanes", "4"},
                      {"blackout", "5s"}, milliseconds(1500));
  });
  expectWholeTransfer(o, link);
  EXPECT_GE(lastJsonRow(o.out)["path"]["resumes"].get<uint64_t>(), 1u) << o.out;
  EXPECT_GT(counter(link.stats(), "a2b", "dropped_blackout"), 0u);
}

// Sleeps up to `d` while `p` runs; false once it has exited.
bool sleepWhileRunning(Process& p, milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    if (!p.running()) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return p.running();
}

// Issue 8: the same transfer survives 5% loss bursts and reordering. The
// link reorders all along (jitter with --reorder: packets leave in the
// order of their jittered release times) and loses 5% of the packets in
// both directions for 1 s out of every 2 s, switched with `ctl set`. Resume
// is on as well, so that "survives" means what it does in a deployment:
// if a burst ever took a lane down, the channel would resume.
TEST(Wanem, VerifiedTransferSurvivesLossBurstsAndReorderingWithResume) {
  Link link({"--delay", "5ms", "--jitter", "2ms", "--jitter-dist", "uniform", "--reorder", "--rate",
             "400mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  int bursts = 0;
  auto lossBursts = [&](Process& client) -> std::string {
    while (sleepWhileRunning(client, milliseconds(1000))) {
      if (link.ctl({"set", "--loss", "5%"}).code != 0) return "ctl set --loss 5% failed";
      ++bursts;
      bool more = sleepWhileRunning(client, milliseconds(1000));
      if (link.ctl({"set", "--loss", "0%"}).code != 0) return "ctl set --loss 0% failed";
      if (!more) break;
    }
    return "";
  };
  Outcome o = withResume([&] {
    return perfAcrossDriven(link, {"--size", "1M", "-n", survivalMiB(), "--lanes", "4"},
                            lossBursts);
  });
  std::printf("%d loss bursts of 1 s at 5%%\n", bursts);
  expectWholeTransfer(o, link);
  EXPECT_GE(bursts, 1);
  auto s = link.stats();
  EXPECT_GT(counter(s, "a2b", "dropped_loss"), 0u) << s.dump(2);
  EXPECT_GT(counter(s, "b2a", "dropped_loss"), 0u) << s.dump(2);
}

// A link that goes silent for longer than FARLINK_DEAD_PEER_MS ends the
// channel with a message naming the silent peer, instead of the kernel's
// ~15 minutes of retransmissions (or 2 hours of keepalive when quiet).
TEST(Wanem, SilentPeerIsReportedAfterTheDeadPeerTimeout) {
  Link link({"--delay", "5ms"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  setenv("FARLINK_DEAD_PEER_MS", "3000", 1);
  auto start = std::chrono::steady_clock::now();
  Outcome o = perfAcross(link, {"--mode", "lat", "--size", "64", "-D", "40"}, {"blackout", "40s"},
                         milliseconds(1000));
  unsetenv("FARLINK_DEAD_PEER_MS");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(o.code, 0) << o.out;
  EXPECT_FALSE(o.timed_out) << o.out;
  EXPECT_NE(o.out.find("stopped answering"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("10.99.0.2"), std::string::npos) << o.out;
  // Reported well before the blackout ends (the bound is loose: it is a
  // behaviour, not a speed, that is under test).
  EXPECT_LT(secs, 30.0) << o.out;
}

int64_t steadyMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A channel on which both ends wait in a receive (nothing in flight: only
// KEEPALIVE frames tell whether the peer is there) and whose link goes dark:
// both ends report the peer dead within the bound derived from the RTT (6
// RTOs, an RTO being RTT + 200 ms on Linux, plus up to one RTO of quiet
// before the probe), with no FARLINK_DEAD_PEER_MS. Prints the detection
// time in RTTs. The upper bound asserted is loose (a behaviour, not a
// speed): far under the old 10 s floor.
TEST(Wanem, QuietChannelOverABlackoutIsReportedWithinTheDerivedBound) {
  unsetenv("FARLINK_DEAD_PEER_MS");
  for (int delay_ms : {10, 50}) {
    Link link({"--delay", std::to_string(delay_ms) + "ms"});
    ASSERT_TRUE(link.up()) << link.upOutput();
    std::string port = std::to_string(27400 + getpid() % 2000);
    Process server(link.exec('b', {livenessPeer(), "serve", "10.99.0.2", port, "quiet"}));
    ASSERT_TRUE(server.waitForOutput("listening", seconds(10))) << server.output();
    Process client(link.exec('a', {livenessPeer(), "connect", "10.99.0.2", port, "quiet"}));
    ASSERT_TRUE(client.waitForOutput("ready", seconds(10))) << client.output();
    ASSERT_TRUE(server.waitForOutput("ready", seconds(10))) << server.output();
    std::this_thread::sleep_for(milliseconds(1500));  // quiet, probes answered
    ASSERT_EQ(link.ctl({"blackout", "30s"}).code, 0);
    int64_t dark_ms = steadyMs();
    const double rtt_ms = 2.0 * delay_ms;
    const double rto_ms = rtt_ms + 200;
    for (auto* p : {&client, &server}) {
      Outcome o = p->wait(seconds(25));
      const char* who = p == &client ? "client" : "server";
      EXPECT_FALSE(o.timed_out) << who << ": " << o.out;
      EXPECT_EQ(o.code, 3) << who << ": " << o.out;
      EXPECT_NE(o.out.find("stopped answering"), std::string::npos) << who << ": " << o.out;
      EXPECT_NE(o.out.find(p == &client ? "10.99.0.2" : "10.99.0.1"), std::string::npos) << o.out;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(o.out, m, std::regex("dead at_ms=([0-9]+)"))) << o.out;
      double took = double(std::stoll(m[1]) - dark_ms);
      std::printf("%s, link RTT %.0f ms: peer reported dead %.0f ms after the blackout began "
                  "= %.1f RTT = %.1f RTO (bound 6 RTO + up to 1 RTO of quiet)\n",
                  who, rtt_ms, took, took / rtt_ms, took / rto_ms);
      EXPECT_GT(took, 0.0) << o.out;
      EXPECT_LT(took, 6000.0) << o.out;
    }
  }
}

// Issue 8: a peer killed with kill -9 is reported to the other side within
// a bound derived from the RTT, with a message naming the peer, never a
// hang. This is the easy case: the dead process's kernel closes its sockets
// (FIN, or RST for unread data), so the survivor learns within about one
// RTT; the bound asserted is the dead-peer bound of the hard case (6 RTO,
// an RTO being RTT + 200 ms), in which the peer's host vanishes without a
// word: that case is tested by the blackout tests above
// (SilentPeerIsReportedAfterTheDeadPeerTimeout,
// QuietChannelOverABlackoutIsReportedWithinTheDerivedBound). Killed
// mid-transfer (farlink perf's server) and while the channel is quiet
// (liveness-peer, both ends waiting in a receive). Session resume is off:
// with FARLINK_RESUME_TIMEOUT the connecting side would first try to
// reconnect for that long (farlink(7), "Session resume").
TEST(Wanem, PeerKilledWithSigkillIsReportedWithinTheDerivedBound) {
  unsetenv("FARLINK_DEAD_PEER_MS");
  unsetenv("FARLINK_RESUME_TIMEOUT");
  Link link({"--delay", "10ms", "--rate", "200mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  const double rtt_ms = 20, bound_ms = 6 * (rtt_ms + 200);
  {  // mid-transfer: the server dies, the client must say so
    Process server(link.exec('b', {farlink(), "perf", "-s", "--once", "--bind", "10.99.0.2"}));
    ASSERT_TRUE(server.waitForOutput("listening", seconds(10))) << server.output();
    Process client(link.exec('a', {farlink(), "perf", "-c", "10.99.0.2", "--verify", "-D", "30",
                                   "--size", "1M", "--lanes", "4"}));
    std::this_thread::sleep_for(milliseconds(2000));
    ASSERT_TRUE(client.running()) << client.output();
    int64_t killed_ms = steadyMs();
    server.signal(SIGKILL);
    Outcome o = client.wait(seconds(20));
    double took = double(steadyMs() - killed_ms);
    std::printf(
        "server killed mid-transfer, link RTT %.0f ms: the client exited %.0f ms later "
        "= %.1f RTT (bound 6 RTO = %.0f ms)\n",
        rtt_ms, took, took / rtt_ms, bound_ms);
    EXPECT_FALSE(o.timed_out) << o.out;
    EXPECT_EQ(o.code, 1) << o.out;
    EXPECT_NE(o.out.find("10.99.0.2"), std::string::npos) << o.out;
    EXPECT_EQ(o.out.find("verification failed"), std::string::npos) << o.out;
    EXPECT_LT(took, bound_ms) << o.out;
  }
  {  // quiet: the client dies, the server (waiting in a receive) must say so
    std::string port = std::to_string(27400 + getpid() % 2000);
    Process server(link.exec('b', {livenessPeer(), "serve", "10.99.0.2", port, "quiet"}));
    ASSERT_TRUE(server.waitForOutput("listening", seconds(10))) << server.output();
    Process client(link.exec('a', {livenessPeer(), "connect", "10.99.0.2", port, "quiet"}));
    ASSERT_TRUE(client.waitForOutput("ready", seconds(10))) << client.output();
    ASSERT_TRUE(server.waitForOutput("ready", seconds(10))) << server.output();
    std::this_thread::sleep_for(milliseconds(1000));  // quiet, probes answered
    int64_t killed_ms = steadyMs();
    client.signal(SIGKILL);
    Outcome o = server.wait(seconds(20));
    EXPECT_FALSE(o.timed_out) << o.out;
    EXPECT_EQ(o.code, 3) << o.out;
    EXPECT_NE(o.out.find("10.99.0.1"), std::string::npos) << o.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(o.out, m, std::regex("dead at_ms=([0-9]+)"))) << o.out;
    double took = double(std::stoll(m[1]) - killed_ms);
    std::printf(
        "client killed on a quiet channel, link RTT %.0f ms: the server reported it "
        "%.0f ms later = %.1f RTT (bound 6 RTO = %.0f ms)\n",
        rtt_ms, took, took / rtt_ms, bound_ms);
    EXPECT_LT(took, bound_ms) << o.out;
  }
}

// A peer application that stops reading for several times the dead-peer
// bound while the sender has far more queued than the windows hold: the
// window closes, the peer's kernel answers the zero-window probes, and
// the sender waits instead of calling the peer dead. Then every byte
// arrives and is checked.
TEST(Wanem, SlowReaderIsNotTakenForDead) {
  unsetenv("FARLINK_DEAD_PEER_MS");
  // RTT 50 ms: the bound is 6 x 250 ms = 1.5 s; the reader sleeps 8 s.
  Link link({"--delay", "25ms", "--rate", "200mbit"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  std::string port = std::to_string(27400 + getpid() % 2000);
  const std::string bytes = std::to_string(96u << 20);
  Process server(link.exec('b', {livenessPeer(), "serve", "10.99.0.2", port, "sleep", "8", bytes}));
  ASSERT_TRUE(server.waitForOutput("listening", seconds(10))) << server.output();
  Process client(link.exec('a', {livenessPeer(), "connect", "10.99.0.2", port, "flood", "0", bytes}));
  Outcome c = client.wait(seconds(60));
  Outcome s = server.wait(seconds(30));
  std::printf("client: %s\nserver: %s\n", c.out.c_str(), s.out.c_str());
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(c.out.find("stopped answering"), std::string::npos) << c.out;
  EXPECT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("received " + bytes + " bytes"), std::string::npos) << s.out;
}

// The channel's own flow control (FARLINK_FLOW=model) on a long lossy
// link: every byte verified, and the controller visible in the JSON row
// with the link's RTT.
TEST(Wanem, FarlinkPerfVerifiesUnderModelFlowControl) {
  Link link({"--delay", "15ms", "--rate", "100mbit", "--loss", "0.5%"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  setenv("FARLINK_FLOW", "model", 1);
  Outcome o = perfAcross(link, {"--size", "1M", "-n", "60", "--lanes", "4"});
  unsetenv("FARLINK_FLOW");
  ASSERT_EQ(o.code, 0) << o.out;
  nlohmann::json row = lastJsonRow(o.out);
  ASSERT_TRUE(row.contains("path") && row["path"].contains("flow")) << o.out;
  const auto& flow = row["path"]["flow"];
  EXPECT_EQ(flow["controller"], "model") << flow.dump();
  // RTT samples bound the path's RTT from above (never below its 30 ms).
  EXPECT_GE(flow["min_rtt_ms"].get<double>(), 30.0) << flow.dump();
  EXPECT_LT(flow["min_rtt_ms"].get<double>(), 60.0) << flow.dump();
  EXPECT_GE(flow["srtt_ms"].get<double>(), flow["min_rtt_ms"].get<double>()) << flow.dump();
  EXPECT_GT(flow["bottleneck_gbps"].get<double>(), 0.0) << flow.dump();
  // An estimate far above the 100 Mbit/s link would mean broken samples.
  EXPECT_LT(flow["bottleneck_gbps"].get<double>(), 0.2) << flow.dump();
  EXPECT_GE(flow["inflight_cap"].get<uint64_t>(), 4u * 128 * 1024) << flow.dump();
  EXPECT_GT(counter(link.stats(), "a2b", "dropped_loss"), 0u);
}

// Bursts with idle gaps under flow control: a hierarchical allreduce (2
// sites x 2 ranks, pipelined pieces, a channel left undriven between them)
// once stalled across this emulator: RTT samples that spanned those gaps
// (seconds) became a channel's min RTT and its model paced at a few
// Mbit/s. Every element is checked; the bound is a stall's, not a speed
// (it takes a few seconds).
TEST(Wanem, FarlinkCollAllreduceUnderModelFlowControlDoesNotStall) {
  Link link({"--delay", "15ms", "--rate", "300mbit", "--queue", "1125000"});
  ASSERT_TRUE(link.up()) << link.upOutput();
  std::string port = std::to_string(29400 + getpid() % 2000);
  std::vector<std::unique_ptr<Process>> ranks;
  for (int r = 0; r < 4; ++r) {
    std::string site = r < 2 ? "A" : "B", host = r < 2 ? "10.99.0.1" : "10.99.0.2";
    std::vector<std::string> argv = {
        "env", "RANK=" + std::to_string(r), "WORLD_SIZE=4", "MASTER_ADDR=10.99.0.1",
        "MASTER_PORT=" + port, "FARLINK_SITE=" + site, "FARLINK_COLL_HOST=" + host,
        "FARLINK_FLOW=model", farlink(), "coll", "--json", "-c", "--algo", "hierarchical",
        "-b", "32M", "-e", "32M", "-n", "3", "-w", "1", "--timeout", "60"};
    ranks.push_back(std::make_unique<Process>(link.exec(r < 2 ? 'a' : 'b', argv)));
  }
  for (int r = 0; r < 4; ++r) {
    Outcome o = ranks[size_t(r)]->wait(seconds(90));
    EXPECT_FALSE(o.timed_out) << "rank " << r << ": " << o.out;
    EXPECT_EQ(o.code, 0) << "rank " << r << ": " << o.out;
    if (r == 0) {
      std::smatch m;
      ASSERT_TRUE(std::regex_search(o.out, m, std::regex("\"wrong\":([0-9]+)"))) << o.out;
      EXPECT_EQ(m[1], "0") << o.out;
    }
  }
}

}  // namespace
}  // namespace farlink::wanemtest

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    std::printf("SKIP: the wanem integration tests need root to create network namespaces\n");
    return 77;
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    std::printf("SKIP: /dev/net/tun is missing; load the tun module to run these tests\n");
    return 77;
  }
  if (!farlink::wanemtest::haveProgram("ip")) {
    std::printf("SKIP: ip (iproute2) is not installed\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
