// kTLS for a TLS lane: after OpenSSL's handshake the kernel takes over the
// records (TCP_ULP "tls", then TLS_TX and TLS_RX with the application
// traffic keys), so the datapath sends and receives plaintext with no
// user-space copy or cipher. The keys come from the TLS 1.3 traffic secrets
// OpenSSL reports through its key log callback, expanded as RFC 8446 7.3
// says. Any step the kernel refuses leaves the socket as it was and the
// lane on OpenSSL's user-space records.
#include <linux/tls.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "transport/tcp/tls_lane.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace farlink::tcp {
namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// HKDF-Expand-Label(secret, label, "", n) with SHA-256 (RFC 8446 7.1).
bool expandLabel(const std::vector<uint8_t>& secret, const char* label, uint8_t* out, size_t n) {
  std::string full = std::string("tls13 ") + label;
  std::vector<uint8_t> info;
  info.push_back(static_cast<uint8_t>(n >> 8));
  info.push_back(static_cast<uint8_t>(n));
  info.push_back(static_cast<uint8_t>(full.size()));
  info.insert(info.end(), full.begin(), full.end());
  info.push_back(0);  // empty context
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  bool ok = EVP_KDF_derive(ctx, out, n, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

// The kernel's description of one direction; sequence numbers start at 0
// (no application record was sent yet, and tickets are off).
union CryptoInfo {
  tls12_crypto_info_aes_gcm_128 aes;
  tls12_crypto_info_chacha20_poly1305 chacha;
};

bool fill(const std::vector<uint8_t>& secret, bool chacha, CryptoInfo* ci, size_t* len) {
  std::memset(ci, 0, sizeof *ci);
  uint8_t key[32], iv[12];
  const size_t key_len = chacha ? 32 : 16;
  if (!expandLabel(secret, "key", key, key_len) || !expandLabel(secret, "iv", iv, sizeof iv))
    return false;
  if (chacha) {
    ci->chacha.info.version = TLS_1_3_VERSION;
    ci->chacha.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
    std::memcpy(ci->chacha.key, key, 32);
    std::memcpy(ci->chacha.iv, iv, 12);
    *len = sizeof ci->chacha;
  } else {
    // TLS 1.3's 12-byte IV is the kernel's 4-byte salt and 8-byte iv.
    ci->aes.info.version = TLS_1_3_VERSION;
    ci->aes.info.cipher_type = TLS_CIPHER_AES_GCM_128;
    std::memcpy(ci->aes.key, key, 16);
    std::memcpy(ci->aes.salt, iv, 4);
    std::memcpy(ci->aes.iv, iv + 4, 8);
    *len = sizeof ci->aes;
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(iv, sizeof iv);
  return true;
}

}  // namespace

void TlsLane::onKeyLog(const char* line) {
  std::vector<uint8_t>* to = nullptr;
  const char* rest = nullptr;
  if (std::strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) to = &client_secret_, rest = line + 24;
  else if (std::strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) to = &server_secret_, rest = line + 24;
  if (to == nullptr) return;
  rest = std::strchr(rest, ' ');  // skip the client random
  if (rest == nullptr) return;
  to->clear();
  for (++rest; hexDigit(rest[0]) >= 0 && hexDigit(rest[1]) >= 0; rest += 2)
    to->push_back(static_cast<uint8_t>(hexDigit(rest[0]) << 4 | hexDigit(rest[1])));
}

Result<std::string> TlsLane::offload(int fd) {
  struct Wipe {
    TlsLane* t;
    ~Wipe() {
      OPENSSL_cleanse(t->client_secret_.data(), t->client_secret_.size());
      OPENSSL_cleanse(t->server_secret_.data(), t->server_secret_.size());
      t->client_secret_.clear();
      t->server_secret_.clear();
    }
  } wipe{this};
  // Whatever OpenSSL already read past the handshake would be lost to the kernel.
  if (SSL_has_pending(ssl_)) return std::string("records buffered in OpenSSL");
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  const uint32_t id = c != nullptr ? SSL_CIPHER_get_id(c) & 0xffff : 0;
  if (id != 0x1301 && id != 0x1303) return std::string("cipher suite not offloaded");
  if (client_secret_.size() != 32 || server_secret_.size() != 32)
    return std::string("traffic secrets unavailable");
  const bool server = SSL_is_server(ssl_) == 1;
  CryptoInfo tx, rx;
  size_t tx_len = 0, rx_len = 0;
  if (!fill(server ? server_secret_ : client_secret_, id == 0x1303, &tx, &tx_len) ||
      !fill(server ? client_secret_ : server_secret_, id == 0x1303, &rx, &rx_len))
    return std::string("key derivation failed");
  struct WipeInfo {
    CryptoInfo* a;
    CryptoInfo* b;
    ~WipeInfo() {
      OPENSSL_cleanse(a, sizeof *a);
      OPENSSL_cleanse(b, sizeof *b);
    }
  } wipe_info{&tx, &rx};
  // Until TLS_TX succeeds the ULP alone changes nothing on the socket.
  if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") != 0)
    return std::string("no tls ULP in this kernel (") + std::strerror(errno) + ")";
  if (setsockopt(fd, SOL_TLS, TLS_TX, &tx, static_cast<socklen_t>(tx_len)) != 0)
    return std::string("kernel refused TLS_TX (") + std::strerror(errno) + ")";
  if (setsockopt(fd, SOL_TLS, TLS_RX, &rx, static_cast<socklen_t>(rx_len)) != 0)
    return Status(StatusCode::kIoError,
                  "kernel TLS took the send keys but refused the receive keys (" +
                      std::string(std::strerror(errno)) + ") on lane " +
                      std::to_string(lane_index_) + " to " + peer_ +
                      "; set FARLINK_KTLS=0 to keep TLS in user space");
  return std::string();
}

}  // namespace farlink::tcp
