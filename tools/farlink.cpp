// The farlink command: dispatches to its subcommands (see man/farlink.1.md).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include "coll/coll.h"
#include "common/cli.h"
#include "perf/perf.h"
#include "ping/ping.h"
#include "probe/probe.h"

#ifndef FARLINK_VERSION
#define FARLINK_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using farlink::tools::kExitError;
  using farlink::tools::kExitUsage;
  // A peer that vanishes must surface as an error status, not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app("farlink: transport tools for long-haul links between compute sites", "farlink");
  app.set_version_flag("--version", std::string("farlink ") + FARLINK_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);
  farlink::perf::PerfOptions perf;
  farlink::ping::PingOptions ping;
  CLI::App* perf_cmd = farlink::perf::addPerfCommand(app, &perf);
  CLI::App* ping_cmd = farlink::ping::addPingCommand(app, &ping);
  farlink::probe::ProbeOptions probe;
  CLI::App* probe_cmd = farlink::probe::addProbeCommand(app, &probe);
  farlink::colltool::CollOptions coll;
  CLI::App* coll_cmd = farlink::colltool::addCollCommand(app, &coll);
  app.footer(
      "Exit status: 0 success, 1 runtime or transport error, 2 usage error, 3 data verification "
      "failed.\nSee farlink(1), farlink-perf(1), farlink-ping(1), farlink-probe(1), "
      "farlink-coll(1).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Name the subcommand the user was typing, so the hint points at its --help.
    std::string tool;
    if (argc > 1 && (std::strcmp(argv[1], "perf") == 0 || std::strcmp(argv[1], "ping") == 0 ||
                     std::strcmp(argv[1], "probe") == 0 || std::strcmp(argv[1], "coll") == 0))
      tool = argv[1];
    std::fflush(stdout);
    std::fprintf(stderr, "farlink%s%s: %s\n", tool.empty() ? "" : " ", tool.c_str(), e.what());
    std::fprintf(stderr, "Run 'farlink%s%s --help' for the options.\n", tool.empty() ? "" : " ",
                 tool.c_str());
    return kExitUsage;
  }

  try {
    if (app.got_subcommand(perf_cmd)) return farlink::perf::runPerf(perf);
    if (app.got_subcommand(ping_cmd)) return farlink::ping::runPing(ping);
    if (app.got_subcommand(probe_cmd)) return farlink::probe::runProbe(probe);
    if (app.got_subcommand(coll_cmd)) return farlink::colltool::runColl(coll);
  } catch (const std::bad_alloc&) {
    farlink::tools::printError(app.get_subcommands().front()->get_name(),
                               "out of memory for the test buffers; try smaller sizes");
    return kExitError;
  }
  return kExitUsage;
}
