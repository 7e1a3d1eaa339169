// The farlink handshake (HELLO/WELCOME/PROOF/VERDICT, core/wire.h) as
// message-driven state machines: each handshake message travels as one verbs
// SEND, so a step consumes one whole message and may produce one reply.
// No I/O here; the connect and listener code move the bytes.
#pragma once

#include <string>

#include "core/wire.h"

namespace farlink::verbs {

// Outcome of feeding one message: bytes to send back (may be empty), and
// whether the handshake is now finished (ok or failed).
struct HsStep {
  std::string reply;
  bool finished = false;
};

class ServerHandshake {
 public:
  ServerHandshake(std::string peer, const std::string* psk, uint32_t max_chunk);
  HsStep onMessage(const uint8_t* data, size_t len);
  // Refuses a lane whose handshake succeeded but whose session is unusable.
  HsStep refuse(wire::HandshakeStatus status, Status why);
  bool ok() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const Status& error() const { return error_; }
  const wire::Hello& hello() const { return hello_; }

 private:
  enum class State { kHello, kProof, kDone, kFailed };
  HsStep failWith(wire::HandshakeStatus status, Status why, bool as_verdict);
  HsStep onHello(const uint8_t* data, size_t len);

  std::string peer_;
  const std::string* psk_;
  uint32_t max_chunk_;
  State state_ = State::kHello;
  wire::Hello hello_;
  wire::Nonce nonce_{};
  Status error_;
};

class ClientHandshake {
 public:
  ClientHandshake(std::string peer, const std::string* psk, uint32_t max_chunk,
                  const wire::SessionId& session, uint16_t lane_index, uint16_t lane_count);
  std::string hello();  // the first message
  HsStep onMessage(const uint8_t* data, size_t len);
  bool ok() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const Status& error() const { return error_; }
  uint32_t peerMaxChunk() const { return welcome_.max_chunk; }

 private:
  enum class State { kWelcome, kVerdict, kDone, kFailed };
  HsStep fail(Status s);

  std::string peer_;
  const std::string* psk_;
  uint32_t max_chunk_;
  wire::SessionId session_;
  uint16_t lane_index_;
  uint16_t lane_count_;
  State state_ = State::kWelcome;
  wire::Nonce nonce_{};
  wire::Welcome welcome_;
  bool server_proof_bad_ = false;
  Status error_;
};

}  // namespace farlink::verbs
