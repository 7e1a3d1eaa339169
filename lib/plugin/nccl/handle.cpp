#include "plugin/nccl/handle.h"

#include <arpa/inet.h>

#include <cstring>

namespace farlink::nccl {
namespace {

constexpr uint32_t kMagic = 0x464c4e43;  // "FLNC"
// 2: receives are announced (clear_to_send.h); a version-1 sender would
// wait for announcements that never come, so the two must not pair.
constexpr uint16_t kVersion = 2;
// Layout: magic u32 | version u16 | scheme u8 | family u8 | port u16 |
// reserved u16 | addr 16 | nonce u64 | checksum u32 (all little-endian).
constexpr size_t kChecksumOffset = 36;

void put(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// FNV-1a: not a defence against forgery (the PSK is), only against handles
// that were cut short or scribbled on on their way between ranks.
uint32_t checksum(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
  return h;
}

Status bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument,
                "connect handle rejected: " + why +
                    "; pass connect() the unmodified 128-byte handle that listen() of the "
                    "farlink plugin produced");
}

}  // namespace

const char* schemeName(Scheme s) {
  switch (s) {
    case Scheme::kTcp:
      return "tcp";
    case Scheme::kVerbs:
      return "verbs";
    case Scheme::kAuto:
      return "auto";
  }
  return "?";
}

std::string ConnectHandle::uri() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr.data(), text, sizeof text);
  std::string host = family == 6 ? "[" + std::string(text) + "]" : std::string(text);
  return std::string(schemeName(scheme)) + "://" + host + ":" + std::to_string(port);
}

void encodeHandle(const ConnectHandle& h, uint8_t out[kHandleBytes]) {
  std::memset(out, 0, kHandleBytes);
  put(out, kMagic, 4);
  put(out + 4, kVersion, 2);
  out[6] = static_cast<uint8_t>(h.scheme);
  out[7] = h.family;
  put(out + 8, h.port, 2);
  std::memcpy(out + 12, h.addr.data(), 16);
  put(out + 28, h.nonce, 8);
  put(out + kChecksumOffset, checksum(out, kChecksumOffset), 4);
}

Result<ConnectHandle> decodeHandle(const uint8_t in[kHandleBytes]) {
  if (get(in, 4) != kMagic) return bad("it does not start with the farlink magic");
  if (uint64_t v = get(in + 4, 2); v != kVersion)
    return bad("version " + std::to_string(v) + ", this plugin reads version " +
               std::to_string(kVersion));
  if (get(in + kChecksumOffset, 4) != checksum(in, kChecksumOffset))
    return bad("checksum mismatch (truncated or altered)");
  ConnectHandle h;
  if (in[6] < 1 || in[6] > 3) return bad("unknown transport " + std::to_string(in[6]));
  h.scheme = static_cast<Scheme>(in[6]);
  if (in[7] != 4 && in[7] != 6) return bad("unknown address family " + std::to_string(in[7]));
  h.family = in[7];
  h.port = static_cast<uint16_t>(get(in + 8, 2));
  if (h.port == 0) return bad("port 0");
  std::memcpy(h.addr.data(), in + 12, 16);
  h.nonce = get(in + 28, 8);
  if (h.nonce == 0) return bad("zero nonce");
  return h;
}

uint64_t readStage(const uint8_t handle[kHandleBytes]) { return get(handle + kStageOffset, 8); }
void writeStage(uint8_t handle[kHandleBytes], uint64_t stage) {
  put(handle + kStageOffset, stage, 8);
}

}  // namespace farlink::nccl
