// farlink perf's command line and its three ways to run: embedded loopback
// server (no -s/-c), server (-s) and client (-c HOST).
#include "perf/perf.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "common/plot.h"
#include "farlink/channel.h"
#include "perf/control.h"
#include "perf/session.h"

namespace farlink::perf {
namespace {

using tools::kExitError;
using tools::kExitOk;
using tools::kExitUsage;
using tools::kExitVerify;

// -a sweeps 2 B .. 64 MiB; iterations per size shrink so each size moves
// about this many bytes (but never fewer than perftest's minimum of 5).
constexpr int kSweepMinLog2 = 1;
constexpr int kSweepMaxLog2 = 26;
constexpr uint64_t kSweepBytesPerSize = uint64_t{256} << 20;
constexpr uint64_t kMinSweepIters = 5;

void printUsageError(const std::string& msg) {
  tools::printError("perf", msg);
  std::fprintf(stderr, "Run 'farlink perf --help' for the options.\n");
}

std::vector<TestSpec> makeSpecs(const PerfOptions& o) {
  const bool lat = o.mode == "lat";
  TestSpec base;
  base.mode = lat ? Mode::kLat : Mode::kBw;
  base.flags = static_cast<uint8_t>((o.bidir ? kFlagBidir : 0) | (o.verify ? kFlagVerify : 0));
  base.depth = static_cast<uint16_t>(o.tx_depth);
  base.duration_ms = static_cast<uint64_t>(std::llround(o.duration * 1000));
  const uint64_t iters = o.iters ? o.iters : (lat ? 1000 : 5000);
  std::vector<TestSpec> specs;
  auto add = [&](uint64_t size, uint64_t n) {
    TestSpec s = base;
    s.size = size;
    s.iters = base.duration_ms ? 0 : n;
    specs.push_back(s);
  };
  if (!o.all) {
    add(o.size.empty() ? (lat ? 2 : 65536) : *tools::parseSize(o.size), iters);
    return specs;
  }
  for (int k = kSweepMinLog2; k <= kSweepMaxLog2; ++k) {
    const uint64_t size = uint64_t{1} << k;
    add(size, std::clamp(kSweepBytesPerSize / size, std::min(kMinSweepIters, iters), iters));
  }
  return specs;
}

std::string lengthText(const PerfOptions& o, const std::vector<TestSpec>& specs) {
  if (specs.front().duration_ms) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g s per size", o.duration);
    return buf;
  }
  if (specs.size() == 1) return std::to_string(specs.front().iters) + " iterations";
  return "up to " + std::to_string(specs.front().iters) +
         " iterations per size (fewer for large sizes)";
}

// --plot: bandwidth (average and peak) or latency (typical and 99%) per size.
Status writePlot(const PerfOptions& o, const std::string& server, const ClientResult& r) {
  tools::PlotData d;
  const bool bw = !r.bw.empty();
  const std::string transport = bw ? r.bw.front().transport : r.lat.front().transport;
  const int lanes = bw ? r.bw.front().lanes : r.lat.front().lanes;
  d.title = "farlink perf: " + transport + ", " + std::to_string(lanes) +
            (lanes == 1 ? " lane, " : " lanes, ") + server;
  d.y_label = bw ? "Gb/s" : "one-way latency (us)";
  d.log_y = !bw;
  tools::PlotSeries a{bw ? "BW average" : "t_typical", false, {}};
  tools::PlotSeries b{bw ? "BW peak" : "99%", true, {}};
  for (const tools::BwRow& row : r.bw) {
    d.sizes.push_back(row.bytes);
    a.values.push_back(row.avg_gbps);
    b.values.push_back(row.peak_gbps);
  }
  for (const tools::LatRow& row : r.lat) {
    d.sizes.push_back(row.bytes);
    a.values.push_back(row.stats.typical_us);
    b.values.push_back(row.stats.p99_us);
  }
  d.series = {a, b};
  return tools::writeSweepSvg(o.plot, d);
}

int finishClient(const PerfOptions& o, const std::string& server, const ClientResult& r) {
  if (r.status && !r.verify_errors && !o.plot.empty() && (!r.bw.empty() || !r.lat.empty())) {
    if (Status s = writePlot(o, server, r); !s) {
      tools::printError("perf", tools::describe(s));
      return kExitError;
    }
  }
  if (!r.status) {
    tools::printError("perf", tools::describe(r.status));
    return kExitError;
  }
  if (r.verify_errors) {
    tools::printError("perf", "data verification failed: " + std::to_string(r.verify_errors) +
                                  " message(s) arrived with wrong contents");
    return kExitVerify;
  }
  return kExitOk;
}

Output makeOutput(const PerfOptions& o) {
  Output out;
  out.json = o.json;
  out.info = o.json ? stderr : stdout;
  return out;
}

int runClient(const PerfOptions& o, const ChannelOptions& copts,
              const std::vector<TestSpec>& specs) {
  const std::string target = tools::hostPort(o.client_host, o.port);
  Result<std::unique_ptr<Channel>> ch =
      Channel::connect(tools::makeUri(o.channel.transport, o.client_host, o.port), copts);
  if (!ch) {
    tools::printError("perf", tools::failedTo("cannot connect to " + target, ch.status()));
    return kExitError;
  }
  Banner banner{target, copts.chunk_size, lengthText(o, specs)};
  return finishClient(o, target, runClientSession(**ch, specs, banner, makeOutput(o)));
}

int runServer(const PerfOptions& o, const ChannelOptions& copts) {
  const std::string bind = o.bind.empty() ? "0.0.0.0" : o.bind;
  Result<std::unique_ptr<Listener>> l =
      Listener::listen(tools::makeUri(o.channel.transport, bind, o.port), copts);
  if (!l) {
    tools::printError(
        "perf", tools::failedTo("cannot listen on " + tools::hostPort(bind, o.port), l.status()));
    return kExitError;
  }
  const Output out = makeOutput(o);
  std::fprintf(out.info, "farlink perf: listening on %s\n", (*l)->uri().c_str());
  std::fflush(out.info);
  for (;;) {
    Result<std::unique_ptr<Channel>> ch = (*l)->accept(std::chrono::milliseconds{1000});
    for (const Status& r : (*l)->rejections())
      tools::printError("perf", "rejected a connection: " + tools::describe(r));
    if (!ch && ch.status().code() == StatusCode::kTimedOut) continue;
    if (!ch) {
      tools::printError("perf", "accept failed: " + tools::describe(ch.status()));
      return kExitError;
    }
    const std::string peer = (*ch)->peer();
    Status s = serveClient(**ch, out);
    if (!s) tools::printError("perf", "client " + peer + ": " + tools::describe(s));
    if (o.once) return s ? kExitOk : kExitError;
  }
}

// No peer given: a server thread in this process on 127.0.0.1, port 0.
int runEmbedded(const PerfOptions& o, const ChannelOptions& copts,
                const std::vector<TestSpec>& specs) {
  Result<std::unique_ptr<Listener>> l =
      Listener::listen(tools::makeUri(o.channel.transport, "127.0.0.1", 0), copts);
  if (!l) {
    tools::printError("perf", "cannot start the embedded server: " + tools::describe(l.status()));
    return kExitError;
  }
  Listener& listener = **l;
  std::atomic<bool> stop{false};
  Status server_status;
  std::thread server([&] {
    Output quiet;
    quiet.quiet = true;
    while (!stop) {
      Result<std::unique_ptr<Channel>> ch = listener.accept(std::chrono::milliseconds{100});
      if (!ch && ch.status().code() == StatusCode::kTimedOut) continue;
      server_status = ch ? serveClient(**ch, quiet) : ch.status();
      return;
    }
  });
  int rc = kExitOk;
  {
    const std::string target = tools::hostPort("127.0.0.1", listener.port());
    Result<std::unique_ptr<Channel>> ch =
        Channel::connect(tools::makeUri(o.channel.transport, "127.0.0.1", listener.port()), copts);
    if (!ch) {
      tools::printError("perf", "embedded server: " +
                                    tools::failedTo("cannot connect to " + target, ch.status()));
      rc = kExitError;
    } else {
      Banner banner{target + " (embedded, loopback)", copts.chunk_size, lengthText(o, specs)};
      rc = finishClient(o, "loopback",
                        runClientSession(**ch, specs, banner, makeOutput(o)));
    }
  }  // the client channel closes here, which ends the server's session
  stop = true;
  server.join();
  const StatusCode c = server_status.code();
  if (!server_status && c != StatusCode::kPeerClosed && c != StatusCode::kCancelled) {
    tools::printError("perf", "embedded server: " + tools::describe(server_status));
    if (rc == kExitOk) rc = kExitError;
  }
  return rc;
}

}  // namespace

CLI::App* addPerfCommand(CLI::App& app, PerfOptions* o) {
  CLI::App* cmd = app.add_subcommand(
      "perf",
      "Measure bandwidth or latency (perftest columns). Without -s or -c: against an "
      "embedded server on 127.0.0.1");
  auto* srv = cmd->add_flag("-s,--server", o->server,
                            "Run as server: accept clients one after another until killed");
  auto* cli = cmd->add_option("-c,--client", o->client_host, "Run as client of the server at HOST")
                  ->type_name("HOST");
  srv->excludes(cli);
  cmd->add_option("-p,--port", o->port, "TCP port to listen on or connect to (default 18515)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--bind", o->bind,
                  "Server: local address to listen on (default 0.0.0.0). Client: local address "
                  "the lanes leave from (default: the route's; FARLINK_SOURCE_ADDRESS)")
      ->type_name("ADDR");
  cmd->add_flag("--once", o->once, "Server: exit after the first client")->needs(srv);
  tools::addTransportOption(cmd, &o->channel);
  tools::addLaneAndKeyOptions(cmd, &o->channel, ChannelOptions{}.lanes);
  // Test parameters: the client sends them, the server takes them from it.
  std::vector<CLI::Option*> client_only;
  client_only.push_back(
      cmd->add_option("--mode", o->mode, "bw (bandwidth, default) or lat (latency)")
          ->check(CLI::IsMember({"bw", "lat"})));
  auto* size = cmd->add_option("--size", o->size,
                               "Message size in bytes; K, M, G suffixes (default 65536 for bw, 2 "
                               "for lat; at most 1G)")
                   ->check(tools::sizeValidator());
  client_only.push_back(size);
  auto* iters = cmd->add_option("-n,--iters", o->iters,
                                "Messages (bw) or round trips (lat) per size (default 5000 bw, "
                                "1000 lat)")
                    ->check(CLI::Range(uint64_t{2}, kMaxIterations));
  client_only.push_back(iters);
  auto* dur = cmd->add_option("-D,--duration", o->duration,
                              "Run each size for SEC seconds instead of counting iterations")
                  ->type_name("SEC")
                  ->check(CLI::Range(0.001, 86400.0))
                  ->excludes(iters);
  client_only.push_back(dur);
  client_only.push_back(cmd->add_flag("-a,--all", o->all,
                                      "Sweep sizes 2 B to 64 MiB in powers of two; large sizes "
                                      "use fewer iterations (about 256 MiB per size)")
                            ->excludes(size));
  client_only.push_back(
      cmd->add_flag("--bidir", o->bidir, "bw: both sides send at once; rows add both directions"));
  client_only.push_back(
      cmd->add_option("--tx-depth", o->tx_depth, "Messages in flight per direction (default 32)")
          ->check(CLI::Range(1u, kMaxDepth)));
  client_only.push_back(cmd->add_flag("--verify", o->verify,
                                      "Fill payloads with a pattern and check it on receipt; "
                                      "exit status 3 on a mismatch"));
  for (CLI::Option* opt : client_only) srv->excludes(opt);
  cmd->add_flag("--json", o->json, "Print one JSON object per size instead of the table");
  auto* plot = cmd->add_option("--plot", o->plot,
                               "Also draw the rows as an SVG chart in FILE (bandwidth or latency "
                               "against message size; most useful with -a)")
                   ->type_name("FILE");
  srv->excludes(plot);
  cmd->footer(
      "Environment: FARLINK_* variables set channel options (see libfarlink(3)).\n"
      "Exit status: 0 success, 1 runtime or transport error, 2 usage error, 3 data verification "
      "failed. See farlink-perf(1).");
  return cmd;
}

int runPerf(const PerfOptions& o) {
  if (!o.size.empty()) {
    const uint64_t size = *tools::parseSize(o.size);
    if (size == 0 || size > kMaxMessageSize) {
      printUsageError("--size must be between 1 and 1G bytes");
      return kExitUsage;
    }
  }
  if (o.bidir && o.mode == "lat") {
    printUsageError("--bidir applies to --mode bw only");
    return kExitUsage;
  }
  ChannelOptions defaults;
  Result<ChannelOptions> copts = tools::makeChannelOptions(o.channel, defaults);
  if (copts && !o.server && !o.bind.empty()) {
    copts->source_address = o.bind;
    if (Status s = copts->validate(); !s) copts = s;
  }
  if (!copts) {
    printUsageError(tools::describe(copts.status()));
    return kExitUsage;
  }
  if (o.server) return runServer(o, *copts);
  const std::vector<TestSpec> specs = makeSpecs(o);
  if (!o.client_host.empty()) return runClient(o, *copts, specs);
  return runEmbedded(o, *copts, specs);
}

}  // namespace farlink::perf
