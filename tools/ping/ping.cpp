#include "ping/ping.h"

#include <atomic>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "farlink/channel.h"
#include "ping/rping.h"
#include "ping/rping_wire.h"

namespace farlink::ping {
namespace {

using tools::kExitError;
using tools::kExitOk;
using tools::kExitUsage;
using tools::kExitVerify;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kSendTimeout{30'000};
// Waits wake this often to notice Ctrl-C.
constexpr std::chrono::milliseconds kSlice{200};

std::atomic<bool> g_stop{false};

extern "C" void onSignal(int) { g_stop = true; }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void debug(const PingOptions& o, const std::string& line) {
  if (!o.debug) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// kCancelled when interrupted; the request is then still pending.
Status waitInterruptible(Request& r) {
  for (;;) {
    Status s = r.wait(kSlice);
    if (s.code() != StatusCode::kTimedOut) return s;
    if (g_stop) return Status(StatusCode::kCancelled, "interrupted");
  }
}

// Echoes pings until the client leaves. Returns how many it served.
Result<uint64_t> serveOne(Channel& ch, const PingOptions& o) {
  std::vector<char> buf(kMaxSize + 1, 0);  // +1: room for a NUL to print safely
  uint64_t served = 0;
  for (;;) {
    Result<Request> r = ch.irecv(buf.data(), kMaxSize, kTagPing);
    if (!r) return r.status();
    Status s = waitInterruptible(*r);
    if (s.code() == StatusCode::kPeerClosed) break;
    if (!s) {
      (void)ch.close(std::chrono::milliseconds{0});  // releases the pending receive
      if (s.code() == StatusCode::kCancelled) return served;
      return s;
    }
    const size_t n = r->bytes();
    buf[n] = '\0';
    if (o.verbose) std::printf("server ping data: %s\n", buf.data());
    if (Status e = ch.send(buf.data(), n, kTagPong, kSendTimeout); !e) return e;
    ++served;
  }
  (void)ch.close();
  return served;
}

int runServer(const PingOptions& o, const ChannelOptions& copts) {
  const std::string addr = o.address.empty() ? "0.0.0.0" : o.address;
  Result<std::unique_ptr<Listener>> l =
      Listener::listen(tools::makeUri(o.channel.transport, addr, o.port), copts);
  if (!l) {
    tools::printError(
        "ping", tools::failedTo("cannot listen on " + tools::hostPort(addr, o.port), l.status()));
    return kExitError;
  }
  debug(o, "farlink ping: listening on " + (*l)->uri());
  int rc = kExitOk;
  while (!g_stop) {
    Result<std::unique_ptr<Channel>> ch = (*l)->accept(kSlice);
    for (const Status& r : (*l)->rejections())
      tools::printError("ping", "rejected a connection: " + tools::describe(r));
    if (!ch && ch.status().code() == StatusCode::kTimedOut) continue;
    if (!ch) {
      tools::printError("ping", "accept failed: " + tools::describe(ch.status()));
      return kExitError;
    }
    const std::string peer = (*ch)->peer();
    debug(o, "farlink ping: client " + peer + " connected");
    Result<uint64_t> served = serveOne(**ch, o);
    if (served) {
      std::printf("farlink ping: served %" PRIu64 " pings from %s\n", *served, peer.c_str());
      std::fflush(stdout);
      rc = kExitOk;
    } else {
      tools::printError("ping", "client " + peer + ": " + tools::describe(served.status()));
      rc = kExitError;
    }
    if (!o.persistent) break;
  }
  return rc;
}

struct RttStats {
  uint64_t sent = 0, echoed = 0;
  double min_ms = 0, max_ms = 0, sum = 0, sumsq = 0;
  void add(double ms) {
    min_ms = echoed ? std::min(min_ms, ms) : ms;
    max_ms = echoed ? std::max(max_ms, ms) : ms;
    sum += ms;
    sumsq += ms * ms;
    ++echoed;
  }
};

void printSummary(const PingOptions& o, const std::string& target, const RttStats& st,
                  double elapsed_ms) {
  std::printf("--- %s farlink ping statistics ---\n", target.c_str());
  std::printf("%" PRIu64 " pings sent, %" PRIu64 " echoed, %zu bytes each%s, time %.0f ms\n",
              st.sent, st.echoed, o.size, o.validate ? ", data validated" : "", elapsed_ms);
  if (st.echoed) {
    const double avg = st.sum / static_cast<double>(st.echoed);
    const double mdev =
        std::sqrt(std::max(0.0, st.sumsq / static_cast<double>(st.echoed) - avg * avg));
    std::printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", st.min_ms, avg, st.max_ms, mdev);
  }
  std::fflush(stdout);
}

int runClient(const PingOptions& o, const ChannelOptions& copts) {
  const std::string target = tools::hostPort(o.address, o.port);
  Result<std::unique_ptr<Channel>> conn =
      Channel::connect(tools::makeUri(o.channel.transport, o.address, o.port), copts);
  if (!conn) {
    tools::printError("ping", tools::failedTo("cannot connect to " + target, conn.status()));
    return kExitError;
  }
  Channel& ch = **conn;
  const ChannelStats info = ch.stats();
  debug(o, "farlink ping: connected to " + ch.peer() + " (" + info.transport + ", " +
               std::to_string(info.lanes) + (info.lanes == 1 ? " lane)" : " lanes)"));
  std::vector<char> tx(o.size);
  std::vector<char> rx(o.size + 1, 0);  // the last byte stays NUL for printing
  RttStats st;
  int rc = kExitOk;
  bool clean = true;  // no request left pending
  const auto start = Clock::now();
  for (uint64_t n = 0; (o.count == 0 || n < static_cast<uint64_t>(o.count)) && !g_stop; ++n) {
    fillRpingData(tx.data(), o.size, n);
    const auto t0 = Clock::now();
    Result<Request> pong = ch.irecv(rx.data(), o.size, kTagPong);
    Result<Request> ping = pong ? ch.isend(tx.data(), o.size, kTagPing) : pong.status();
    Status s = ping ? waitInterruptible(*pong) : ping.status();
    if (s) s = waitInterruptible(*ping);
    if (pong && ping) ++st.sent;
    if (!s) {
      clean = false;
      if (s.code() != StatusCode::kCancelled) {
        tools::printError("ping", "ping " + std::to_string(n) + ": " + tools::describe(s));
        rc = kExitError;
      }
      break;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (pong->bytes() != o.size || (o.validate && std::memcmp(tx.data(), rx.data(), o.size))) {
      tools::printError("ping", "data mismatch in ping " + std::to_string(n) + ": sent " +
                                    std::to_string(o.size) + " bytes, got back " +
                                    std::to_string(pong->bytes()) +
                                    (pong->bytes() == o.size ? " different ones" : ""));
      rc = kExitVerify;
      break;
    }
    st.add(ms);
    if (o.verbose) std::printf("ping data: %s\n", rx.data());
    if (o.debug) {
      std::printf("ping %" PRIu64 ": rtt %.3f ms\n", n, ms);
      std::fflush(stdout);
    }
  }
  const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (clean) {
    if (Status s = ch.close(); !s && rc == kExitOk) {
      tools::printError("ping", "closing: " + tools::describe(s));
      rc = kExitError;
    }
  } else {
    (void)ch.close(std::chrono::milliseconds{0});
  }
  printSummary(o, target, st, elapsed);
  return rc;
}

}  // namespace

CLI::App* addPingCommand(CLI::App& app, PingOptions* o) {
  CLI::App* cmd = app.add_subcommand(
      "ping", "rping-style echo test: the client sends rping's data pattern, the server echoes it");
  auto* s = cmd->add_flag("-s", o->server, "Server side: echo pings from one client, then exit");
  auto* c = cmd->add_flag("-c", o->client, "Client side (needs -a)");
  s->excludes(c);
  cmd->add_flag("-P", o->persistent, "Server: keep serving clients one after another")->needs(s);
  cmd->add_option("-a", o->address,
                  "Address: server binds to it (default all IPv4), client connects to it")
      ->type_name("ADDR");
  cmd->add_option("-I", o->source,
                  "Client: source address to connect from (for hosts with several addresses "
                  "or routes); FARLINK_SOURCE_ADDRESS without --rping")
      ->type_name("ADDR")
      ->excludes(s);
  cmd->add_option("-p", o->port, "Port (default 7174)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("-C", o->count, "Client: stop after COUNT pings (default 0: until interrupted)")
      ->type_name("COUNT")
      ->check(CLI::Range(0, INT_MAX));
  cmd->add_option("-S", o->size,
                  "Ping data size in bytes, 26-65535 (default 64); with --rping up to 64 MiB "
                  "between farlink peers")
      ->type_name("SIZE")
      ->check(CLI::Range(kMinSize, kRpingMaxSize));
  cmd->add_flag("-v", o->verbose,
                "Print each ping's data (server: what arrived; client: the echo)");
  cmd->add_flag("-V", o->validate,
                "Client: check the echo matches what was sent (exit status 3 if not)");
  cmd->add_flag("-d", o->debug, "Debug output: connection steps and per-ping round-trip times");
  auto* rping = cmd->add_flag(
      "--rping", o->rping.enabled,
      "Speak rdma-core rping's own protocol (rdma_cm, RDMA READ/WRITE): the peer may be a stock "
      "rping");
  cmd->add_option("--timeout", o->rping.timeout_s,
                  "--rping: seconds each step (resolve, connect, each transfer) may take before "
                  "the peer counts as gone (default 10)")
      ->type_name("SEC")
      ->check(CLI::Range(1, 3600))
      ->needs(rping);
  tools::addTransportOption(cmd, &o->channel);
  tools::addLaneAndKeyOptions(cmd, &o->channel, 1);
  cmd->footer(
      "Environment: FARLINK_* variables set channel options (see libfarlink(3)).\n"
      "Exit status: 0 success, 1 runtime or transport error, 2 usage error, 3 data verification "
      "failed. See farlink-ping(1).");
  return cmd;
}

int runPing(const PingOptions& o) {
  if (!o.server && !o.client) {
    tools::printError("ping", "choose a side: -s (server) or -c (client)");
    return kExitUsage;
  }
  if (o.client && o.address.empty()) {
    tools::printError("ping", "the client needs the server's address: -a ADDR");
    return kExitUsage;
  }
  if (o.rping.enabled) {
    if (o.channel.transport != "tcp" || o.channel.lanes != 0 || !o.channel.psk.empty()) {
      tools::printError("ping",
                        "--rping speaks rping's protocol on one RDMA queue pair; --transport, "
                        "--lanes and --psk do not apply");
      return kExitUsage;
    }
    installSignalHandlers();
    return runRping(o, o.rping, g_stop);
  }
  if (o.size > kMaxSize) {
    tools::printError("ping", "-S " + std::to_string(o.size) +
                                  " is above 65535; larger pings "
                                  "need --rping (RDMA) and a farlink peer");
    return kExitUsage;
  }
  // One lane, like rping's one QP, unless FARLINK_LANES or --lanes say otherwise.
  ChannelOptions defaults;
  defaults.lanes = 1;
  Result<ChannelOptions> copts = tools::makeChannelOptions(o.channel, defaults);
  if (copts && !o.source.empty()) {
    copts->source_address = o.source;
    if (Status s = copts->validate(); !s) copts = s;
  }
  if (!copts) {
    tools::printError("ping", tools::describe(copts.status()));
    return kExitUsage;
  }
  installSignalHandlers();
  return o.server ? runServer(o, *copts) : runClient(o, *copts);
}

}  // namespace farlink::ping
