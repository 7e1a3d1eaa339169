#include "core/uri.h"

#include <charconv>

namespace farlink {

std::string Uri::hostPort() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Uri> parseUri(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status(StatusCode::kInvalidArgument,
                  "address '" + std::string(text) + "' " + why +
                      " (expected scheme://host:port, e.g. tcp://10.0.0.2:7174)");
  };
  Uri u;
  std::string_view rest = text;
  if (auto p = rest.find("://"); p != std::string_view::npos) {
    u.scheme = std::string(rest.substr(0, p));
    rest.remove_prefix(p + 3);
  } else {
    u.scheme = "tcp";
  }
  if (u.scheme.empty()) return bad("has an empty scheme");
  std::string_view host, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed '['");
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (rest.empty() || rest.front() != ':') return bad("lacks a port");
    port = rest.substr(1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("lacks a port");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("needs [brackets] around IPv6");
  }
  if (host.empty()) return bad("lacks a host");
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (ec != std::errc() || ptr != port.data() + port.size() || v > 65535 || port.empty())
    return bad("has an invalid port");
  u.host = std::string(host);
  u.port = static_cast<uint16_t>(v);
  return u;
}

}  // namespace farlink
