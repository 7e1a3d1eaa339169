#include "core/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "core/byte_order.h"

namespace farlink::wire {
namespace {

Status bad(std::string what) { return Status(StatusCode::kProtocolError, std::move(what)); }

bool magicOk(const uint8_t* p) { return std::memcmp(p, kMagic, 4) == 0; }

}  // namespace

const char* handshakeStatusName(HandshakeStatus s) {
  switch (s) {
    case HandshakeStatus::kOk: return "ok";
    case HandshakeStatus::kBadVersion: return "unsupported protocol version";
    case HandshakeStatus::kAuthRequired: return "pre-shared key required";
    case HandshakeStatus::kBadHello: return "malformed handshake";
    case HandshakeStatus::kUnauthenticated: return "authentication failed";
    case HandshakeStatus::kBusy: return "listener busy";
    case HandshakeStatus::kSessionMismatch: return "lane does not match its session";
    case HandshakeStatus::kTlsMismatch: return "TLS required on one side only";
  }
  return "unknown handshake status";
}

void encodeHello(const Hello& h, uint8_t out[kHelloSize]) {
  std::memcpy(out, kMagic, 4);
  put16(out + 4, h.version);
  put16(out + 6, 0);
  put32(out + 8, h.capabilities);
  put16(out + 12, h.lane_index);
  put16(out + 14, h.lane_count);
  put32(out + 16, h.max_chunk);
  std::memcpy(out + 20, h.session.data(), 16);
  std::memcpy(out + 36, h.nonce.data(), 32);
}

Status decodeHello(std::span<const uint8_t, kHelloSize> in, Hello* h) {
  const uint8_t* p = in.data();
  if (!magicOk(p)) return bad("not a farlink peer (bad magic in HELLO)");
  h->version = get16(p + 4);
  if (h->version != kVersion) return Status();  // caller answers kBadVersion
  if (get16(p + 6) != 0) return bad("HELLO reserved field is not zero");
  h->capabilities = get32(p + 8);
  h->lane_index = get16(p + 12);
  h->lane_count = get16(p + 14);
  h->max_chunk = get32(p + 16);
  std::memcpy(h->session.data(), p + 20, 16);
  std::memcpy(h->nonce.data(), p + 36, 32);
  // Offers this version does not know are dropped, never agreed: a newer
  // client still talks to this listener, without what it added. (A WELCOME
  // may only agree to what was offered, so there unknown bits are an error.)
  h->capabilities &= kKnownCaps;
  if (h->lane_count == 0 || h->lane_count > kMaxLanes)
    return bad("HELLO lane_count " + std::to_string(h->lane_count) + " not in 1.." +
               std::to_string(kMaxLanes));
  if (h->lane_index >= h->lane_count)
    return bad("HELLO lane_index " + std::to_string(h->lane_index) + " >= lane_count " +
               std::to_string(h->lane_count));
  if (h->max_chunk < kMinChunk || h->max_chunk > kMaxChunk)
    return bad("HELLO max_chunk " + std::to_string(h->max_chunk) + " out of range");
  return Status();
}

std::string encodeWelcome(const Welcome& w) {
  size_t rlen = std::min(w.reason.size(), kMaxReason);
  std::string out(kWelcomeFixedSize + rlen, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kMagic, 4);
  put16(p + 4, w.version);
  put16(p + 6, static_cast<uint16_t>(w.status));
  put32(p + 8, w.capabilities);
  put32(p + 12, w.max_chunk);
  std::memcpy(p + 16, w.nonce.data(), 32);
  std::memcpy(p + 48, w.proof.data(), 32);
  put16(p + 80, static_cast<uint16_t>(rlen));
  std::memcpy(p + kWelcomeFixedSize, w.reason.data(), rlen);
  return out;
}

Status decodeWelcomeFixed(std::span<const uint8_t, kWelcomeFixedSize> in, Welcome* w,
                          size_t* reason_len) {
  const uint8_t* p = in.data();
  if (!magicOk(p)) return bad("not a farlink peer (bad magic in WELCOME)");
  w->version = get16(p + 4);
  w->status = static_cast<HandshakeStatus>(get16(p + 6));
  w->capabilities = get32(p + 8);
  w->max_chunk = get32(p + 12);
  std::memcpy(w->nonce.data(), p + 16, 32);
  std::memcpy(w->proof.data(), p + 48, 32);
  *reason_len = get16(p + 80);
  if (*reason_len > kMaxReason) return bad("WELCOME reason length " + std::to_string(*reason_len) + " > 512");
  if (get16(p + 6) > static_cast<uint16_t>(HandshakeStatus::kTlsMismatch))
    return bad("WELCOME has unknown status " + std::to_string(get16(p + 6)));
  if ((w->capabilities & ~kKnownCaps) != 0)
    return bad("WELCOME has unknown capability bits 0x" + std::to_string(w->capabilities));
  if (w->version == kVersion && w->status == HandshakeStatus::kOk &&
      (w->max_chunk < kMinChunk || w->max_chunk > kMaxChunk))
    return bad("WELCOME max_chunk " + std::to_string(w->max_chunk) + " out of range");
  return Status();
}

std::string encodeVerdict(const Verdict& v) {
  size_t rlen = std::min(v.reason.size(), kMaxReason);
  std::string out(kVerdictFixedSize + rlen, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  put16(p, static_cast<uint16_t>(v.status));
  put16(p + 2, static_cast<uint16_t>(rlen));
  std::memcpy(p + 4, v.reason.data(), rlen);
  return out;
}

Status decodeVerdictFixed(std::span<const uint8_t, kVerdictFixedSize> in, Verdict* v,
                          size_t* reason_len) {
  uint16_t st = get16(in.data());
  if (st > static_cast<uint16_t>(HandshakeStatus::kTlsMismatch))
    return bad("VERDICT has unknown status " + std::to_string(st));
  v->status = static_cast<HandshakeStatus>(st);
  *reason_len = get16(in.data() + 2);
  if (*reason_len > kMaxReason) return bad("VERDICT reason length too large");
  return Status();
}

Proof computeProof(const std::string& psk, Role role, const SessionId& session,
                   uint16_t lane_index, const Nonce& client_nonce, const Nonce& server_nonce) {
  uint8_t msg[1 + 16 + 2 + 32 + 32];
  msg[0] = static_cast<uint8_t>(role);
  std::memcpy(msg + 1, session.data(), 16);
  put16(msg + 17, lane_index);
  std::memcpy(msg + 19, client_nonce.data(), 32);
  std::memcpy(msg + 51, server_nonce.data(), 32);
  Proof out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), psk.data(), static_cast<int>(psk.size()), msg, sizeof msg, out.data(), &len);
  return out;
}

bool proofEqual(const Proof& a, const Proof& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void encodeFrame(const FrameHeader& f, uint8_t out[kFrameHeaderSize]) {
  out[0] = static_cast<uint8_t>(f.type);
  out[1] = 0;
  put16(out + 2, 0);
  put32(out + 4, f.chunk_len);
  put64(out + 8, f.msg_seq);
  put64(out + 16, f.tag);
  put64(out + 24, f.offset);
  put64(out + 32, f.total_len);
}

Status decodeFrame(std::span<const uint8_t, kFrameHeaderSize> in, const FrameLimits& limits,
                   FrameHeader* f) {
  const uint8_t* p = in.data();
  uint8_t type = p[0];
  if (type < static_cast<uint8_t>(FrameType::kData) || type > static_cast<uint8_t>(FrameType::kKeepalive))
    return bad("unknown frame type " + std::to_string(type));
  if (p[1] != 0 || get16(p + 2) != 0) return bad("frame flags/reserved bits are not zero");
  f->type = static_cast<FrameType>(type);
  f->chunk_len = get32(p + 4);
  f->msg_seq = get64(p + 8);
  f->tag = get64(p + 16);
  f->offset = get64(p + 24);
  f->total_len = get64(p + 32);
  auto mustBeEmpty = [&](bool tag_too) -> Status {
    if (f->chunk_len != 0 || f->offset != 0 || f->total_len != 0 || (tag_too && f->tag != 0))
      return bad("frame of type " + std::to_string(type) + " carries fields it must not");
    return Status();
  };
  if (f->chunk_len > limits.max_chunk)
    return bad("chunk length " + std::to_string(f->chunk_len) + " exceeds the limit " +
               std::to_string(limits.max_chunk));
  if (f->total_len > limits.max_message)
    return bad("message length " + std::to_string(f->total_len) + " exceeds the limit " +
               std::to_string(limits.max_message));
  switch (f->type) {
    case FrameType::kClose:
    case FrameType::kAck:
    case FrameType::kResume: return mustBeEmpty(true);
    case FrameType::kKeepalive:
      if (f->msg_seq != 0) return bad("KEEPALIVE frame carries fields it must not");
      return mustBeEmpty(true);
    case FrameType::kRmaAck:
      if (f->tag > kMaxVerdict) return bad("unknown RMA verdict " + std::to_string(f->tag));
      return mustBeEmpty(false);
    case FrameType::kReadReq:
      if (f->chunk_len != 0) return bad("READ request carries a payload");
      if (f->offset > UINT64_MAX - f->total_len) return bad("READ range overflows");
      return Status();
    case FrameType::kWrite:
      if (f->chunk_len > f->total_len) return bad("WRITE chunk longer than its operation");
      if (f->offset > UINT64_MAX - f->chunk_len) return bad("WRITE range overflows");
      return Status();
    case FrameType::kReadResp:
      if (f->tag > kMaxVerdict) return bad("unknown RMA verdict " + std::to_string(f->tag));
      [[fallthrough]];
    case FrameType::kData:
      // offset + chunk_len <= total_len, written so that it cannot overflow.
      if (f->offset > f->total_len || f->chunk_len > f->total_len - f->offset)
        return bad("chunk [" + std::to_string(f->offset) + ", +" + std::to_string(f->chunk_len) +
                   ") lies outside a message of " + std::to_string(f->total_len) + " bytes");
      return Status();
  }
  return bad("unknown frame type " + std::to_string(type));
}

}  // namespace farlink::wire
