#include "probe/probe.h"

#include <cstdio>

#include "core/channel_impl.h"
#include "probe/interfaces.h"
#include "probe/path.h"
#include "probe/rdma.h"
#include "probe/recommend.h"

namespace farlink::probe {

using tools::kExitError;
using tools::kExitOk;
using tools::kExitUsage;

CLI::App* addProbeCommand(CLI::App& app, ProbeOptions* o) {
  CLI::App* cmd = app.add_subcommand(
      "probe", "RDMA devices, GIDs and interfaces here; with HOST: datapath, RTT and sizing");
  cmd->add_option("HOST", o->host,
                  "Peer to probe: which datapath auto would use, the RTT to it, and with --rate "
                  "the settings for that rate");
  cmd->add_option("-p,--port", o->port,
                  "Peer port: a farlink listener there (farlink ping -s) answers pings, "
                  "otherwise TCP connects are timed (default 7174)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("-n,--count", o->count, "Round trips to time (default 10)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--rate", o->rate,
                  "Target rate, tc units (10gbit, 500mbit): prints BDP, lanes, window and socket "
                  "buffer under this kernel's limits")
      ->type_name("RATE")
      ->check(CLI::Validator(
          [](std::string& t) {
            return parseRate(t) ? std::string() : "not a rate: '" + t + "' (use e.g. 10gbit)";
          },
          "RATE"));
  cmd->add_option("--rtt", o->rtt_ms, "Use this RTT in ms for --rate instead of measuring")
      ->type_name("MS")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "One JSON object instead of text");
  tools::addTransportOption(cmd, &o->channel);
  cmd->footer(
      "Environment: FARLINK_PSK and other FARLINK_* variables apply to the ping exchange.\n"
      "Exit status: 0 success, 1 runtime error (e.g. no RTT to HOST), 2 usage error. "
      "See farlink-probe(1).");
  return cmd;
}

int runProbe(const ProbeOptions& o) {
  if (!o.rate.empty() && o.host.empty() && o.rtt_ms <= 0) {
    tools::printError("probe", "--rate needs a round-trip time: give HOST or --rtt MS");
    return kExitUsage;
  }
  ProbeReport rep;
  int rc = kExitOk;
  rep.rdma_built = rdmaCoreBuilt();
  Result<std::vector<RdmaDevice>> devs = listRdmaDevices();
  if (devs)
    rep.devices = std::move(*devs);
  else
    rep.rdma_error = devs.status().message();
  for (const std::string& name : registeredTransports()) {
    const TransportFactory* f = findTransport(name);
    if (f == nullptr || !f->resources) continue;
    DatapathResources d;
    d.name = name;
    if (auto r = f->resources()) d.resources = std::move(*r);
    else d.error = r.status().message();
    if (f->unusable) d.auto_note = f->unusable(Uri{name, "127.0.0.1", 0}, ChannelOptions());
    rep.datapaths.push_back(std::move(d));
  }
  Result<std::vector<NetInterface>> ifs = listInterfaces();
  if (!ifs) {
    tools::printError("probe", tools::describe(ifs.status()));
    return kExitError;
  }
  rep.interfaces = std::move(*ifs);
  Result<KernelLimits> limits = readKernelLimits();
  if (limits) rep.limits = *limits;

  if (!o.host.empty()) {
    rep.host = o.host;
    rep.port = o.port;
    rep.choice = chooseTransport(o.host, registeredTransports());
    std::string note;
    Result<RttSummary> rtt = measureRtt(o.host, o.port, o.count, o.channel, &note);
    if (rtt) {
      rep.rtt = *rtt;
      rep.rtt_error = note;  // why it fell back to TCP connects, if it did
    } else {
      rep.rtt_error = tools::failedTo("cannot measure the RTT to " +
                                          tools::hostPort(o.host, o.port),
                                      rtt.status());
      rc = kExitError;
    }
  }
  if (!o.rate.empty()) {
    const double rtt_ms = o.rtt_ms > 0 ? o.rtt_ms : rep.rtt ? rep.rtt->median_ms : 0;
    if (!limits) {
      tools::printError("probe", "cannot size for --rate: " + limits.status().message());
      rc = kExitError;
    } else if (rtt_ms > 0) {
      rep.recommendation = recommend(*parseRate(o.rate), rtt_ms, *limits);
    }
  }
  if (o.json) {
    std::printf("%s\n", toJson(rep).c_str());
  } else {
    printText(stdout, rep);
  }
  std::fflush(stdout);
  if (rc != kExitOk && !rep.rtt_error.empty() && !rep.rtt) tools::printError("probe", rep.rtt_error);
  return rc;
}

}  // namespace farlink::probe
