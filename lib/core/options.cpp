#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/channel_impl.h"
#include "core/wire.h"
#include "farlink/options.h"

namespace farlink {
namespace {

bool isNumericAddress(const std::string& text) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, text.c_str(), &a4) == 1 || inet_pton(AF_INET6, text.c_str(), &a6) == 1;
}

// Parses "123", "64K", "2M", "1G" (binary multiples).
bool parseSize(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *s == '-') return false;
  uint64_t mult = 1;
  if (*end != '\0') {
    switch (*end) {
      case 'k': case 'K': mult = uint64_t{1} << 10; break;
      case 'm': case 'M': mult = uint64_t{1} << 20; break;
      case 'g': case 'G': mult = uint64_t{1} << 30; break;
      case 't': case 'T': mult = uint64_t{1} << 40; break;
      default: return false;
    }
    ++end;
    if (*end == 'i' || *end == 'B') ++end;  // accept "Mi", "MB"
    if (*end == 'B') ++end;
    if (*end != '\0') return false;
  }
  if (v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

// Parses a rate in bits per second: "950M", "10G", "1.5Gbit", "100mbps"
// (decimal multiples).
bool parseRate(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (errno != 0 || end == s || !(v >= 0)) return false;
  double mult = 1;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': mult = 1e3; ++end; break;
    case 'm': case 'M': mult = 1e6; ++end; break;
    case 'g': case 'G': mult = 1e9; ++end; break;
    case 't': case 'T': mult = 1e12; ++end; break;
    default: return false;
  }
  std::string unit(end);  // "10Gbit" and "10Gbps" read as "10G"
  if (!unit.empty() && unit != "bit" && unit != "bps" && unit != "b") return false;
  if (v * mult > 1e15) return false;
  *out = static_cast<uint64_t>(v * mult);
  return true;
}

bool parseBool(const char* s, bool* out) {
  std::string v(s);
  if (v == "1" || v == "true" || v == "yes" || v == "on") { *out = true; return true; }
  if (v == "0" || v == "false" || v == "no" || v == "off") { *out = false; return true; }
  return false;
}

Status badEnv(const char* name, const char* value, const char* what) {
  return Status(StatusCode::kInvalidArgument,
                std::string("environment variable ") + name + "='" + value + "' is not " + what);
}

}  // namespace

Result<ChannelOptions> ChannelOptions::fromEnvironment(ChannelOptions o) {
  uint64_t n = 0;
  bool b = false;
  auto sizeVar = [&](const char* name, auto* field, uint64_t max) -> Status {
    const char* v = std::getenv(name);
    if (v == nullptr) return Status();
    if (!parseSize(v, &n) || n > max) return badEnv(name, v, "a size (e.g. 4096, 64K, 2M)");
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(n);
    return Status();
  };
  Status s;
  if (!(s = sizeVar("FARLINK_LANES", &o.lanes, 1u << 20))) return s;
  if (!(s = sizeVar("FARLINK_CHUNK_SIZE", &o.chunk_size, SIZE_MAX))) return s;
  if (!(s = sizeVar("FARLINK_MAX_MESSAGE", &o.max_message_size, UINT64_MAX))) return s;
  if (!(s = sizeVar("FARLINK_MAX_UNEXPECTED", &o.max_unexpected_bytes, SIZE_MAX))) return s;
  if (!(s = sizeVar("FARLINK_SOCKET_BUFFER", &o.socket_buffer, SIZE_MAX))) return s;
  if (!(s = sizeVar("FARLINK_RING_DEPTH", &o.ring_depth, 1u << 15))) return s;
  if (const char* v = std::getenv("FARLINK_CONNECT_TIMEOUT_MS")) {
    if (!parseSize(v, &n) || n > (uint64_t{1} << 31)) return badEnv("FARLINK_CONNECT_TIMEOUT_MS", v, "a number of milliseconds");
    o.connect_timeout = std::chrono::milliseconds(n);
  }
  if (const char* v = std::getenv("FARLINK_DEAD_PEER_MS")) {
    if (!parseSize(v, &n) || n > (uint64_t{1} << 31)) return badEnv("FARLINK_DEAD_PEER_MS", v, "a number of milliseconds");
    o.dead_peer_timeout = std::chrono::milliseconds(n);
  }
  if (const char* v = std::getenv("FARLINK_RESUME_TIMEOUT")) {
    if (!parseSize(v, &n) || n > (uint64_t{1} << 31))
      return badEnv("FARLINK_RESUME_TIMEOUT", v, "a number of milliseconds (0 = off)");
    o.resume_timeout = std::chrono::milliseconds(n);
  }
  if (const char* v = std::getenv("FARLINK_NODELAY")) {
    if (!parseBool(v, &b)) return badEnv("FARLINK_NODELAY", v, "a boolean (0/1)");
    o.nodelay = b;
  }
  if (const char* v = std::getenv("FARLINK_PSK")) o.psk = v;
  if (const char* v = std::getenv("FARLINK_VERBS")) {
    std::string p(v);
    if (p == "auto") o.verbs_policy = VerbsPolicy::kAuto;
    else if (p == "required") o.verbs_policy = VerbsPolicy::kRequired;
    else if (p == "off") o.verbs_policy = VerbsPolicy::kOff;
    else return badEnv("FARLINK_VERBS", v, "one of auto, required, off");
  }
  if (const char* v = std::getenv("FARLINK_TLS")) {
    std::string t(v);
    if (t == "off") o.tls = TlsMode::kOff;
    else if (t == "on") o.tls = TlsMode::kOn;
    else if (t == "required" || t == "require") o.tls = TlsMode::kRequired;
    else return badEnv("FARLINK_TLS", v, "one of off, on, required");
  }
  if (const char* v = std::getenv("FARLINK_KTLS")) {
    if (!parseBool(v, &b)) return badEnv("FARLINK_KTLS", v, "a boolean (0/1)");
    o.ktls = b;
  }
  if (const char* v = std::getenv("FARLINK_AUTO_ORDER")) o.auto_order = v;
  if (const char* v = std::getenv("FARLINK_SOURCE_ADDRESS")) o.source_address = v;
  if (const char* v = std::getenv("FARLINK_BUSY_POLL")) {
    if (!parseBool(v, &b)) return badEnv("FARLINK_BUSY_POLL", v, "a boolean (0/1)");
    o.busy_poll = b;
  }
  if (const char* v = std::getenv("FARLINK_FLOW")) {
    std::string f(v);
    if (f == "auto") o.flow = FlowMode::kAuto;
    else if (f == "off") o.flow = FlowMode::kOff;
    else if (f == "model") o.flow = FlowMode::kModel;
    else if (f == "fixed") o.flow = FlowMode::kFixed;
    else return badEnv("FARLINK_FLOW", v, "one of auto, off, model, fixed");
  }
  if (const char* v = std::getenv("FARLINK_FLOW_RATE")) {
    if (!parseRate(v, &o.flow_rate_bps))
      return badEnv("FARLINK_FLOW_RATE", v, "bits per second (e.g. 950M, 10G)");
  }
  if (Status st = o.validate(); !st) return st;
  return o;
}

Status parseAutoOrder(const std::string& text, std::vector<std::string>* out) {
  std::vector<std::string> names;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name != "verbs" && name != "ucx" && name != "tcp")
      return Status(StatusCode::kInvalidArgument,
                    "auto_order (FARLINK_AUTO_ORDER) '" + text + "': '" + name +
                        "' is not one of verbs, ucx, tcp (comma-separated, e.g. verbs,ucx,tcp)");
    if (std::find(names.begin(), names.end(), name) != names.end())
      return Status(StatusCode::kInvalidArgument,
                    "auto_order (FARLINK_AUTO_ORDER) '" + text + "' names " + name + " twice");
    names.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out != nullptr) *out = std::move(names);
  return Status();
}

Result<ChannelOptions> ChannelOptions::fromEnvironment() { return fromEnvironment(ChannelOptions()); }

Status ChannelOptions::validate() const {
  auto bad = [](std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); };
  if (lanes < 1 || lanes > wire::kMaxLanes)
    return bad("lanes must be 1.." + std::to_string(wire::kMaxLanes) + ", got " + std::to_string(lanes));
  if (chunk_size < wire::kMinChunk || chunk_size > wire::kMaxChunk)
    return bad("chunk_size must be 4 KiB..64 MiB, got " + std::to_string(chunk_size));
  if (max_message_size == 0) return bad("max_message_size must be > 0");
  if (ring_depth < 8 || ring_depth > 32768)
    return bad("ring_depth must be 8..32768, got " + std::to_string(ring_depth));
  if (connect_timeout.count() <= 0) return bad("connect_timeout must be positive");
  // Below Linux's minimum RTO a peer would be called dead before the kernel
  // retransmitted once.
  if (dead_peer_timeout.count() != 0 && dead_peer_timeout < std::chrono::milliseconds(200))
    return bad("dead_peer_timeout must be 0 (derived from the RTT) or at least 200 ms (TCP's "
               "minimum retransmission timeout), got " + std::to_string(dead_peer_timeout.count()) +
               " ms");
  if (resume_timeout.count() < 0) return bad("resume_timeout must be >= 0 (0 = off)");
  if (socket_buffer > (size_t{1} << 31)) return bad("socket_buffer must be < 2 GiB");
  if (flow == FlowMode::kFixed && flow_rate_bps == 0)
    return bad("flow mode 'fixed' needs a rate: set flow_rate_bps (FARLINK_FLOW_RATE, e.g. 1G)");
  if (Status s = parseAutoOrder(auto_order, nullptr); !s) return s;
  if (!source_address.empty() && !isNumericAddress(source_address))
    return bad("source_address (FARLINK_SOURCE_ADDRESS) '" + source_address +
               "' is not a numeric IPv4 or IPv6 address of this host");
  // The TLS keys come from the PSK; TLS without one would encrypt to
  // whoever answers, which on an untrusted link is no protection.
  if (tls == TlsMode::kRequired && verbs_policy == VerbsPolicy::kRequired)
    return bad("FARLINK_TLS=required and FARLINK_VERBS=required exclude each other: only TCP "
               "lanes are encrypted");
  if (tls != TlsMode::kOff && psk.empty())
    return bad("TLS (FARLINK_TLS=on/required) needs a pre-shared key: set FARLINK_PSK on both "
               "sides; the TLS 1.3 keys are derived from it");
  return Status();
}

}  // namespace farlink
