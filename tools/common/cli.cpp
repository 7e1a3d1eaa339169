#include "common/cli.h"

#include "core/channel_impl.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>

namespace farlink::tools {

std::optional<uint64_t> parseSize(std::string_view text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view suffix = text.substr(i);
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'B':
        shift = 0;
        break;
      default:
        return std::nullopt;
    }
    // Accept "K", "KB", "KiB" (all binary, like perftest's and iperf's suffixes).
    suffix.remove_prefix(1);
    if (shift != 0 && (suffix == "i" || suffix == "iB" || suffix == "ib")) suffix = {};
    if (shift != 0 && (suffix == "B" || suffix == "b")) suffix = {};
    if (!suffix.empty()) return std::nullopt;
  }
  if (shift != 0 && value > (std::numeric_limits<uint64_t>::max() >> shift)) return std::nullopt;
  return value << shift;
}

CLI::Validator sizeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parseSize(text) ? std::string()
                               : "not a size: '" + text + "' (use e.g. 4096, 64K, 1M)";
      },
      "SIZE");
}

std::string formatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned unit = 0;
  while (unit + 1 < std::size(kUnits) && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + " " + kUnits[unit];
}

std::string hostPort(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos && host.front() != '[';
  std::string out = v6 ? "[" + std::string(host) + "]" : std::string(host);
  return out + ":" + std::to_string(port);
}

std::string makeUri(std::string_view transport, std::string_view host, uint16_t port) {
  return std::string(transport) + "://" + hostPort(host, port);
}

void printError(std::string_view tool, std::string_view message) {
  std::fflush(stdout);  // keep stdout's lines before the error when both go to a terminal
  std::fprintf(stderr, "farlink %.*s: %.*s\n", static_cast<int>(tool.size()), tool.data(),
               static_cast<int>(message.size()), message.data());
}

std::string failedTo(const std::string& what, const Status& s) {
  // The library's own "<what>: <reason>" says it all; its code name would
  // only repeat it.
  if (s.message().rfind(what, 0) == 0) {
    std::string out = s.message();
    const char* e = s.sysErrno() ? std::strerror(s.sysErrno()) : nullptr;
    if (e && out.find(e) == std::string::npos) out += std::string(" (") + e + ")";
    return out;
  }
  return what + ": " + s.toString();
}

void addTransportOption(CLI::App* app, ChannelFlags* flags) {
  std::string built;
  for (const std::string& name : registeredTransports()) built += (built.empty() ? "" : ", ") + name;
  app->add_option("--transport", flags->transport,
                  "Datapath: tcp (default); verbs: RDMA RC queue pairs, HOST an address of an "
                  "RDMA netdev; auto: verbs when an RDMA device reaches the peer, else tcp. "
                  "This build has: " + built + "; others answer 'not supported'")
      ->check(CLI::IsMember({"tcp", "verbs", "ucx", "auto"}));
}

void addLaneAndKeyOptions(CLI::App* app, ChannelFlags* flags, int default_lanes) {
  app->add_option("--lanes", flags->lanes,
                  "Parallel connections per channel, 1-64 (default: FARLINK_LANES or " +
                      std::to_string(default_lanes) + ")")
      ->check(CLI::Range(1, 64));
  app->add_option("--psk", flags->psk,
                  "Pre-shared key both sides must know (default: FARLINK_PSK). Visible in ps(1); "
                  "prefer the variable");
}

Result<ChannelOptions> makeChannelOptions(const ChannelFlags& flags, ChannelOptions defaults) {
  Result<ChannelOptions> env = ChannelOptions::fromEnvironment(std::move(defaults));
  if (!env) return env.status();
  ChannelOptions options = std::move(env).value();
  if (flags.lanes > 0) options.lanes = flags.lanes;
  if (!flags.psk.empty()) options.psk = flags.psk;
  if (Status s = options.validate(); !s) return s;
  return options;
}

}  // namespace farlink::tools
