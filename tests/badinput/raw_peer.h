// A misbehaving peer on a plain POSIX TCP socket: sends whatever bytes a test
// wants, speaks as much of the farlink handshake as the test asks for, and
// tells whether the listener hung up. Every read is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/wire.h"

namespace farlink::test {

class RawPeer {
 public:
  RawPeer() = default;
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // Connects to 127.0.0.1:port; false (with errno text in error()) on failure.
  bool connect(uint16_t port);
  uint16_t localPort() const { return local_port_; }
  // "127.0.0.1:<local port>", how the listener should name this peer.
  std::string name() const;
  const std::string& error() const { return error_; }

  bool send(const void* data, size_t n);
  bool send(const std::string& bytes) { return send(bytes.data(), bytes.size()); }
  // Exactly n bytes, or nullopt on EOF/error/timeout.
  std::optional<std::vector<uint8_t>> readExact(size_t n, std::chrono::milliseconds timeout);
  // True once the peer closed (read returns 0 or ECONNRESET) within timeout;
  // bytes that arrive before that are appended to *received.
  bool waitClosed(std::chrono::milliseconds timeout, std::vector<uint8_t>* received = nullptr);
  void close();

  // ---- handshake pieces ----
  static wire::Hello hello(uint16_t lane_index = 0, uint16_t lane_count = 1, bool psk = false);
  bool sendHello(const wire::Hello& h);
  // Reads a WELCOME (fixed part and reason).
  std::optional<wire::Welcome> readWelcome(std::chrono::milliseconds timeout);
  std::optional<wire::Verdict> readVerdict(std::chrono::milliseconds timeout);
  // HELLO → WELCOME (→ PROOF → VERDICT when psk is not empty) for one lane
  // of a one-lane session. True when the listener said OK at every step.
  bool handshake(const std::string& psk, std::string* why);

  // ---- frames ----
  bool sendFrame(const wire::FrameHeader& f, const void* payload = nullptr, size_t n = 0);

 private:
  int fd_ = -1;
  uint16_t local_port_ = 0;
  std::string error_;
};

// A DATA frame carrying a whole message of `n` bytes in one chunk.
wire::FrameHeader dataFrame(uint64_t msg_seq, uint64_t tag, uint32_t n);

}  // namespace farlink::test
