#include "transport/tcp/tls_lane.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

namespace farlink::tcp {
namespace {

// The identity both ends name; the key itself differs per lane.
constexpr unsigned char kIdentity[] = "farlink-lane-v1";
constexpr size_t kIdentityLen = sizeof kIdentity - 1;
// TLS_AES_128_GCM_SHA256 names the PSK's hash, SHA-256 (the key is an
// HMAC-SHA256); the server may still pick ChaCha20-Poly1305-SHA256.
constexpr unsigned char kSuite[] = {0x13, 0x01};
// Small pieces (frame headers, small messages) are gathered into records of
// up to this size instead of costing a record each.
constexpr size_t kRecord = 16384;
constexpr size_t kSmall = 4096;

// Where each SSL's TlsLane is (for the key log callback).
int laneIndex() {
  static const int i = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}

void keyLog(const SSL* ssl, const char* line) {
  if (auto* t = static_cast<TlsLane*>(SSL_get_ex_data(ssl, laneIndex()))) t->onKeyLog(line);
}

SSL_CTX* makeContext(bool server) {
  SSL_CTX* c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (c == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  // Only suites whose hash is the PSK's (SHA-256): a server picking
  // AES-256-GCM-SHA384 would set the PSK aside and ask for a certificate.
  if (SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    SSL_CTX_free(c);
    return nullptr;
  }
  // Every lane does a fresh (EC)DHE handshake with its own key; tickets
  // would only add a post-handshake message.
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  // The traffic secrets kTLS needs are only handed out this way; they stay
  // inside the lane (tls_kernel.cpp) and are wiped once used.
  SSL_CTX_set_keylog_callback(c, keyLog);
  return c;
}

SSL_CTX* context(bool server) {
  // Never freed: shared by every lane of the process, created once.
  static SSL_CTX* const client = makeContext(false);
  static SSL_CTX* const srv = makeContext(true);
  return server ? srv : client;
}

SSL_SESSION* pskSession(SSL* ssl) {
  const auto* key = static_cast<const wire::Proof*>(SSL_get_app_data(ssl));
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kSuite);
  if (key == nullptr || cipher == nullptr) return nullptr;
  SSL_SESSION* s = SSL_SESSION_new();
  if (s == nullptr) return nullptr;
  if (SSL_SESSION_set1_master_key(s, key->data(), key->size()) != 1 ||
      SSL_SESSION_set_cipher(s, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

int useSession(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* idlen,
               SSL_SESSION** sess) {
  SSL_SESSION* s = pskSession(ssl);
  if (s == nullptr) return 0;
  // After a HelloRetryRequest for another hash the PSK no longer fits.
  if (md != nullptr && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
    SSL_SESSION_free(s);
    *sess = nullptr;
    return 1;
  }
  *id = kIdentity;
  *idlen = kIdentityLen;
  *sess = s;
  return 1;
}

int findSession(SSL* ssl, const unsigned char* id, size_t len, SSL_SESSION** sess) {
  *sess = nullptr;
  // An unknown identity gets no PSK; without a certificate the handshake
  // then fails, which is the answer.
  if (len != kIdentityLen || std::memcmp(id, kIdentity, len) != 0) return 1;
  *sess = pskSession(ssl);
  return *sess != nullptr ? 1 : 0;
}

// The handshake's socket BIO. OpenSSL's own (SSL_set_fd) writes with
// write(), which raises SIGPIPE when the peer has closed and so kills a
// process that did not ignore it; a library must neither do that nor change
// the process's signal disposition, so this one sends with MSG_NOSIGNAL
// (the peer's close is then an error of this lane only).
int fdOf(BIO* b) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b))); }

int socketWrite(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n;
  do n = ::send(fdOf(b), data, static_cast<size_t>(len), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int socketRead(BIO* b, char* out, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n;
  do n = ::recv(fdOf(b), out, static_cast<size_t>(len), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long socketCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

BIO_METHOD* makeSocketMethod() {
  BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "farlink socket");
  if (m == nullptr) return nullptr;
  BIO_meth_set_write(m, socketWrite);
  BIO_meth_set_read(m, socketRead);
  BIO_meth_set_ctrl(m, socketCtrl);
  return m;
}

// A BIO on `fd` (not owned: freeing the BIO leaves the socket open).
BIO* socketBio(int fd) {
  static BIO_METHOD* const method = makeSocketMethod();  // never freed
  BIO* b = method != nullptr ? BIO_new(method) : nullptr;
  if (b == nullptr) return nullptr;
  BIO_set_data(b, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(b, 1);
  return b;
}

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<TlsLane>> TlsLane::create(Side side, const wire::Proof& key,
                                                 std::string peer, int lane_index,
                                                 bool try_kernel) {
  SSL_CTX* ctx = context(side == Side::kServer);
  SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
  if (ssl == nullptr)
    return Status(StatusCode::kIoError, "cannot set up TLS for lane " + std::to_string(lane_index) +
                                            " to " + peer + ": " + opensslErrors());
  std::unique_ptr<TlsLane> t(new TlsLane(ssl, std::move(peer), lane_index, key));
  SSL_set_app_data(ssl, &t->key_);
  t->try_kernel_ = try_kernel;
  if (!try_kernel) t->kernel_note_ = "off (FARLINK_KTLS=0)";
  else SSL_set_ex_data(ssl, laneIndex(), t.get());
  if (side == Side::kServer) {
    SSL_set_psk_find_session_callback(ssl, findSession);
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_psk_use_session_callback(ssl, useSession);
    SSL_set_connect_state(ssl);
  }
  return t;
}

TlsLane::TlsLane(ssl_st* ssl, std::string peer, int lane_index, const wire::Proof& key)
    : ssl_(ssl), peer_(std::move(peer)), lane_index_(lane_index), key_(key) {}

TlsLane::~TlsLane() {
  SSL_free(ssl_);
  OPENSSL_cleanse(key_.data(), key_.size());
}

Status TlsLane::sslError(int rc, const char* op) {
  int err = SSL_get_error(ssl_, rc);
  std::string detail = opensslErrors();
  if (detail.empty())
    detail = err == SSL_ERROR_SYSCALL ? "connection closed" : "SSL error " + std::to_string(err);
  std::string where =
      std::string(op) + " with peer " + peer_ + " on lane " + std::to_string(lane_index_);
  if (!memory_bios_)
    return Status(StatusCode::kUnauthenticated,
                  "TLS " + where + " failed (" + detail +
                      "); both sides need the same FARLINK_PSK, and nothing on the path may "
                      "rewrite the connection");
  return Status(StatusCode::kProtocolError,
                "TLS " + where + " failed (" + detail +
                    "): the data was altered in transit or the peer is not farlink");
}

Status TlsLane::handshake(int fd) {
  if (memory_bios_) return Status();
  if (bio_fd_ != fd) {
    BIO* b = socketBio(fd);
    if (b == nullptr) return sslError(0, "setup");
    SSL_set_bio(ssl_, b, b);  // one reference, owned by ssl_ from now on
    bio_fd_ = fd;
  }
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc != 1) {
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      want_write_ = err == SSL_ERROR_WANT_WRITE;
      return Status(StatusCode::kAgain, "");
    }
    return sslError(rc, "handshake");
  }
  if (try_kernel_) {
    SSL_set_ex_data(ssl_, laneIndex(), nullptr);
    auto why = offload(fd);
    if (!why) return why.status();
    kernel_ = why->empty();
    kernel_note_ = *why;
    // The socket now carries plaintext; OpenSSL is done with this lane.
    if (kernel_) return Status();
  }
  // From now on the datapath moves the ciphertext (io_uring). OpenSSL reads
  // records exactly (no read-ahead), so no byte after the handshake is left
  // in the socket BIO that is dropped here.
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    return Status(StatusCode::kIoError, "out of memory for the TLS buffers of lane " +
                                            std::to_string(lane_index_) + " to " + peer_);
  }
  BIO_set_mem_eof_return(in, -1);  // empty means "wait for more", not EOF
  SSL_set_bio(ssl_, in, out);
  memory_bios_ = true;
  return Status();
}

Status TlsLane::seal(const iovec* iov, size_t n, std::vector<uint8_t>* out) {
  auto write = [&](const uint8_t* p, size_t len) -> Status {
    while (len > 0) {
      int piece = static_cast<int>(std::min<size_t>(len, INT_MAX / 2));
      ERR_clear_error();
      int rc = SSL_write(ssl_, p, piece);
      if (rc <= 0) return sslError(rc, "encrypting");
      p += rc;
      len -= static_cast<size_t>(rc);
    }
    return Status();
  };
  auto flushSmall = [&]() -> Status {
    Status s = write(small_.data(), small_.size());
    small_.clear();
    return s;
  };
  for (size_t i = 0; i < n; ++i) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t len = iov[i].iov_len;
    if (len < kSmall) {
      small_.insert(small_.end(), p, p + len);
      if (small_.size() >= kRecord)
        if (Status s = flushSmall(); !s) return s;
      continue;
    }
    if (!small_.empty()) {  // the header shares a record with its payload
      size_t take = std::min(len, kRecord - std::min(kRecord, small_.size()));
      small_.insert(small_.end(), p, p + take);
      p += take;
      len -= take;
      if (Status s = flushSmall(); !s) return s;
    }
    if (Status s = write(p, len); !s) return s;
  }
  if (!small_.empty())
    if (Status s = flushSmall(); !s) return s;
  BIO* wbio = SSL_get_wbio(ssl_);
  size_t have = BIO_ctrl_pending(wbio);
  size_t at = out->size();
  out->resize(at + have);
  int got = have > 0 ? BIO_read(wbio, out->data() + at, static_cast<int>(have)) : 0;
  out->resize(at + static_cast<size_t>(std::max(got, 0)));
  return Status();
}

void TlsLane::feed(const uint8_t* data, size_t n) {
  if (n > 0) BIO_write(SSL_get_rbio(ssl_), data, static_cast<int>(n));
  maybe_more_ = true;
}

Result<size_t> TlsLane::read(uint8_t* out, size_t cap) {
  if (cap == 0) return size_t{0};
  ERR_clear_error();
  int rc = SSL_read(ssl_, out, static_cast<int>(std::min<size_t>(cap, INT_MAX)));
  if (rc > 0) return static_cast<size_t>(rc);
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ) {
    maybe_more_ = false;
    return size_t{0};
  }
  if (err == SSL_ERROR_ZERO_RETURN)
    return Status(StatusCode::kProtocolError,
                  "peer " + peer_ + " ended TLS on lane " + std::to_string(lane_index_) +
                      " with close_notify, which farlink never sends (not a farlink peer?)");
  return sslError(rc, "decrypting");
}

bool TlsLane::buffered() const { return maybe_more_ || SSL_pending(ssl_) > 0; }

}  // namespace farlink::tcp
