// TLS 1.3 on one TCP lane: OpenSSL handshakes, then the kernel seals and
// opens the records (kTLS) when it offers the `tls` ULP, else OpenSSL does
// in user space.
// The key is an external PSK that both ends derive from FARLINK_PSK and the
// lane's farlink handshake (wire::Role::kTls), so no certificates are
// involved and a TLS stream spliced onto another lane or session fails its
// handshake. The handshake runs on the non-blocking socket (poll-driven,
// like the farlink handshake; sent with MSG_NOSIGNAL: a closed peer is an
// error, never SIGPIPE); afterwards the datapath moves ciphertext
// itself and uses seal()/feed()/read() on memory BIOs, unless kernel() says
// the socket now carries plaintext and the kernel does the records.
// Not thread-safe: one lane, one driver at a time.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/wire.h"
#include "farlink/status.h"

struct ssl_st;

namespace farlink::tcp {

class TlsLane {
 public:
  enum class Side { kClient, kServer };
  // `key` is wire::computeProof(psk, Role::kTls, ...) of this lane.
  static Result<std::unique_ptr<TlsLane>> create(Side side, const wire::Proof& key,
                                                 std::string peer, int lane_index,
                                                 bool try_kernel);
  ~TlsLane();
  TlsLane(const TlsLane&) = delete;
  TlsLane& operator=(const TlsLane&) = delete;

  // One non-blocking handshake attempt on `fd`: Ok when finished, kAgain
  // while waiting (wantsWrite() says for what), else an error naming the peer.
  Status handshake(int fd);
  bool wantsWrite() const { return want_write_; }
  // After the handshake: the kernel encrypts and decrypts on the socket
  // (kTLS); seal/feed/read are then unused. Else why not (kernelNote()).
  bool kernel() const { return kernel_; }
  const std::string& kernelNote() const { return kernel_note_; }
  // OpenSSL's key log line (the traffic secrets kTLS needs); internal.
  void onKeyLog(const char* line);

  // Encrypts the bytes of `iov` (in order) and appends the records to *out.
  Status seal(const iovec* iov, size_t n, std::vector<uint8_t>* out);
  // Hands received ciphertext to TLS.
  void feed(const uint8_t* data, size_t n);
  // Decrypts up to `cap` bytes into `out`: how many (0 = need more
  // ciphertext), or kProtocolError for a record that fails authentication.
  Result<size_t> read(uint8_t* out, size_t cap);
  // Ciphertext or plaintext is waiting inside TLS (read() would make progress).
  bool buffered() const;

 private:
  TlsLane(ssl_st* ssl, std::string peer, int lane_index, const wire::Proof& key);
  Status sslError(int rc, const char* op);
  // Hands the records to the kernel: "" on success, else why not (the
  // socket is then untouched). kIoError when it failed half-way.
  Result<std::string> offload(int fd);

  ssl_st* ssl_;
  std::string peer_;
  int lane_index_;
  wire::Proof key_;
  int bio_fd_ = -1;  // the socket the handshake BIO is on
  bool memory_bios_ = false;
  bool want_write_ = false;
  bool try_kernel_ = false;
  bool kernel_ = false;
  std::string kernel_note_;
  std::vector<uint8_t> client_secret_, server_secret_;  // application traffic, from the key log
  bool maybe_more_ = false;     // fed ciphertext read() has not exhausted
  std::vector<uint8_t> small_;  // coalesces small iovecs into one record
};

}  // namespace farlink::tcp
