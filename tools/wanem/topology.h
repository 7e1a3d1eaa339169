// The emulated link's plumbing: two network namespaces "<name>-a" and
// "<name>-b", each holding a TUN device "wan0" whose file descriptor this
// process keeps, plus the run-time files under /run/farlink-wanem.
// Namespaces and addresses are set up with iproute2's `ip`, run by fork/exec
// (no shell), so errors come back as ip's own words.
#pragma once

#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "farlink/status.h"

namespace farlink::wanem {

constexpr const char* kTunName = "wan0";
// Every packet read from or written to the TUN fds starts with a
// struct virtio_net_hdr of this size (IFF_VNET_HDR); the forwarder passes it
// through untouched and the link model does not count it.
constexpr size_t kVnetHeaderBytes = 10;

struct TopologyConfig {
  std::string name = "flw";
  int mtu = 1500;
  std::string addr_a = "10.99.0.1/30";
  std::string addr_b = "10.99.0.2/30";
};

// "<name>-a" / "<name>-b".
std::string namespaceName(const std::string& name, char side);
std::string runDir();  // /run/farlink-wanem
std::string socketPath(const std::string& name);
std::string pidPath(const std::string& name);
std::string logPath(const std::string& name);

// Root (CAP_NET_ADMIN) and /dev/net/tun present; the message says what to do.
Status checkCanCreate(const std::string& action);
// A link name usable in file names and namespace names.
Status validateName(const std::string& name);
bool namespaceExists(const std::string& ns);

// Runs `argv` (argv[0] looked up in PATH) and waits. Fails with the command's
// stderr in the message when it exits non-zero.
Status runCommand(const std::vector<std::string>& argv);

class Topology {
 public:
  // Creates both namespaces and TUN devices, configured and up. On failure
  // everything created so far is removed again.
  static Result<Topology> create(const TopologyConfig& config);
  Topology(Topology&& o) noexcept;
  Topology& operator=(Topology&&) = delete;
  // Closes the TUN devices (which removes them) and deletes the namespaces.
  ~Topology();

  int fdA() const { return tun_a_.get(); }
  int fdB() const { return tun_b_.get(); }
  const TopologyConfig& config() const { return config_; }

 private:
  Topology() = default;
  TopologyConfig config_;
  bool own_ = false;  // false once moved from
  UniqueFd tun_a_, tun_b_;
};

// Deletes the namespaces of link `name` if they exist (idempotent). Returns
// how many it deleted.
Result<int> deleteNamespaces(const std::string& name);

}  // namespace farlink::wanem
