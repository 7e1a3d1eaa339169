#include "topology.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace farlink::wanem {

std::string namespaceName(const std::string& name, char side) { return name + "-" + side; }
std::string runDir() { return "/run/farlink-wanem"; }
std::string socketPath(const std::string& name) { return runDir() + "/" + name + ".sock"; }
std::string pidPath(const std::string& name) { return runDir() + "/" + name + ".pid"; }
std::string logPath(const std::string& name) { return runDir() + "/" + name + ".log"; }

Status checkCanCreate(const std::string& action) {
  if (geteuid() != 0) {
    return Status(StatusCode::kNotSupported,
                  fmt::format("{} needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network "
                              "namespaces and TUN devices): run it with sudo",
                              action));
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    return Status(StatusCode::kNotSupported,
                  fmt::format("{}: /dev/net/tun is missing or not accessible; load the tun module "
                              "(modprobe tun) or give the container the device",
                              action),
                  errno);
  }
  return Status::ok();
}

Status validateName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 40 && name[0] != '-' && name[0] != '.';
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) ok = false;
  }
  if (!ok) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("link name '{}' is not usable: use 1-40 letters, digits, '-', '_' or '.'",
                              name));
  }
  return Status::ok();
}

bool namespaceExists(const std::string& ns) {
  struct stat st{};
  return ::stat(("/run/netns/" + ns).c_str(), &st) == 0;
}

Status runCommand(const std::vector<std::string>& argv) {
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return Status(StatusCode::kIoError, "cannot create a pipe to run " + argv[0], errno);
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(err_pipe[0]);
    close(err_pipe[1]);
    return Status(StatusCode::kIoError, "cannot fork to run " + argv[0], errno);
  }
  if (pid == 0) {
    dup2(err_pipe[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    dprintf(STDERR_FILENO, "cannot execute %s: %s", args[0], std::strerror(errno));
    _exit(127);
  }
  close(err_pipe[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(err_pipe[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) err.append(buf, static_cast<size_t>(n));
  }
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return Status(StatusCode::kIoError, fmt::format("'{}' failed: {}", cmd,
                                                  err.empty() ? "no error message" : err));
}

namespace {

// Opens a TUN device inside namespace `ns`. The fd keeps working after this
// thread returns to its original namespace; the device stays in `ns`.
Result<UniqueFd> openTunIn(const std::string& ns) {
  UniqueFd orig(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  UniqueFd target(open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
  if (!orig.valid() || !target.valid()) {
    return Status(StatusCode::kIoError, fmt::format("cannot open network namespace {}", ns), errno);
  }
  if (setns(target.get(), CLONE_NEWNET) != 0) {
    return Status(StatusCode::kIoError, fmt::format("cannot enter network namespace {}", ns), errno);
  }
  UniqueFd tun(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  int saved = errno;
  Status s;
  if (!tun.valid()) {
    s = Status(StatusCode::kIoError, "cannot open /dev/net/tun", saved);
  } else {
    ifreq ifr{};
    // A virtio-net header lets checksums stay "partial" end to end, like a
    // NIC with checksum offload: without it the kernel checksums every
    // packet on both sides, which costs a third of the 10 Gb/s budget.
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", kTunName);
    if (ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
      s = Status(StatusCode::kIoError, fmt::format("cannot create TUN device {} in {}", kTunName, ns),
                 errno);
    } else if (ioctl(tun.get(), TUNSETOFFLOAD, static_cast<unsigned long>(TUN_F_CSUM)) != 0) {
      s = Status(StatusCode::kIoError, fmt::format("cannot enable checksum offload on {} in {}",
                                                   kTunName, ns), errno);
    }
    // IPv6 would add router solicitations and MLD reports to the emulated
    // link's traffic and counters; farlink's tests and benches use IPv4.
    UniqueFd v6(open("/proc/sys/net/ipv6/conf/wan0/disable_ipv6", O_WRONLY | O_CLOEXEC));
    if (v6.valid()) (void)!write(v6.get(), "1", 1);
  }
  if (setns(orig.get(), CLONE_NEWNET) != 0) {
    // Staying in the wrong namespace would misdirect every later step.
    return Status(StatusCode::kIoError, "cannot return to the original network namespace", errno);
  }
  if (!s) return s;
  return tun;
}

}  // namespace

Result<Topology> Topology::create(const TopologyConfig& config) {
  Topology t;
  t.config_ = config;
  std::string na = namespaceName(config.name, 'a'), nb = namespaceName(config.name, 'b');
  for (const auto& ns : {na, nb}) {
    if (namespaceExists(ns)) {
      return Status(StatusCode::kResourceExhausted,
                    fmt::format("network namespace {} already exists: link '{}' is in use or a "
                                "previous run crashed; run 'farlink-wanem down --name {}' or pick "
                                "another --name",
                                ns, config.name, config.name));
    }
  }
  // From here on the destructor cleans up whatever exists.
  t.own_ = true;
  for (const auto& ns : {na, nb}) {
    if (Status s = runCommand({"ip", "netns", "add", ns}); !s) return s;
  }
  auto a = openTunIn(na);
  if (!a) return a.status();
  t.tun_a_ = std::move(*a);
  auto b = openTunIn(nb);
  if (!b) return b.status();
  t.tun_b_ = std::move(*b);
  std::string mtu = std::to_string(config.mtu);
  for (auto [ns, addr] : {std::pair{na, config.addr_a}, std::pair{nb, config.addr_b}}) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "-n", ns, "link", "set", "lo", "up"},
             {"ip", "-n", ns, "link", "set", kTunName, "mtu", mtu, "txqueuelen", "1000", "up"},
             {"ip", "-n", ns, "addr", "add", addr, "dev", kTunName}}) {
      if (Status s = runCommand(argv); !s) return s;
    }
  }
  return t;
}

Topology::Topology(Topology&& o) noexcept
    : config_(std::move(o.config_)),
      own_(std::exchange(o.own_, false)),
      tun_a_(std::move(o.tun_a_)),
      tun_b_(std::move(o.tun_b_)) {}

Topology::~Topology() {
  if (!own_) return;
  tun_a_.reset();
  tun_b_.reset();
  auto r = deleteNamespaces(config_.name);
  if (!r) std::fprintf(stderr, "farlink-wanem: %s\n", r.status().toString().c_str());
}

Result<int> deleteNamespaces(const std::string& name) {
  int deleted = 0;
  for (char side : {'a', 'b'}) {
    std::string ns = namespaceName(name, side);
    if (!namespaceExists(ns)) continue;
    if (Status s = runCommand({"ip", "netns", "del", ns}); !s) return s;
    ++deleted;
  }
  return deleted;
}

}  // namespace farlink::wanem
