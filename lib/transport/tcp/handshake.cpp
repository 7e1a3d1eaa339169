#include "transport/tcp/handshake.h"

#include <openssl/rand.h>
#include <sys/socket.h>

#include <cerrno>
#include <random>

#include "transport/tcp/socket_util.h"

namespace farlink::tcp {

using wire::HandshakeStatus;

void randomBytes(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  // RAND_bytes fails only without an entropy source; nonces must still differ.
  std::random_device rd;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(rd());
}

// One step of a lane's TLS handshake: false while it waits for the socket,
// true once it finished, ok or with *error set.
static bool stepTls(TlsLane& tls, int fd, Status* error) {
  Status s = tls.handshake(fd);
  if (s.code() == StatusCode::kAgain) return false;
  *error = std::move(s);
  return true;
}

Status StepIo::step(const std::string& peer) {
  while (writing()) {
    ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
    if (n > 0) { sent_ += static_cast<size_t>(n); continue; }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Status(StatusCode::kAgain, "");
    return errnoStatus(StatusCode::kPeerClosed, "handshake send to " + peer, errno);
  }
  while (reading()) {
    ssize_t n = ::recv(fd_.get(), in_.data() + have_, in_.size() - have_, 0);
    if (n > 0) { have_ += static_cast<size_t>(n); continue; }
    if (n == 0)
      return Status(StatusCode::kPeerClosed, "peer " + peer + " closed the connection during the handshake");
    if (errno == EAGAIN || errno == EINTR) return Status(StatusCode::kAgain, "");
    return errnoStatus(StatusCode::kPeerClosed, "handshake recv from " + peer, errno);
  }
  return Status();
}

// ---------------- server ----------------

ServerHandshake::ServerHandshake(UniqueFd fd, std::string peer, const Config* config,
                                 Deadline deadline)
    : io_(std::move(fd)), peer_(std::move(peer)), config_(config), deadline_(deadline) {
  io_.expect(wire::kHelloSize);
  randomBytes(nonce_.data(), nonce_.size());
}

short ServerHandshake::events() const {
  if (state_ == State::kTls) return tls_->wantsWrite() ? POLLOUT : POLLIN;
  return io_.writing() ? POLLOUT : POLLIN;
}

void ServerHandshake::failWith(HandshakeStatus status, Status why, bool as_verdict) {
  if (as_verdict) {
    io_.queueWrite(wire::encodeVerdict({status, why.message()}));
  } else {
    wire::Welcome w;
    w.status = status;
    w.reason = why.message();
    io_.queueWrite(wire::encodeWelcome(w));
  }
  io_.expect(0);
  error_ = std::move(why);
  state_ = State::kWriteThenFail;
}

void ServerHandshake::refuse(HandshakeStatus status, Status why) {
  failWith(status, std::move(why), !config_->psk.empty());
  (void)io_.step(peer_);  // best effort: the peer learns why
  state_ = State::kFailed;
}

void ServerHandshake::onHello() {
  std::span<const uint8_t, wire::kHelloSize> in(io_.input(), wire::kHelloSize);
  Status s = wire::decodeHello(in, &hello_);
  if (!s) {
    return failWith(HandshakeStatus::kBadHello,
                    Status(StatusCode::kProtocolError, "from " + peer_ + ": " + s.message()), false);
  }
  if (hello_.version != wire::kVersion) {
    return failWith(HandshakeStatus::kBadVersion,
                    Status(StatusCode::kProtocolError,
                           "peer " + peer_ + " speaks farlink protocol v" +
                               std::to_string(hello_.version) + "; this side speaks v" +
                               std::to_string(wire::kVersion) + " (upgrade one side)"),
                    false);
  }
  bool client_psk = (hello_.capabilities & wire::kCapPsk) != 0;
  bool server_psk = !config_->psk.empty();
  if (server_psk && !client_psk) {
    return failWith(HandshakeStatus::kAuthRequired,
                    Status(StatusCode::kUnauthenticated,
                           "peer " + peer_ + " offered no pre-shared key; this listener requires "
                           "one (set FARLINK_PSK on the client)"),
                    false);
  }
  if (client_psk && !server_psk) {
    return failWith(HandshakeStatus::kUnauthenticated,
                    Status(StatusCode::kUnauthenticated,
                           "peer " + peer_ + " wants PSK authentication but this listener has no "
                           "key (set FARLINK_PSK on the listener)"),
                    false);
  }
  const bool client_tls = (hello_.capabilities & wire::kCapTls) != 0;
  if (config_->tls == TlsMode::kRequired && !client_tls) {
    return failWith(HandshakeStatus::kTlsMismatch,
                    Status(StatusCode::kNotSupported,
                           "peer " + peer_ + " did not offer TLS and this listener requires it "
                           "(set FARLINK_TLS=on or required on the client, with the listener's "
                           "FARLINK_PSK)"),
                    false);
  }
  if ((hello_.capabilities & wire::kCapTlsRequired) != 0 && config_->tls == TlsMode::kOff) {
    return failWith(HandshakeStatus::kTlsMismatch,
                    Status(StatusCode::kNotSupported,
                           "peer " + peer_ + " requires TLS but this listener has it off (set "
                           "FARLINK_TLS=on on the listener)"),
                    false);
  }
  const bool offers_resume = (hello_.capabilities & wire::kCapResume) != 0;
  const bool resuming = (hello_.capabilities & wire::kCapResuming) != 0;
  if (resuming && !offers_resume)
    return failWith(HandshakeStatus::kBadHello,
                    Status(StatusCode::kProtocolError,
                           "from " + peer_ + ": HELLO says it is resuming without offering resume"),
                    false);
  if (resuming) {
    Status known = (config_->resume && config_->check_resume)
                       ? config_->check_resume(hello_, peer_)
                       : Status(StatusCode::kNotSupported,
                                "peer " + peer_ + " tried to resume a session on a listener with "
                                "session resume off (FARLINK_RESUME_TIMEOUT=0)");
    if (!known) return failWith(HandshakeStatus::kSessionMismatch, known, false);
  }
  // TLS is keyed from the PSK, so it rides only on an authenticated lane.
  use_tls_ = client_tls && server_psk && config_->tls != TlsMode::kOff;
  // Only TCP lanes resume; a bootstrap for another datapath never does.
  const bool use_resume =
      offers_resume && config_->resume && (hello_.capabilities & wire::kCapUcx) == 0;
  // Every TCP lane that offers it gets keepalive: it costs the listener nothing.
  const bool use_keepalive = (hello_.capabilities & wire::kCapKeepalive) != 0 &&
                             (hello_.capabilities & wire::kCapUcx) == 0;
  wire::Welcome w;
  w.capabilities = (server_psk ? wire::kCapPsk : 0) | (use_tls_ ? wire::kCapTls : 0) |
                   (use_resume ? wire::kCapResume : 0) |
                   (use_keepalive ? wire::kCapKeepalive : 0);
  w.max_chunk = config_->max_chunk;
  w.nonce = nonce_;
  if (server_psk)
    w.proof = wire::computeProof(config_->psk, wire::Role::kServer, hello_.session,
                                 hello_.lane_index, hello_.nonce, nonce_);
  io_.queueWrite(wire::encodeWelcome(w));
  io_.expect(server_psk ? wire::Proof{}.size() : 0);
  state_ = server_psk ? State::kReadProof : State::kWriteWelcome;
}

void ServerHandshake::finish() {
  if (!use_tls_) {
    state_ = State::kDone;
    return;
  }
  wire::Proof key = wire::computeProof(config_->psk, wire::Role::kTls, hello_.session,
                                       hello_.lane_index, hello_.nonce, nonce_);
  auto t = TlsLane::create(TlsLane::Side::kServer, key, peer_, hello_.lane_index,
                           config_->ktls);
  if (!t) {
    error_ = t.status();
    state_ = State::kFailed;
    return;
  }
  tls_ = std::move(t.value());
  state_ = State::kTls;
}

bool ServerHandshake::advance() {
  for (;;) {
    if (state_ == State::kDone || state_ == State::kFailed) return true;
    if (state_ == State::kTls) {
      if (!stepTls(*tls_, io_.fd(), &error_)) return false;
      state_ = error_.isOk() ? State::kDone : State::kFailed;
      return true;
    }
    Status s = io_.step(peer_);
    if (s.code() == StatusCode::kAgain) return false;
    if (!s) {
      if (state_ != State::kWriteThenFail) error_ = s;
      state_ = State::kFailed;
      return true;
    }
    switch (state_) {
      case State::kReadHello: onHello(); break;
      case State::kWriteWelcome: state_ = State::kDone; break;
      case State::kReadProof: {
        wire::Proof got{};
        std::memcpy(got.data(), io_.input(), got.size());
        wire::Proof want = wire::computeProof(config_->psk, wire::Role::kClient, hello_.session,
                                              hello_.lane_index, hello_.nonce, nonce_);
        if (!wire::proofEqual(got, want)) {
          failWith(HandshakeStatus::kUnauthenticated,
                   Status(StatusCode::kUnauthenticated,
                          "peer " + peer_ + " failed PSK authentication (wrong pre-shared key)"),
                   true);
          break;
        }
        io_.queueWrite(wire::encodeVerdict({HandshakeStatus::kOk, ""}));
        state_ = State::kWriteVerdict;
        break;
      }
      case State::kWriteVerdict: finish(); break;
      case State::kWriteThenFail: state_ = State::kFailed; break;
      case State::kTls:
      case State::kDone:
      case State::kFailed: break;
    }
  }
}

// ---------------- client ----------------

ClientHandshake::ClientHandshake(UniqueFd fd, std::string peer, const Config* config,
                                 uint16_t lane_index)
    : io_(std::move(fd)), peer_(std::move(peer)), config_(config), lane_index_(lane_index) {
  randomBytes(nonce_.data(), nonce_.size());
}

short ClientHandshake::events() const {
  if (state_ == State::kTls) return tls_->wantsWrite() ? POLLOUT : POLLIN;
  return (state_ == State::kConnecting || io_.writing()) ? POLLOUT : POLLIN;
}

bool ClientHandshake::fail(Status s) {
  error_ = std::move(s);
  state_ = State::kFailed;
  return true;
}

static StatusCode codeForRefusal(HandshakeStatus s) {
  switch (s) {
    case HandshakeStatus::kAuthRequired:
    case HandshakeStatus::kUnauthenticated: return StatusCode::kUnauthenticated;
    case HandshakeStatus::kBusy: return StatusCode::kResourceExhausted;
    case HandshakeStatus::kTlsMismatch: return StatusCode::kNotSupported;
    default: return StatusCode::kProtocolError;
  }
}

void ClientHandshake::onWelcome() {
  auto refused = [&](HandshakeStatus st, const std::string& reason) {
    fail(Status(codeForRefusal(st), "peer " + peer_ + " refused lane " +
                                        std::to_string(lane_index_) + ": " +
                                        wire::handshakeStatusName(st) +
                                        (reason.empty() ? "" : " (" + reason + ")")));
  };
  if (welcome_.status != HandshakeStatus::kOk) return refused(welcome_.status, welcome_.reason);
  if (welcome_.version != wire::kVersion) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + peer_ + " speaks farlink protocol v" +
                    std::to_string(welcome_.version) + "; this side speaks v" +
                    std::to_string(wire::kVersion)));
    return;
  }
  const bool tls_accepted = (welcome_.capabilities & wire::kCapTls) != 0;
  if (tls_accepted && (config_->tls == TlsMode::kOff || config_->psk.empty())) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + peer_ + " turned on TLS, which this side did not offer"));
    return;
  }
  if (!tls_accepted && config_->tls == TlsMode::kRequired) {
    fail(Status(StatusCode::kNotSupported,
                "peer " + peer_ + " does not use TLS (its FARLINK_TLS is off, or its farlink "
                "predates TLS) and this side requires it (FARLINK_TLS=required): set "
                "FARLINK_TLS=on on the listener, or FARLINK_TLS=on here to allow plaintext"));
    return;
  }
  use_tls_ = tls_accepted;
  const bool resume_agreed = (welcome_.capabilities & wire::kCapResume) != 0;
  if (resume_agreed && (config_->capabilities & wire::kCapResume) == 0) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + peer_ + " turned on session resume, which this side did not offer"));
    return;
  }
  if ((welcome_.capabilities & wire::kCapKeepalive) != 0 &&
      (config_->capabilities & wire::kCapKeepalive) == 0) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + peer_ + " turned on keepalive frames, which this side did not offer"));
    return;
  }
  if (!resume_agreed && (config_->capabilities & wire::kCapResuming) != 0) {
    fail(Status(StatusCode::kNotSupported,
                "peer " + peer_ + " accepted a reconnecting lane without agreeing to resume"));
    return;
  }
  if (config_->psk.empty()) {
    state_ = State::kDone;
    return;
  }
  if ((welcome_.capabilities & wire::kCapPsk) == 0) {
    fail(Status(StatusCode::kUnauthenticated,
                "peer " + peer_ + " did not authenticate with the pre-shared key"));
    return;
  }
  wire::Proof want = wire::computeProof(config_->psk, wire::Role::kServer, config_->session,
                                        lane_index_, nonce_, welcome_.nonce);
  // A wrong server proof still gets our proof sent, so that the listener
  // learns of the mismatch too (kUnauthenticated on both sides) instead of
  // seeing a connection drop.
  server_proof_bad_ = !wire::proofEqual(want, welcome_.proof);
  wire::Proof mine = wire::computeProof(config_->psk, wire::Role::kClient, config_->session,
                                        lane_index_, nonce_, welcome_.nonce);
  io_.queueWrite(std::string(reinterpret_cast<const char*>(mine.data()), mine.size()));
  io_.expect(wire::kVerdictFixedSize);
  state_ = State::kProof;
}

bool ClientHandshake::finish() {
  if (!use_tls_) {
    state_ = State::kDone;
    return true;
  }
  wire::Proof key = wire::computeProof(config_->psk, wire::Role::kTls, config_->session,
                                       lane_index_, nonce_, welcome_.nonce);
  auto t = TlsLane::create(TlsLane::Side::kClient, key, peer_, lane_index_, config_->ktls);
  if (!t) return fail(t.status());
  tls_ = std::move(t.value());
  state_ = State::kTls;
  return false;
}

bool ClientHandshake::advance() {
  for (;;) {
    if (state_ == State::kDone || state_ == State::kFailed) return true;
    if (state_ == State::kTls) {
      if (!stepTls(*tls_, io_.fd(), &error_)) return false;
      state_ = error_.isOk() ? State::kDone : State::kFailed;
      return true;
    }
    if (state_ == State::kConnecting) {
      if (Status s = finishConnect(io_.fd(), peer_); !s) return fail(s);
      wire::Hello h;
      h.capabilities = (config_->psk.empty() ? 0 : wire::kCapPsk) | config_->capabilities;
      if (config_->tls != TlsMode::kOff) h.capabilities |= wire::kCapTls;
      if (config_->tls == TlsMode::kRequired) h.capabilities |= wire::kCapTlsRequired;
      h.lane_index = lane_index_;
      h.lane_count = config_->lane_count;
      if (!config_->announced_chunk)
        config_->announced_chunk =
            config_->chunk_for_path ? config_->chunk_for_path(io_.fd()) : config_->max_chunk;
      h.max_chunk = *config_->announced_chunk;
      h.session = config_->session;
      h.nonce = nonce_;
      uint8_t buf[wire::kHelloSize];
      wire::encodeHello(h, buf);
      io_.queueWrite(std::string(reinterpret_cast<char*>(buf), sizeof buf));
      io_.expect(wire::kWelcomeFixedSize);
      state_ = State::kHello;
    }
    Status s = io_.step(peer_);
    if (s.code() == StatusCode::kAgain) return false;
    if (!s) return fail(s);
    size_t reason_len = 0;
    switch (state_) {
      case State::kHello: {
        std::span<const uint8_t, wire::kWelcomeFixedSize> in(io_.input(), wire::kWelcomeFixedSize);
        if (Status d = wire::decodeWelcomeFixed(in, &welcome_, &reason_len); !d)
          return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": " + d.message()));
        if (reason_len > 0) {
          io_.expect(reason_len);
          state_ = State::kWelcomeReason;
        } else {
          onWelcome();
        }
        break;
      }
      case State::kWelcomeReason:
        welcome_.reason = io_.inputText();
        onWelcome();
        break;
      case State::kProof: {
        std::span<const uint8_t, wire::kVerdictFixedSize> in(io_.input(), wire::kVerdictFixedSize);
        if (Status d = wire::decodeVerdictFixed(in, &verdict_, &reason_len); !d)
          return fail(Status(StatusCode::kProtocolError, "from " + peer_ + ": " + d.message()));
        if (reason_len > 0) {
          io_.expect(reason_len);
          state_ = State::kVerdictReason;
          break;
        }
        [[fallthrough]];
      }
      case State::kVerdictReason:
        if (state_ == State::kVerdictReason) verdict_.reason = io_.inputText();
        if (server_proof_bad_)
          return fail(Status(StatusCode::kUnauthenticated,
                             "peer " + peer_ +
                                 " failed PSK authentication (wrong pre-shared key on one side)"));
        if (verdict_.status != HandshakeStatus::kOk)
          return fail(Status(codeForRefusal(verdict_.status),
                             "peer " + peer_ + " refused lane " + std::to_string(lane_index_) +
                                 ": " + wire::handshakeStatusName(verdict_.status) +
                                 (verdict_.reason.empty() ? "" : " (" + verdict_.reason + ")")));
        if (finish()) return true;
        break;
      default: break;
    }
  }
}

}  // namespace farlink::tcp
