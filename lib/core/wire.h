// farlink wire protocol v1: the bytes on every lane. Pure codecs, no I/O.
// All integers are little-endian. Described for users in man/farlink.7.
//
// Handshake, per lane (client speaks first):
//   HELLO   client→server  68 bytes: magic "FLNK", u16 version, u16 reserved,
//           u32 capabilities (bit 0 PSK, bit 1 UCX bootstrap, bit 2 TLS,
//           bit 3 TLS required, bit 4 resume,
//           bit 5 resuming, bit 6 keepalive), u16 lane_index, u16 lane_count,
//           u32 max_chunk, u8 session_id[16], u8 client_nonce[32]
//   WELCOME server→client  82 + reason_len bytes: magic "FLNK", u16 version,
//           u16 status, u32 capabilities, u32 max_chunk, u8 server_nonce[32],
//           u8 server_proof[32] (zero without PSK), u16 reason_len, reason
//   with a PSK only:
//   PROOF   client→server  32 bytes: HMAC-SHA256 client proof
//   VERDICT server→client  4 + reason_len bytes: u16 status, u16 reason_len,
//           reason
// With TLS agreed (bit 2 in HELLO and WELCOME; needs the PSK) a TLS 1.3
// handshake follows on the same connection, and every frame below travels
// inside TLS records.
// With resume agreed (bit 4 in HELLO and WELCOME), ACK frames flow on every
// lane and a reconnected lane (bit 5 in its HELLO) starts with RESUME.
// With keepalive agreed (bit 6 in HELLO and WELCOME), KEEPALIVE frames may
// appear between any two frames; the receiver discards them.
// Then frames, each a 40-byte header and, for DATA, WRITE and READ_RESP,
// chunk_len payload bytes:
//   u8 type, u8 flags (0), u16 reserved (0), u32 chunk_len, u64 msg_seq,
//   u64 tag, u64 offset, u64 total_len
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "farlink/status.h"

namespace farlink::wire {

inline constexpr uint8_t kMagic[4] = {'F', 'L', 'N', 'K'};
inline constexpr uint16_t kVersion = 1;
inline constexpr uint32_t kCapPsk = 1u << 0;
// HELLO only: this connection bootstraps a UCX channel (worker addresses
// follow the handshake; see lib/transport/ucx/ucx_bootstrap.h) instead of
// being a TCP lane.
inline constexpr uint32_t kCapUcx = 1u << 1;
// TLS 1.3 follows the handshake on this lane (HELLO: offered; WELCOME:
// accepted). kCapTlsRequired (HELLO only): the client refuses plaintext, so a
// listener without TLS says why instead of letting the lane hang.
inline constexpr uint32_t kCapTls = 1u << 2;
inline constexpr uint32_t kCapTlsRequired = 1u << 3;
// Session resume on TCP lanes (HELLO: offered; WELCOME: agreed). With it,
// receivers ACK the frames of each lane and a session whose lanes all broke
// is reconnected. kCapResuming (HELLO only, with kCapResume): this lane
// reconnects the live session it names instead of opening a new one.
inline constexpr uint32_t kCapResume = 1u << 4;
inline constexpr uint32_t kCapResuming = 1u << 5;
// TCP lanes (HELLO: offered; WELCOME: agreed): a side may send KEEPALIVE
// frames on a quiet lane, so that its kernel sees the peer's kernel ACK them
// (dead-peer detection at the scale of the lane's RTT).
inline constexpr uint32_t kCapKeepalive = 1u << 6;
inline constexpr uint32_t kKnownCaps = kCapPsk | kCapUcx | kCapTls | kCapTlsRequired |
                                       kCapResume | kCapResuming | kCapKeepalive;
// Bits that say how a lane is secured rather than which datapath it serves.
inline constexpr uint32_t kSecurityCaps = kCapPsk | kCapTls | kCapTlsRequired;
// Bits that do not pick a datapath (security, resume, keepalive).
inline constexpr uint32_t kSessionCaps = kSecurityCaps | kCapResume | kCapResuming | kCapKeepalive;
inline constexpr int kMaxLanes = 64;
inline constexpr uint32_t kMinChunk = 4096;
inline constexpr uint32_t kMaxChunk = 64u << 20;
inline constexpr size_t kMaxReason = 512;
// Messages a sender may have started beyond the oldest one the receiver has
// not yet seen a chunk of; bounds receiver bookkeeping.
inline constexpr uint64_t kMaxOpenMessages = 1u << 16;

using SessionId = std::array<uint8_t, 16>;
using Nonce = std::array<uint8_t, 32>;
using Proof = std::array<uint8_t, 32>;

enum class HandshakeStatus : uint16_t {
  kOk = 0,
  kBadVersion = 1,
  kAuthRequired = 2,   // server has a PSK, client offered none
  kBadHello = 3,       // malformed fields
  kUnauthenticated = 4,
  kBusy = 5,           // listener limits reached
  kSessionMismatch = 6, // lane does not fit the session it names
  kTlsMismatch = 7      // one side requires TLS, the other does not use it
};
const char* handshakeStatusName(HandshakeStatus s);

struct Hello {
  uint16_t version = kVersion;
  uint32_t capabilities = 0;
  uint16_t lane_index = 0;
  uint16_t lane_count = 1;
  uint32_t max_chunk = 0;
  SessionId session{};
  Nonce nonce{};
};
inline constexpr size_t kHelloSize = 68;
void encodeHello(const Hello& h, uint8_t out[kHelloSize]);
// Checks magic, then fields; version mismatch is reported by the caller from
// h.version (decoding succeeds so the server can answer in kind).
Status decodeHello(std::span<const uint8_t, kHelloSize> in, Hello* h);

struct Welcome {
  uint16_t version = kVersion;
  HandshakeStatus status = HandshakeStatus::kOk;
  uint32_t capabilities = 0;
  uint32_t max_chunk = 0;
  Nonce nonce{};
  Proof proof{};
  std::string reason;
};
inline constexpr size_t kWelcomeFixedSize = 82;
std::string encodeWelcome(const Welcome& w);
// Decodes the fixed part; *reason_len tells how many reason bytes follow.
Status decodeWelcomeFixed(std::span<const uint8_t, kWelcomeFixedSize> in, Welcome* w,
                          size_t* reason_len);

struct Verdict {
  HandshakeStatus status = HandshakeStatus::kOk;
  std::string reason;
};
inline constexpr size_t kVerdictFixedSize = 4;
std::string encodeVerdict(const Verdict& v);
Status decodeVerdictFixed(std::span<const uint8_t, kVerdictFixedSize> in, Verdict* v,
                          size_t* reason_len);

// HMAC-SHA256(psk, role || session || lane_index || client_nonce || server_nonce).
// kTls: the lane's TLS 1.3 external PSK, bound to this lane's handshake.
enum class Role : uint8_t { kClient = 'C', kServer = 'S', kTls = 'T' };
Proof computeProof(const std::string& psk, Role role, const SessionId& session,
                   uint16_t lane_index, const Nonce& client_nonce, const Nonce& server_nonce);
bool proofEqual(const Proof& a, const Proof& b);  // constant time

enum class FrameType : uint8_t {
  kData = 1,
  kClose = 2,     // graceful end; msg_seq = messages this side sent in total
  // One-sided operations; msg_seq is the requester's operation id.
  kWrite = 3,     // tag = region id, offset = region offset of this chunk,
                  // total_len = operation length; payload follows
  kReadReq = 4,   // tag = region id, offset = region offset, total_len = length
  kReadResp = 5,  // tag = verdict, offset = offset within the operation,
                  // total_len = operation length; payload follows
  kRmaAck = 6,    // tag = verdict: the write with this id is placed (or refused)
  // Session resume only (kCapResume agreed); neither is itself counted.
  kAck = 7,       // msg_seq = frames of this lane the sender has consumed so far
  kResume = 8,    // first frame on a reconnected lane; msg_seq as for kAck
  // kCapKeepalive agreed only: a probe on a quiet lane, all fields 0. Never
  // counted (not a message, not a frame ACK/RESUME count), discarded.
  kKeepalive = 9,
};
inline constexpr uint64_t kMaxVerdict = 3;

struct FrameHeader {
  FrameType type = FrameType::kData;
  uint32_t chunk_len = 0;
  uint64_t msg_seq = 0;
  uint64_t tag = 0;
  uint64_t offset = 0;
  uint64_t total_len = 0;
};
inline constexpr size_t kFrameHeaderSize = 40;
void encodeFrame(const FrameHeader& f, uint8_t out[kFrameHeaderSize]);

// Limits the receiver enforces before trusting any field.
struct FrameLimits {
  uint32_t max_chunk = kMaxChunk;
  uint64_t max_message = uint64_t{1} << 40;
};
// Decodes and checks type, reserved bits, chunk_len, offset/total_len ranges.
// The message-sequence window is checked by the receiver, which knows it.
Status decodeFrame(std::span<const uint8_t, kFrameHeaderSize> in, const FrameLimits& limits,
                   FrameHeader* f);

}  // namespace farlink::wire
