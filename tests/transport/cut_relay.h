// A fault-injecting TCP relay for tests and benchmarks: listens on
// 127.0.0.1, forwards every connection made to it to a target port, and on
// demand cuts every relayed connection abruptly (SO_LINGER 0: both ends see
// a reset, as after a middlebox reset or a killed peer), after a number of
// relayed bytes or at once, as often as asked. It can also refuse new
// connections (reset right after accept) for a while, as a link that stays
// down. Forwarding is non-blocking with a buffer per direction, so a slow
// reader on one connection never stalls the others. No gtest dependency.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace farlink::test {

class CutRelay {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the relay thread; error() says why if it could not listen.
  // Listens on `bind_ip`:`listen_port` (0: any free port) and forwards to
  // 127.0.0.1:`target_port`.
  explicit CutRelay(uint16_t target_port, const std::string& bind_ip = "127.0.0.1",
                    uint16_t listen_port = 0);
  ~CutRelay();  // stops the thread, closes everything
  CutRelay(const CutRelay&) = delete;
  CutRelay& operator=(const CutRelay&) = delete;

  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  // Cuts every open connection once `bytes` more bytes (both directions
  // together) have been relayed from now on. One pending cut at a time.
  void cutAfter(uint64_t bytes);
  // Cuts every open connection now; returns once it is done.
  void cutNow();
  // While on, every new connection is reset as soon as it is accepted.
  void refuse(bool on) { refuse_ = on; }

  int cuts() const { return cuts_; }
  int connectionsAccepted() const { return accepted_; }
  uint64_t bytesRelayed() const { return relayed_; }
  Clock::time_point lastCut() const;

 private:
  struct Conn {
    int a = -1, b = -1;  // client side, server side
    std::string ab, ba;  // bytes read, not yet written on
    bool a_eof = false, b_eof = false;
  };
  void run();
  void acceptOne();
  void cutAll();
  // Reads what `from` has into `buf`, writes what `to` takes; false when
  // the connection is over (error, or EOF with nothing left to write).
  bool move(int from, int to, std::string& buf, bool& from_eof, bool readable, bool writable);

  uint16_t target_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string error_;
  std::vector<Conn> conns_;  // the relay thread's alone
  std::atomic<bool> stop_{false};
  std::atomic<bool> refuse_{false};
  std::atomic<bool> cut_now_{false};
  std::atomic<uint64_t> cut_at_{0};  // relayed_ value that triggers a cut; 0 = none
  std::atomic<uint64_t> relayed_{0};
  std::atomic<int> cuts_{0};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  Clock::time_point last_cut_{};
  std::thread thread_;
};

}  // namespace farlink::test
