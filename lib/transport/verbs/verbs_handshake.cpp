#include "transport/verbs/verbs_handshake.h"

#include <cstring>

#include "transport/tcp/handshake.h"  // randomBytes

namespace farlink::verbs {

using wire::HandshakeStatus;

namespace {

std::string bytesOf(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

StatusCode codeForRefusal(HandshakeStatus s) {
  switch (s) {
    case HandshakeStatus::kAuthRequired:
    case HandshakeStatus::kUnauthenticated: return StatusCode::kUnauthenticated;
    case HandshakeStatus::kBusy: return StatusCode::kResourceExhausted;
    default: return StatusCode::kProtocolError;
  }
}

}  // namespace

// ---------------- server ----------------

ServerHandshake::ServerHandshake(std::string peer, const std::string* psk, uint32_t max_chunk)
    : peer_(std::move(peer)), psk_(psk), max_chunk_(max_chunk) {
  tcp::randomBytes(nonce_.data(), nonce_.size());
}

HsStep ServerHandshake::failWith(HandshakeStatus status, Status why, bool as_verdict) {
  HsStep step;
  if (as_verdict) {
    step.reply = wire::encodeVerdict({status, why.message()});
  } else {
    wire::Welcome w;
    w.status = status;
    w.reason = why.message();
    step.reply = wire::encodeWelcome(w);
  }
  error_ = std::move(why);
  state_ = State::kFailed;
  step.finished = true;
  return step;
}

HsStep ServerHandshake::refuse(HandshakeStatus status, Status why) {
  return failWith(status, std::move(why), !psk_->empty());
}

HsStep ServerHandshake::onHello(const uint8_t* data, size_t len) {
  if (len != wire::kHelloSize)
    return failWith(HandshakeStatus::kBadHello,
                    Status(StatusCode::kProtocolError, "from " + peer_ + ": HELLO of " +
                                                           std::to_string(len) + " bytes, expected " +
                                                           std::to_string(wire::kHelloSize)),
                    false);
  Status s = wire::decodeHello(std::span<const uint8_t, wire::kHelloSize>(data, wire::kHelloSize), &hello_);
  if (!s)
    return failWith(HandshakeStatus::kBadHello,
                    Status(StatusCode::kProtocolError, "from " + peer_ + ": " + s.message()), false);
  if (hello_.version != wire::kVersion)
    return failWith(HandshakeStatus::kBadVersion,
                    Status(StatusCode::kProtocolError,
                           "peer " + peer_ + " speaks farlink protocol v" +
                               std::to_string(hello_.version) + "; this side speaks v" +
                               std::to_string(wire::kVersion) + " (upgrade one side)"),
                    false);
  bool client_psk = (hello_.capabilities & wire::kCapPsk) != 0;
  bool server_psk = !psk_->empty();
  if (server_psk && !client_psk)
    return failWith(HandshakeStatus::kAuthRequired,
                    Status(StatusCode::kUnauthenticated,
                           "peer " + peer_ + " offered no pre-shared key; this listener requires "
                           "one (set FARLINK_PSK on the client)"),
                    false);
  if (client_psk && !server_psk)
    return failWith(HandshakeStatus::kUnauthenticated,
                    Status(StatusCode::kUnauthenticated,
                           "peer " + peer_ + " wants PSK authentication but this listener has no "
                           "key (set FARLINK_PSK on the listener)"),
                    false);
  wire::Welcome w;
  w.capabilities = server_psk ? wire::kCapPsk : 0;
  w.max_chunk = max_chunk_;
  w.nonce = nonce_;
  if (server_psk)
    w.proof = wire::computeProof(*psk_, wire::Role::kServer, hello_.session, hello_.lane_index,
                                 hello_.nonce, nonce_);
  HsStep step;
  step.reply = wire::encodeWelcome(w);
  state_ = server_psk ? State::kProof : State::kDone;
  step.finished = !server_psk;
  return step;
}

HsStep ServerHandshake::onMessage(const uint8_t* data, size_t len) {
  switch (state_) {
    case State::kHello: return onHello(data, len);
    case State::kProof: {
      wire::Proof want = wire::computeProof(*psk_, wire::Role::kClient, hello_.session,
                                            hello_.lane_index, hello_.nonce, nonce_);
      wire::Proof got{};
      if (len == got.size()) std::memcpy(got.data(), data, got.size());
      if (len != got.size() || !wire::proofEqual(got, want))
        return failWith(HandshakeStatus::kUnauthenticated,
                        Status(StatusCode::kUnauthenticated,
                               "peer " + peer_ + " failed PSK authentication (wrong pre-shared key)"),
                        true);
      state_ = State::kDone;
      return HsStep{wire::encodeVerdict({HandshakeStatus::kOk, ""}), true};
    }
    case State::kDone:
    case State::kFailed: break;
  }
  error_ = Status(StatusCode::kProtocolError, "peer " + peer_ + " sent data before the handshake finished");
  state_ = State::kFailed;
  return HsStep{"", true};
}

// ---------------- client ----------------

ClientHandshake::ClientHandshake(std::string peer, const std::string* psk, uint32_t max_chunk,
                                 const wire::SessionId& session, uint16_t lane_index,
                                 uint16_t lane_count)
    : peer_(std::move(peer)), psk_(psk), max_chunk_(max_chunk), session_(session),
      lane_index_(lane_index), lane_count_(lane_count) {
  tcp::randomBytes(nonce_.data(), nonce_.size());
}

std::string ClientHandshake::hello() {
  wire::Hello h;
  h.capabilities = psk_->empty() ? 0 : wire::kCapPsk;
  h.lane_index = lane_index_;
  h.lane_count = lane_count_;
  h.max_chunk = max_chunk_;
  h.session = session_;
  h.nonce = nonce_;
  uint8_t buf[wire::kHelloSize];
  wire::encodeHello(h, buf);
  return bytesOf(buf, sizeof buf);
}

HsStep ClientHandshake::fail(Status s) {
  error_ = std::move(s);
  state_ = State::kFailed;
  return HsStep{"", true};
}

HsStep ClientHandshake::onMessage(const uint8_t* data, size_t len) {
  auto refused = [&](HandshakeStatus st, const std::string& reason) {
    return fail(Status(codeForRefusal(st), "peer " + peer_ + " refused lane " +
                                               std::to_string(lane_index_) + ": " +
                                               wire::handshakeStatusName(st) +
                                               (reason.empty() ? "" : " (" + reason + ")")));
  };
  size_t reason_len = 0;
  if (state_ == State::kWelcome) {
    if (len < wire::kWelcomeFixedSize)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": short WELCOME (" +
                                                         std::to_string(len) + " bytes)"));
    std::span<const uint8_t, wire::kWelcomeFixedSize> in(data, wire::kWelcomeFixedSize);
    if (Status d = wire::decodeWelcomeFixed(in, &welcome_, &reason_len); !d)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": " + d.message()));
    if (len != wire::kWelcomeFixedSize + reason_len)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": WELCOME length " +
                                                         std::to_string(len) + " disagrees with its reason length"));
    welcome_.reason = bytesOf(data + wire::kWelcomeFixedSize, reason_len);
    if (welcome_.status != HandshakeStatus::kOk) return refused(welcome_.status, welcome_.reason);
    if (welcome_.version != wire::kVersion)
      return fail(Status(StatusCode::kProtocolError,
                         "peer " + peer_ + " speaks farlink protocol v" +
                             std::to_string(welcome_.version) + "; this side speaks v" +
                             std::to_string(wire::kVersion)));
    if (psk_->empty()) {
      state_ = State::kDone;
      return HsStep{"", true};
    }
    if ((welcome_.capabilities & wire::kCapPsk) == 0)
      return fail(Status(StatusCode::kUnauthenticated,
                         "peer " + peer_ + " did not authenticate with the pre-shared key"));
    wire::Proof want = wire::computeProof(*psk_, wire::Role::kServer, session_, lane_index_,
                                          nonce_, welcome_.nonce);
    // A wrong server proof still gets our proof sent, so the listener learns
    // of the mismatch too (kUnauthenticated on both sides).
    server_proof_bad_ = !wire::proofEqual(want, welcome_.proof);
    wire::Proof mine = wire::computeProof(*psk_, wire::Role::kClient, session_, lane_index_,
                                          nonce_, welcome_.nonce);
    state_ = State::kVerdict;
    return HsStep{bytesOf(mine.data(), mine.size()), false};
  }
  if (state_ == State::kVerdict) {
    if (len < wire::kVerdictFixedSize)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": short VERDICT"));
    wire::Verdict v;
    std::span<const uint8_t, wire::kVerdictFixedSize> in(data, wire::kVerdictFixedSize);
    if (Status d = wire::decodeVerdictFixed(in, &v, &reason_len); !d)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": " + d.message()));
    if (len != wire::kVerdictFixedSize + reason_len)
      return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": VERDICT length mismatch"));
    v.reason = bytesOf(data + wire::kVerdictFixedSize, reason_len);
    if (server_proof_bad_)
      return fail(Status(StatusCode::kUnauthenticated,
                         "peer " + peer_ +
                             " failed PSK authentication (wrong pre-shared key on one side)"));
    if (v.status != HandshakeStatus::kOk) return refused(v.status, v.reason);
    state_ = State::kDone;
    return HsStep{"", true};
  }
  return fail(Status(StatusCode::kProtocolError, "peer " + peer_ + " sent an unexpected handshake message"));
}

}  // namespace farlink::verbs
