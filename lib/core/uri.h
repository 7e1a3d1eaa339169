// "scheme://host:port" parsing for channel and listener addresses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "farlink/status.h"

namespace farlink {

struct Uri {
  std::string scheme;  // "tcp", "verbs", ...
  std::string host;    // without IPv6 brackets
  uint16_t port = 0;
  std::string hostPort() const;  // "host:port", IPv6 bracketed
};

// Accepts "tcp://h:p", "tcp://[::1]:p"; a missing scheme means "tcp".
Result<Uri> parseUri(std::string_view text);

}  // namespace farlink
