#include "farlink/status.h"

#include <cstring>

namespace farlink {

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInProgress: return "in progress";
    case StatusCode::kAgain: return "try again";
    case StatusCode::kTimedOut: return "timed out";
    case StatusCode::kPeerClosed: return "peer closed";
    case StatusCode::kProtocolError: return "protocol error";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kNotSupported: return "not supported";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kCancelled: return "cancelled";
  }
  return "unknown status";
}

std::string Status::toString() const {
  if (isOk()) return "ok";
  std::string s(statusCodeName(code_));
  if (!message_.empty()) s += ": " + message_;
  // Name the errno unless the message already carries its text.
  if (errno_ != 0) {
    const char* e = std::strerror(errno_);
    if (message_.find(e) == std::string::npos) s += std::string(" (") + e + ")";
  }
  return s;
}

}  // namespace farlink
