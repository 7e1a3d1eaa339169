// `down`, `exec` and `ctl`: the subcommands that act on a link `up` made.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "commands.h"
#include "control.h"
#include "stats.h"
#include "units.h"

namespace farlink::wanem {
namespace {

bool alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

bool waitGone(pid_t pid, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The pid in the link's pid file if that process is a farlink-wanem, else 0
// (pids get reused after a crash).
pid_t daemonPid(const std::string& name) {
  std::ifstream in(pidPath(name));
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string c;
  std::getline(comm, c);
  return c.rfind("farlink-wanem", 0) == 0 ? static_cast<pid_t>(pid) : 0;
}

int reply(const Result<nlohmann::json>& r, const std::string& what) {
  if (!r) {
    printError(r.status().message());
    return kExitError;
  }
  if (!r->value("ok", false)) {
    printError(fmt::format("{} refused: {}", what, r->value("error", std::string("no reason given"))));
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

void printError(const std::string& message) {
  std::fprintf(stderr, "farlink-wanem: %s\n", message.c_str());
}

int runDown(const std::string& name) {
  if (Status s = validateName(name); !s) {
    printError(s.message());
    return kExitUsage;
  }
  if (geteuid() != 0) {
    printError("farlink-wanem down needs root to delete network namespaces: run it with sudo");
    return kExitError;
  }
  bool did = false;
  // The running process removes its own namespaces on the way out.
  pid_t pid = daemonPid(name);
  auto r = controlRequest(socketPath(name), name, {{"cmd", "shutdown"}});
  if (r.isOk()) {
    did = true;
    if (pid != 0 && !waitGone(pid, std::chrono::seconds(5))) {
      kill(pid, SIGKILL);
      waitGone(pid, std::chrono::seconds(2));
    }
  } else if (pid != 0) {
    // Alive but not answering: hung, or still setting up.
    did = true;
    kill(pid, SIGTERM);
    if (!waitGone(pid, std::chrono::seconds(3))) {
      kill(pid, SIGKILL);
      waitGone(pid, std::chrono::seconds(2));
    }
  }
  // A foreground `up` answered shutdown but has no pid file we trust: give
  // it a moment to remove its namespaces itself.
  for (int i = 0; i < 100 && did && namespaceExists(namespaceName(name, 'a')); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto deleted = deleteNamespaces(name);
  if (!deleted) {
    printError(deleted.status().message());
    return kExitError;
  }
  did = did || *deleted > 0;
  for (const auto& f : {socketPath(name), pidPath(name)}) {
    if (::unlink(f.c_str()) == 0) did = true;
  }
  ::unlink(logPath(name).c_str());  // the daemon's log; `up --daemon` already reported any failure
  std::printf("farlink-wanem: link '%s' %s\n", name.c_str(), did ? "is down" : "was not up; nothing to do");
  return kExitOk;
}

int runExec(const std::string& name, char side, const std::vector<std::string>& command) {
  std::string ns = namespaceName(name, side);
  if (!namespaceExists(ns)) {
    printError(fmt::format("link '{}' is not up (no namespace {}); start it with 'farlink-wanem up "
                           "--name {}'",
                           name, ns, name));
    return kExitError;
  }
  // `ip netns exec` also remounts /sys and applies /etc/netns/<ns>, so tools
  // inside see the namespace's own interfaces.
  std::vector<std::string> argv = {"ip", "netns", "exec", ns};
  argv.insert(argv.end(), command.begin(), command.end());
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  execvp("ip", args.data());
  printError(fmt::format("cannot execute ip (iproute2): {}", std::strerror(errno)));
  return kExitError;
}

int runStats(const std::string& name, bool json) {
  auto r = controlRequest(socketPath(name), name, {{"cmd", "stats"}});
  if (int code = reply(r, "stats"); code != kExitOk) return code;
  nlohmann::json j = *r;
  j.erase("ok");
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", formatStats(j).c_str());
  }
  return kExitOk;
}

int runSet(const std::string& name, const LinkPatch& patch) {
  if (patch.empty()) {
    printError("ctl set: give at least one link option, e.g. --delay 20ms (see --help)");
    return kExitUsage;
  }
  nlohmann::json req = {{"cmd", "set"}};
  if (!patch.a2b.empty()) req["a2b"] = toJson(patch.a2b);
  if (!patch.b2a.empty()) req["b2a"] = toJson(patch.b2a);
  auto r = controlRequest(socketPath(name), name, req);
  if (int code = reply(r, "set"); code != kExitOk) return code;
  std::printf("farlink-wanem: link '%s' A->B: %s\nfarlink-wanem: link '%s' B->A: %s\n", name.c_str(),
              r->value("a2b", "").c_str(), name.c_str(), r->value("b2a", "").c_str());
  return kExitOk;
}

int runBlackout(const std::string& name, int64_t duration_ns) {
  auto r = controlRequest(socketPath(name), name, {{"cmd", "blackout"}, {"duration_ns", duration_ns}});
  if (int code = reply(r, "blackout"); code != kExitOk) return code;
  std::printf("farlink-wanem: link '%s' blacked out for %s\n", name.c_str(),
              formatDuration(duration_ns).c_str());
  return kExitOk;
}

int runReset(const std::string& name, int connections, int port) {
  auto r = controlRequest(socketPath(name), name,
                          {{"cmd", "reset"}, {"connections", connections}, {"port", port}});
  if (int code = reply(r, "reset"); code != kExitOk) return code;
  std::printf("farlink-wanem: link '%s' resets the next %d TCP connection(s)%s crossing it\n",
              name.c_str(), connections,
              port == 0 ? "" : fmt::format(" with port {}", port).c_str());
  return kExitOk;
}

}  // namespace farlink::wanem
