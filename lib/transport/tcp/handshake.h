// Per-lane handshake state machines (control path), driven by poll() on a
// non-blocking socket. Reads are exact-sized so no byte of the data stream
// that follows is consumed here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <poll.h>

#include <string>
#include <vector>

#include "core/channel_impl.h"
#include "core/unique_fd.h"
#include "core/wire.h"
#include "transport/tcp/tls_lane.h"

namespace farlink::tcp {

// Moves exact byte counts in and out of a non-blocking socket.
class StepIo {
 public:
  explicit StepIo(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }
  UniqueFd takeFd() { return std::move(fd_); }
  void queueWrite(std::string bytes) { out_ += bytes; }
  void expect(size_t n) { in_.assign(n, 0); have_ = 0; }
  bool writing() const { return sent_ < out_.size(); }
  bool reading() const { return have_ < in_.size(); }
  const uint8_t* input() const { return in_.data(); }
  std::string inputText() const { return std::string(in_.begin(), in_.end()); }
  // One non-blocking attempt; kAgain when the socket is not ready.
  Status step(const std::string& peer);

 private:
  UniqueFd fd_;
  std::string out_;
  size_t sent_ = 0;
  std::vector<uint8_t> in_;
  size_t have_ = 0;
};

class ServerHandshake {
 public:
  struct Config {
    std::string psk;
    uint32_t max_chunk;
    TlsMode tls = TlsMode::kOff;
    // Session resume agreed with clients that offer it (FARLINK_RESUME_TIMEOUT).
    bool resume = false;
    // A reconnecting lane (kCapResuming): OK if its session is live here,
    // else why not (answered with kSessionMismatch before any proof).
    std::function<Status(const wire::Hello&, const std::string& peer)> check_resume;
    bool ktls = true;  // try kernel TLS after the TLS handshake (FARLINK_KTLS)
  };
  ServerHandshake(UniqueFd fd, std::string peer, const Config* config, Deadline deadline);

  // Advances on readiness; true once finished (see ok()).
  bool advance();
  short events() const;
  bool ok() const { return state_ == State::kDone; }
  const Status& error() const { return error_; }
  const wire::Hello& hello() const { return hello_; }
  const std::string& peer() const { return peer_; }
  Deadline deadline() const { return deadline_; }
  int fd() const { return io_.fd(); }
  UniqueFd takeFd() { return io_.takeFd(); }
  // Refuses a lane whose handshake succeeded but whose session is unusable.
  void refuse(wire::HandshakeStatus status, Status why);
  // The lane's TLS session once ok(), if TLS was agreed; else null.
  std::unique_ptr<TlsLane> takeTls() { return std::move(tls_); }

 private:
  enum class State { kReadHello, kWriteWelcome, kReadProof, kWriteVerdict, kWriteThenFail,
                     kTls, kDone, kFailed };
  void onHello();
  void finish();
  void failWith(wire::HandshakeStatus status, Status why, bool as_verdict);

  StepIo io_;
  std::string peer_;
  const Config* config_;
  Deadline deadline_;
  State state_ = State::kReadHello;
  wire::Hello hello_;
  wire::Nonce nonce_{};
  Status error_;
  bool use_tls_ = false;
  std::unique_ptr<TlsLane> tls_;
};

class ClientHandshake {
 public:
  struct Config {
    std::string psk;
    uint32_t max_chunk;
    wire::SessionId session;
    uint16_t lane_count;
    uint32_t capabilities = 0;  // HELLO bits beyond PSK
    // Picks the chunk size to announce from the first connected socket (its
    // RTT); every lane then announces that one. Null: max_chunk.
    std::function<uint32_t(int fd)> chunk_for_path;
    mutable std::optional<uint32_t> announced_chunk;
    TlsMode tls = TlsMode::kOff;  // offered in HELLO (TCP lanes only)
    bool ktls = true;  // try kernel TLS after the TLS handshake (FARLINK_KTLS)
  };
  ClientHandshake(UniqueFd connecting_fd, std::string peer, const Config* config,
                  uint16_t lane_index);

  bool advance();
  short events() const;
  bool ok() const { return state_ == State::kDone; }
  // The TCP connect (SYN) is not answered yet.
  bool connecting() const { return state_ == State::kConnecting; }
  const Status& error() const { return error_; }
  int fd() const { return io_.fd(); }
  UniqueFd takeFd() { return io_.takeFd(); }
  uint32_t peerMaxChunk() const { return welcome_.max_chunk; }
  uint32_t peerCapabilities() const { return welcome_.capabilities; }
  std::unique_ptr<TlsLane> takeTls() { return std::move(tls_); }

 private:
  enum class State { kConnecting, kHello, kWelcomeReason, kProof, kVerdictReason, kTls, kDone,
                     kFailed };
  void onWelcome();
  bool fail(Status s);
  bool finish();

  StepIo io_;
  std::string peer_;
  const Config* config_;
  uint16_t lane_index_;
  State state_ = State::kConnecting;
  wire::Nonce nonce_{};
  wire::Welcome welcome_;
  wire::Verdict verdict_;
  bool server_proof_bad_ = false;
  Status error_;
  bool use_tls_ = false;
  std::unique_ptr<TlsLane> tls_;
};


// Random bytes for nonces and session ids (OpenSSL RAND_bytes).
void randomBytes(uint8_t* out, size_t n);

}  // namespace farlink::tcp
