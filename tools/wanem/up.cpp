// `farlink-wanem up`: builds the topology, runs both directions and the
// control socket until a signal or `down`, then removes everything.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>

#include "commands.h"
#include "control.h"
#include "forwarder.h"
#include "stats.h"
#include "units.h"

namespace farlink::wanem {
namespace {

// Where `up` reports readiness or failure: the terminal, or in --daemon mode
// a pipe to the parent that waits for it.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void ready(const std::string& line) { send("ok " + line); }
  int fail(const Status& s) {
    send("error " + s.toString());
    return kExitError;
  }

 private:
  void send(const std::string& msg) {
    if (fd_ < 0) {
      bool ok = msg.rfind("ok ", 0) == 0;
      std::fprintf(ok ? stdout : stderr, "farlink-wanem: %s\n", msg.substr(ok ? 3 : 6).c_str());
      std::fflush(stdout);
      return;
    }
    (void)!::write(fd_, msg.data(), msg.size());
    ::close(fd_);  // the parent stops waiting; the daemon logs to its file from here on
    fd_ = -1;
  }
  int fd_;
};

class Link {
 public:
  Link(const UpOptions& o, LinkParams a2b, LinkParams b2a)
      : options_(o), params_{a2b, b2a}, started_ns_(monotonicNs()) {}

  Status start(Topology* topo) {
    size_t slot = static_cast<size_t>(options_.topology.mtu) + kVnetHeaderBytes;
    uint64_t seed = options_.seed != 0 ? options_.seed : std::random_device{}();
    for (int d = 0; d < 2; ++d) {
      auto pool = PacketPool::create(slot, static_cast<size_t>(options_.buffer_bytes));
      if (!pool) return pool.status();
      int src = d == 0 ? topo->fdA() : topo->fdB();
      int dst = d == 0 ? topo->fdB() : topo->fdA();
      dirs_[d] = std::make_unique<Direction>(d == 0 ? "a2b" : "b2a", src, dst, kVnetHeaderBytes, params_[d],
                                             seed * 2 + static_cast<uint64_t>(d), std::move(*pool),
                                             &resets_);
      dirs_[d]->start();
    }
    return control_.start(socketPath(options_.topology.name),
                          [this](const nlohmann::json& r) { return handle(r); });
  }

  void stop() {
    control_.stop();
    for (auto& d : dirs_) {
      if (d) d->stop();
    }
  }

  nlohmann::json stats() const {
    const auto& t = options_.topology;
    nlohmann::json j = {{"ok", true},
                        {"name", t.name},
                        {"ns_a", namespaceName(t.name, 'a')},
                        {"ns_b", namespaceName(t.name, 'b')},
                        {"addr_a", t.addr_a},
                        {"addr_b", t.addr_b},
                        {"mtu", t.mtu},
                        {"uptime_s", static_cast<double>(monotonicNs() - started_ns_) / 1e9},
                        {"resets_pending", resets_.left()}};
    std::lock_guard lock(params_mu_);
    for (int d = 0; d < 2; ++d) {
      // The parameters as last set: the thread may not have picked them up yet.
      DirectionSnapshot snap = dirs_[d]->snapshot();
      snap.params = params_[d];
      j[d == 0 ? "a2b" : "b2a"] = toJson(snap);
    }
    return j;
  }

  // A direction thread that stopped on an I/O error ends the link.
  std::string failure() const {
    for (const auto& d : dirs_) {
      if (d) {
        auto s = d->snapshot();
        if (!s.error.empty()) return s.error;
      }
    }
    return {};
  }
  bool shutdownRequested() const { return shutdown_.load(); }

 private:
  nlohmann::json handle(const nlohmann::json& r) {
    auto fail = [](const std::string& e) { return nlohmann::json{{"ok", false}, {"error", e}}; };
    std::string cmd = r.value("cmd", "");
    if (cmd == "stats") return stats();
    if (cmd == "shutdown") {
      shutdown_.store(true);
      return {{"ok", true}};
    }
    if (cmd == "blackout") {
      if (!r.contains("duration_ns") || !r["duration_ns"].is_number_integer() ||
          r["duration_ns"].get<int64_t>() < 0) {
        return fail("blackout needs a non-negative integer duration_ns");
      }
      for (auto& d : dirs_) d->blackout(r["duration_ns"].get<int64_t>());
      return {{"ok", true}};
    }
    if (cmd == "reset") {
      const auto& n = r.value("connections", nlohmann::json(1));
      const auto& p = r.value("port", nlohmann::json(0));
      if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > 1'000'000 ||
          !p.is_number_integer() || p.get<int64_t>() < 0 || p.get<int64_t>() > 65535)
        return fail("reset needs connections 1..1000000 and port 0..65535 (0: any)");
      resets_.arm(static_cast<int>(n.get<int64_t>()), static_cast<uint16_t>(p.get<int64_t>()));
      return {{"ok", true}};
    }
    if (cmd == "set") {
      std::lock_guard lock(params_mu_);
      LinkParams next[2] = {params_[0], params_[1]};
      const char* keys[2] = {"a2b", "b2a"};
      for (int d = 0; d < 2; ++d) {
        if (!r.contains(keys[d])) continue;
        auto patch = dirPatchFromJson(r[keys[d]]);
        if (!patch) return fail(patch.status().message());
        patch->applyTo(next[d]);
        if (Status s = next[d].validate(); !s) return fail(fmt::format("{}: {}", keys[d], s.message()));
      }
      for (int d = 0; d < 2; ++d) {
        params_[d] = next[d];
        dirs_[d]->setParams(next[d]);
      }
      return {{"ok", true}, {"a2b", describe(params_[0])}, {"b2a", describe(params_[1])}};
    }
    return fail(fmt::format("unknown command '{}'", cmd));
  }

  UpOptions options_;
  mutable std::mutex params_mu_;
  LinkParams params_[2];
  int64_t started_ns_;
  ResetPlan resets_;  // before dirs_: the directions point at it
  std::unique_ptr<Direction> dirs_[2];
  ControlServer control_;
  std::atomic<bool> shutdown_{false};
};

Status writePidFile(const std::string& path) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return Status(StatusCode::kIoError, "cannot write pid file " + path, errno);
  std::fprintf(f, "%d\n", static_cast<int>(getpid()));
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status(StatusCode::kIoError, "cannot write pid file " + path, errno);
  }
  return Status::ok();
}

// Everything after the checks: runs in the foreground process or the daemon.
int serve(const UpOptions& o, LinkParams a2b, LinkParams b2a, Reporter& report) {
  // Signals are taken synchronously by this thread; block them before any
  // other thread exists so none of those can take them.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto topo = Topology::create(o.topology);
  if (!topo) return report.fail(topo.status());
  Link link(o, a2b, b2a);
  if (Status s = link.start(&*topo); !s) {
    link.stop();
    return report.fail(s);
  }
  std::string pid_file = pidPath(o.topology.name);
  if (Status s = writePidFile(pid_file); !s) {
    link.stop();
    return report.fail(s);
  }
  const auto& t = o.topology;
  report.ready(fmt::format(
      "link '{}' up: {} ({}) <-> {} ({}), mtu {}; A->B {}; B->A {}; control {}", t.name,
      namespaceName(t.name, 'a'), t.addr_a, namespaceName(t.name, 'b'), t.addr_b, t.mtu,
      describe(a2b), describe(b2a), socketPath(t.name)));

  int code = kExitOk;
  while (true) {
    timespec tick{0, 200'000'000};
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig > 0 || link.shutdownRequested()) break;
    if (std::string err = link.failure(); !err.empty()) {
      std::fprintf(stderr, "farlink-wanem: link '%s' stopped: %s\n", t.name.c_str(), err.c_str());
      code = kExitError;
      break;
    }
  }
  nlohmann::json final_stats = link.stats();
  link.stop();
  std::fprintf(stdout, "%s", formatStats(final_stats).c_str());
  ::unlink(pid_file.c_str());
  return code;  // ~Topology removes the devices and namespaces
}

}  // namespace

int runUp(const UpOptions& o) {
  if (Status s = validateName(o.topology.name); !s) {
    printError(s.message());
    return kExitUsage;
  }
  LinkParams a2b, b2a;
  o.patch.a2b.applyTo(a2b);
  o.patch.b2a.applyTo(b2a);
  for (const auto& [dir, p] : {std::pair{"A->B", a2b}, std::pair{"B->A", b2a}}) {
    if (Status s = p.validate(); !s) {
      printError(fmt::format("{}: {}", dir, s.message()));
      return kExitUsage;
    }
  }
  if (Status s = checkCanCreate("farlink-wanem up"); !s) {
    printError(s.message());
    return kExitError;
  }
  if (controlRequest(socketPath(o.topology.name), o.topology.name, {{"cmd", "stats"}}).isOk()) {
    printError(fmt::format("link '{}' is already running; stop it with 'farlink-wanem down --name {}' "
                           "or pick another --name",
                           o.topology.name, o.topology.name));
    return kExitError;
  }
  if (mkdir(runDir().c_str(), 0755) != 0 && errno != EEXIST) {
    printError(fmt::format("cannot create {}: {}", runDir(), std::strerror(errno)));
    return kExitError;
  }
  if (!o.daemon) {
    Reporter report(-1);
    return serve(o, a2b, b2a, report);
  }

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    printError(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    return kExitError;
  }
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    printError(fmt::format("cannot fork: {}", std::strerror(errno)));
    return kExitError;
  }
  if (pid == 0) {
    close(ready[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    int log = open(logPath(o.topology.name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (log >= 0) {
      dup2(log, STDERR_FILENO);
      dup2(log, STDOUT_FILENO);
    }
    if (chdir("/") != 0) {
      // Not fatal: only keeps the daemon from pinning a mount.
    }
    Reporter report(ready[1]);
    int code = serve(o, a2b, b2a, report);
    std::fflush(nullptr);  // _exit skips stdio; the final stats go to the log
    _exit(code);
  }
  close(ready[1]);
  std::string msg;
  char buf[1024];
  ssize_t n;
  while ((n = read(ready[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
  }
  close(ready[0]);
  if (msg.rfind("ok ", 0) == 0) {
    std::printf("farlink-wanem: %s; daemon pid %d\n", msg.substr(3).c_str(), static_cast<int>(pid));
    return kExitOk;
  }
  printError(msg.rfind("error ", 0) == 0
                 ? msg.substr(6)
                 : fmt::format("the daemon exited before the link was ready; see {}",
                               logPath(o.topology.name)));
  return kExitError;
}

}  // namespace farlink::wanem
