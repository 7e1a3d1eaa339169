// The connect handle NCCL carries from listen() on one rank to connect() on
// another: the listener's transport, address and port, plus a random nonce
// that the connector presents after connecting, so an accept never hands
// NCCL a channel meant for someone else. Pure logic, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "farlink/status.h"

namespace farlink::nccl {

enum class Scheme : uint8_t { kTcp = 1, kVerbs = 2, kAuto = 3 };
const char* schemeName(Scheme s);

struct ConnectHandle {
  Scheme scheme = Scheme::kTcp;
  uint8_t family = 4;              // 4 or 6
  std::array<uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes
  uint16_t port = 0;
  uint64_t nonce = 0;  // never 0 in a valid handle

  // "tcp://10.0.0.2:7000" / "verbs://[fd00::2]:7000"
  std::string uri() const;
};

// NCCL hands us 128 bytes (NCCL_NET_HANDLE_MAXSIZE). The encoded fields fill
// the first kEncodedSize bytes; the 8 bytes at kStageOffset belong to
// connect(), which keeps its progress there between calls (NCCL calls it
// again with the same handle buffer until a comm comes back).
inline constexpr size_t kHandleBytes = 128;
inline constexpr size_t kEncodedSize = 40;
inline constexpr size_t kStageOffset = 64;

void encodeHandle(const ConnectHandle& h, uint8_t out[kHandleBytes]);
// Rejects (kInvalidArgument, saying what is wrong) anything listen() did
// not produce: wrong magic or version, unknown scheme or family, port 0,
// zero nonce, or a checksum mismatch (a truncated or altered handle).
Result<ConnectHandle> decodeHandle(const uint8_t in[kHandleBytes]);

uint64_t readStage(const uint8_t handle[kHandleBytes]);
void writeStage(uint8_t handle[kHandleBytes], uint64_t stage);

}  // namespace farlink::nccl
