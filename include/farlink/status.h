// Status and Result<T>: how every farlink call reports success or failure.
// No exception crosses the library boundary; callers check these values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace farlink {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInProgress,        // non-blocking call: not finished yet, try again later
  kAgain,             // resource temporarily busy; retry
  kTimedOut,          // a deadline passed
  kPeerClosed,        // the peer closed the channel or vanished
  kProtocolError,     // the peer sent bytes that break the wire protocol
  kUnauthenticated,   // pre-shared-key check failed or was missing
  kNotSupported,      // transport/feature not available in this build or system
  kInvalidArgument,   // the caller passed something unusable
  kIoError,           // an operating-system call failed (errno is set)
  kResourceExhausted, // a configured limit would be exceeded
  kCancelled,         // the operation was abandoned because the channel closed
};

// Human-readable name of a code, e.g. "timed out".
std::string_view statusCodeName(StatusCode code);

// A code, an optional errno and a message naming the peer, the operation and
// what to do. Cheap to copy when OK (empty message).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, int sys_errno = 0)
      : code_(code), errno_(sys_errno), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  int sysErrno() const { return errno_; }
  const std::string& message() const { return message_; }
  // "timed out: recv from 10.0.0.2:7174 ..." — suitable for a log line.
  std::string toString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  int errno_ = 0;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  // The error; an OK Status when a value is held.
  Status status() const { return isOk() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace farlink
