// farlink-wanem: a long-haul link emulator on TUN devices between two
// network namespaces. Command-line parsing only; see commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "link_options.h"
#include "units.h"

using namespace farlink::wanem;

namespace {

void addName(CLI::App* app, std::string* name) {
  app->add_option("--name", *name,
                  "Link name: namespaces are NAME-a and NAME-b, the control socket "
                  "/run/farlink-wanem/NAME.sock (default flw)")
      ->type_name("NAME");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Long-haul link emulator: two network namespaces joined by TUN devices, with delay, jitter,\n"
      "rate, queue, loss and blackouts per direction (for kernels without netem)."};
  app.require_subcommand(1);
  app.footer(
      "Run 'farlink-wanem SUBCOMMAND --help' for each subcommand's options.\n"
      "Exit status: 0 success, 1 runtime error, 2 usage error; exec returns the command's status.\n"
      "See farlink-wanem(1).");

  std::string name = "flw";

  UpOptions up;
  auto* up_cmd = app.add_subcommand("up", "Create the link and forward packets until interrupted or 'down'");
  addName(up_cmd, &name);
  up_cmd->add_option("--mtu", up.topology.mtu, "MTU of both TUN devices, 68-65535 (default 1500)")
      ->check(CLI::Range(68, 65535));
  up_cmd->add_option("--addr-a", up.topology.addr_a, "Address/prefix of side A (default 10.99.0.1/30)")
      ->type_name("ADDR/LEN");
  up_cmd->add_option("--addr-b", up.topology.addr_b, "Address/prefix of side B (default 10.99.0.2/30)")
      ->type_name("ADDR/LEN");
  up_cmd->add_flag("--daemon", up.daemon,
                   "Detach once the link is ready; pid in /run/farlink-wanem/NAME.pid, log in NAME.log");
  up_cmd->add_option_function<std::string>(
            "--buffer",
            [&](const std::string& t) {
              auto v = parseBytes(t);
              if (!v) throw CLI::ValidationError("--buffer", v.status().message());
              up.buffer_bytes = *v;
            },
            "Packet buffer memory per direction; packets beyond it count as 'buffer' drops "
            "(default 256MiB, backed by RAM only as used)")
      ->type_name("SIZE");
  up_cmd->add_option("--seed", up.seed, "Random seed for loss and jitter (default: a random one)");
  addLinkOptions(up_cmd, &up.patch);

  auto* down_cmd = app.add_subcommand(
      "down", "Stop the link and remove its namespaces and files (idempotent; also cleans up after a crash)");
  addName(down_cmd, &name);

  char side = 'a';
  std::string side_text;
  std::vector<std::string> command;
  auto* exec_cmd = app.add_subcommand("exec", "Run a command inside namespace A or B: exec {a|b} -- CMD ARGS...");
  exec_cmd->add_option("side", side_text, "a or b")->required()->check(CLI::IsMember({"a", "b"}));
  addName(exec_cmd, &name);
  exec_cmd->add_option("command", command, "The command and its arguments (after --)")->required();

  auto* ctl_cmd = app.add_subcommand("ctl", "Talk to a running link: stats, set, blackout, reset");
  addName(ctl_cmd, &name);
  ctl_cmd->require_subcommand(1);
  bool json = false;
  auto* stats_cmd = ctl_cmd->add_subcommand("stats", "Print per-direction parameters and counters");
  stats_cmd->add_flag("--json", json, "Print JSON instead of text");
  LinkPatch set_patch;
  auto* set_cmd = ctl_cmd->add_subcommand("set", "Change link options at run time (unset ones keep their value)");
  addLinkOptions(set_cmd, &set_patch);
  int64_t blackout_ns = 0;
  auto* blackout_cmd = ctl_cmd->add_subcommand("blackout", "Drop every packet in both directions for DURATION");
  blackout_cmd
      ->add_option_function<std::string>(
          "duration",
          [&](const std::string& t) {
            auto v = parseDuration(t);
            if (!v) throw CLI::ValidationError("DURATION", v.status().message());
            blackout_ns = *v;
          },
          "How long, e.g. 2s or 500ms")
      ->type_name("DURATION")
      ->required();

  int reset_connections = 1, reset_port = 0;
  auto* reset_cmd = ctl_cmd->add_subcommand(
      "reset",
      "Reset TCP connections crossing the link, as a middlebox would: the next segment of each "
      "is replaced by a RST (IPv4)");
  reset_cmd->add_option("--connections", reset_connections, "How many connections (default 1)")
      ->check(CLI::Range(1, 1000000));
  reset_cmd->add_option("--port", reset_port, "Only connections with this port at either end (default: any)")
      ->check(CLI::Range(1, 65535));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  if (*up_cmd) {
    up.topology.name = name;
    return runUp(up);
  }
  if (*down_cmd) return runDown(name);
  if (*exec_cmd) {
    side = side_text[0];
    return runExec(name, side, command);
  }
  if (*stats_cmd) return runStats(name, json);
  if (*set_cmd) return runSet(name, set_patch);
  if (*blackout_cmd) return runBlackout(name, blackout_ns);
  if (*reset_cmd) return runReset(name, reset_connections, reset_port);
  return kExitUsage;
}
