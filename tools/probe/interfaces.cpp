#include "probe/interfaces.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <fstream>
#include <memory>

namespace farlink::probe {
namespace {

struct IfAddrsDeleter {
  void operator()(ifaddrs* a) const noexcept { freeifaddrs(a); }
};

int prefixLength(const sockaddr* mask) {
  if (!mask) return -1;
  const auto* bytes = mask->sa_family == AF_INET
                          ? reinterpret_cast<const uint8_t*>(
                                &reinterpret_cast<const sockaddr_in*>(mask)->sin_addr)
                          : reinterpret_cast<const uint8_t*>(
                                &reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
  const size_t n = mask->sa_family == AF_INET ? 4 : 16;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) bits += std::popcount(bytes[i]);
  return bits;
}

std::string addressText(const ifaddrs& a) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* src =
      a.ifa_addr->sa_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a.ifa_addr)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a.ifa_addr)->sin6_addr);
  inet_ntop(a.ifa_addr->sa_family, src, text, sizeof text);
  std::string out = text;
  if (int p = prefixLength(a.ifa_netmask); p >= 0) out += "/" + std::to_string(p);
  return out;
}

// getifaddrs has no MTU; sysfs has it without needing a socket and ioctl.
int readMtu(const std::string& name) {
  std::ifstream in("/sys/class/net/" + name + "/mtu");
  int mtu = 0;
  in >> mtu;
  return mtu;
}

}  // namespace

Result<std::vector<NetInterface>> listInterfaces() {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0)
    return Status(StatusCode::kIoError, "getifaddrs failed: cannot list network interfaces",
                  errno);
  std::unique_ptr<ifaddrs, IfAddrsDeleter> list(raw);
  std::vector<NetInterface> out;
  for (const ifaddrs* a = raw; a; a = a->ifa_next) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const NetInterface& i) { return i.name == a->ifa_name; });
    if (it == out.end()) {
      NetInterface i;
      i.name = a->ifa_name;
      i.up = (a->ifa_flags & IFF_UP) != 0;
      i.running = (a->ifa_flags & IFF_RUNNING) != 0;
      i.mtu = readMtu(i.name);
      out.push_back(std::move(i));
      it = out.end() - 1;
    }
    if (a->ifa_addr && (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6))
      it->addresses.push_back(addressText(*a));
  }
  return out;
}

}  // namespace farlink::probe
