#include "plugin/nccl/devices.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace farlink::nccl {
namespace {

namespace fs = std::filesystem;

std::string readLine(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

struct RdmaPort {
  std::string name;  // "rxe0 port 1"
  int rate_mbps = 0;
};

// netdev -> RDMA port, from the GID table's netdev names (RoCE hardware and
// Soft-RoCE alike list the netdev each GID belongs to).
std::map<std::string, RdmaPort> rdmaPorts() {
  std::map<std::string, RdmaPort> out;
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator("/sys/class/infiniband", ec)) {
    for (const auto& port : fs::directory_iterator(dev.path() / "ports", ec)) {
      RdmaPort rp{dev.path().filename().string() + " port " + port.path().filename().string(),
                  parseIbRateMbps(readLine(port.path() / "rate"))};
      for (const auto& nd : fs::directory_iterator(port.path() / "gid_attrs" / "ndevs", ec)) {
        std::string netdev = readLine(nd.path());  // unused GID slots fail to read
        if (!netdev.empty()) out.emplace(netdev, rp);
      }
    }
  }
  return out;
}

bool wanted(const PluginConfig& c, const std::string& ifname, bool loopback) {
  if (!c.ifnames.empty())
    return std::find(c.ifnames.begin(), c.ifnames.end(), ifname) != c.ifnames.end();
  return !loopback;
}

void setSpeed(NetDevice& d, const std::map<std::string, RdmaPort>& rdma) {
  if (auto it = rdma.find(d.ifname); it != rdma.end() && it->second.rate_mbps > 0) {
    d.speed_mbps = it->second.rate_mbps;
    d.speed_source = it->second.name + " rate";
    return;
  }
  std::string file = "/sys/class/net/" + d.ifname + "/speed";
  int speed = std::atoi(readLine(file).c_str());  // loopback: no value; down links: -1
  if (speed > 0) {
    d.speed_mbps = speed;
    d.speed_source = file;
  } else {
    d.speed_mbps = 10000;
    d.speed_source = "guess: " + file + " gives no speed";
  }
}

}  // namespace

int parseIbRateMbps(const std::string& rate_line) {
  // "100 Gb/sec (4X EDR)" or "2.5 Gb/sec (1X SDR)"
  char* end = nullptr;
  double gbps = std::strtod(rate_line.c_str(), &end);
  if (end == rate_line.c_str() || gbps <= 0 || std::strncmp(end, " Gb/sec", 7) != 0) return 0;
  return static_cast<int>(gbps * 1000 + 0.5);
}

Result<std::vector<NetDevice>> findDevices(const PluginConfig& config) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return Status(StatusCode::kIoError, "getifaddrs failed while listing interfaces", errno);
  auto rdma = rdmaPorts();
  std::vector<NetDevice> found, loopbacks;
  std::string seen;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || !(a->ifa_flags & IFF_UP)) continue;
    int fam = a->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    NetDevice d;
    d.ifname = a->ifa_name;
    if (fam == AF_INET) {
      std::memcpy(d.addr.data(), &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
    } else {
      const in6_addr& a6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&a6)) continue;  // needs a scope id no handle carries
      d.family = 6;
      std::memcpy(d.addr.data(), &a6, 16);
    }
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(fam, d.addr.data(), text, sizeof text);
    d.address = text;
    seen += (seen.empty() ? "" : ", ") + d.ifname + " " + d.address;
    // One device per interface: its first IPv4 address, else its first IPv6.
    auto same = [&](const NetDevice& o) { return o.ifname == d.ifname; };
    bool loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
    auto& into = loopback && config.ifnames.empty() ? loopbacks : found;
    auto it = std::find_if(into.begin(), into.end(), same);
    if (it != into.end()) {
      if (it->family == 6 && d.family == 4) *it = d;
      continue;
    }
    if (!wanted(config, d.ifname, loopback) && !(loopback && config.ifnames.empty())) continue;
    if (auto r = rdma.find(d.ifname); r != rdma.end()) d.rdma = r->second.name;
    if (config.scheme == Scheme::kVerbs && d.rdma.empty()) continue;
    std::error_code ec;
    fs::path pci = fs::canonical("/sys/class/net/" + d.ifname + "/device", ec);
    if (!ec) d.pci_path = pci.string();
    into.push_back(std::move(d));
  }
  ::freeifaddrs(list);
  // Loopback only when nothing else is up: a single-host run still works.
  if (found.empty()) found = std::move(loopbacks);
  for (auto& d : found) setSpeed(d, rdma);
  if (found.empty()) {
    std::string why = config.scheme == Scheme::kVerbs ? " with an RDMA port" : "";
    return Status(StatusCode::kNotSupported,
                  "no usable interface" + why +
                      " (addresses seen: " + (seen.empty() ? "none" : seen) +
                      "); set FARLINK_NCCL_IFNAME to name one, or FARLINK_NCCL_TRANSPORT=tcp");
  }
  return found;
}

}  // namespace farlink::nccl
