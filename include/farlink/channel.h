// Channels: reliable, ordered, bidirectional, tagged-message pipes between two
// processes, carried over one or more lanes (TCP connections today).
//
// Progress model: a channel has no thread of its own. Calls that wait
// (Request::wait, Channel::send/recv/progress, Listener::accept) move bytes;
// isend/irecv start as much I/O as the kernel accepts without blocking. Every
// method is thread-safe; one thread at a time drives the I/O and wakes others.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "farlink/memory.h"
#include "farlink/options.h"
#include "farlink/status.h"

namespace farlink {

inline constexpr std::chrono::milliseconds kForever{-1};
// Matches a message of any tag in irecv.
inline constexpr uint64_t kAnyTag = ~uint64_t{0};

class RequestState;

// Handle to one isend/irecv. Copyable; all copies refer to the same operation.
class Request {
 public:
  Request() = default;
  explicit Request(std::shared_ptr<RequestState> state);

  // Drives progress once without blocking. True when finished (successfully
  // or not); then status() tells which.
  bool test();
  // Blocks until finished or until timeout passes (kForever: no limit).
  // Returns the operation's status, or kTimedOut (the operation continues).
  Status wait(std::chrono::milliseconds timeout = kForever);
  bool done() const;
  Status status() const;
  // Bytes sent, or bytes of the message received (may be < capacity).
  size_t bytes() const;
  // The tag of the received message (useful with kAnyTag).
  uint64_t tag() const;
  bool valid() const { return state_ != nullptr; }

 private:
  friend class Channel;  // blocking send/recv withdraw their own requests
  std::shared_ptr<RequestState> state_;
};

struct LaneStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t chunks_sent = 0;
  uint64_t chunks_received = 0;
  bool up = false;
  // What the path looks like from this lane, as the datapath measures it
  // (TCP: the kernel's TCP_INFO). Zero when the datapath cannot tell.
  double rtt_us = 0;           // smoothed round-trip time
  double rtt_var_us = 0;       // its mean deviation
  double min_rtt_us = 0;       // lowest seen: the path without queueing
  uint64_t delivery_rate_bps = 0;  // bits per second recently delivered
  uint64_t pacing_rate_bps = 0;
  uint64_t cwnd_bytes = 0;     // congestion window
  uint64_t retransmits = 0;    // segments or packets sent again
  std::string congestion;      // congestion control in use, e.g. "cubic", "bbr"
  // verbs: the RC QP's local ACK timeout t (4.096 us x 2^t), as the device
  // reports it. 0 for other datapaths.
  int ack_timeout = 0;
};

// The channel's own flow control (FARLINK_FLOW); controller empty = off.
struct FlowSummary {
  std::string controller;       // "model", "fixed", or "" (kernel per lane)
  std::string state;            // "startup", "probe_bw", "probe_bw/backoff", ...
  std::string limiting_factor;  // what holds the rate down now
  double min_rtt_us = 0;
  double srtt_us = 0;
  double queueing_delay_us = 0;   // smoothed RTT minus min RTT
  double delivery_rate_bps = 0;   // bottleneck estimate, bits/s
  double pacing_rate_bps = 0;     // bits/s; 0 = not paced
  uint64_t inflight_bytes = 0;    // handed to lanes, not yet acked by the peer's kernel
  uint64_t inflight_cap = 0;
};

struct ChannelStats {
  std::string transport;  // "tcp", "verbs", "ucx"
  // Why auto:// chose this transport (empty for an explicit scheme), e.g.
  // "auto: no RDMA device on this host".
  std::string transport_reason;
  // What the datapath itself runs on, when it picks by itself: for ucx://
  // the UCX transports of its endpoints, e.g. "ucx: cma/memory posix/memory".
  std::string transport_detail;
  std::string peer;       // "127.0.0.1:7174"
  std::string session_id; // hex
  int lanes = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_sent = 0;      // payload bytes
  uint64_t bytes_received = 0;  // payload bytes
  uint64_t unexpected_bytes = 0;  // buffered now for receives not yet posted
  // Since the channel opened: messages (and their bytes) that arrived before
  // a receive matched them, so were buffered and then copied once more. A
  // count that grows with the traffic means receives are posted too late.
  uint64_t messages_staged = 0;
  uint64_t bytes_staged = 0;
  bool authenticated = false;
  bool encrypted = false;  // every lane carries TLS 1.3 (TlsMode)
  // Who seals the TLS records: "kernel" (kTLS on every lane), "user"
  // (OpenSSL; tls_offload_note says why not the kernel), "mixed"; "" when
  // not encrypted.
  std::string tls_offload;
  std::string tls_offload_note;
  // TCP with session resume (resume_timeout): times every lane was lost and
  // the channel reconnected them without losing a byte.
  uint64_t resumes = 0;
  std::vector<LaneStats> lane;
  FlowSummary flow;
};

class ChannelImpl;

class Channel {
 public:
  // Connects to "tcp://host:port" (host may be a name, IPv4 or [IPv6]),
  // "verbs://host:port" (RDMA RC QPs via rdma_cm; host must be an address
  // of an RDMA netdev) or "auto://host:port" (verbs when an RDMA device
  // reaches the peer, else TCP; see ChannelOptions::verbs_policy). Schemes
  // this build lacks ("ucx://", or verbs without rdma-core) are kNotSupported.
  // Blocks up to options.connect_timeout.
  static Result<std::unique_ptr<Channel>> connect(std::string_view uri,
                                                  const ChannelOptions& options = {});

  ~Channel();  // closes (abortively if close() was not called)
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Starts sending `size` bytes at `data` with `tag` (any value but kAnyTag).
  // The buffer must stay valid and unchanged until the request finishes.
  Result<Request> isend(const void* data, size_t size, uint64_t tag);
  // Posts a receive for the next message with `tag` (or kAnyTag) of at most
  // `capacity` bytes. Messages of one tag match receives in send order; a
  // message larger than capacity fails the request with kInvalidArgument.
  Result<Request> irecv(void* data, size_t capacity, uint64_t tag);

  // Blocking forms. When the timeout passes they never leave the library
  // holding the caller's buffer: a receive that has not matched a message is
  // withdrawn (kTimedOut, the channel stays usable); a send, or a receive
  // already filling, cannot be withdrawn without breaking the stream, so the
  // channel is failed with kTimedOut instead. Use isend/irecv and
  // Request::wait(timeout) to wait without these consequences.
  Status send(const void* data, size_t size, uint64_t tag,
              std::chrono::milliseconds timeout = kForever);
  // Returns the received size.
  Result<size_t> recv(void* data, size_t capacity, uint64_t tag,
                      std::chrono::milliseconds timeout = kForever);

  // One-sided: copies `size` bytes at `local` into the peer's registered
  // region `key` at byte `offset`, without the peer's application taking
  // part. Finishes once the peer has placed every byte; a refused access
  // (unknown/deregistered region, no kRemoteWrite, out of bounds) fails the
  // request with kInvalidArgument. `local` must stay valid until then.
  Result<Request> iwrite(const void* local, size_t size, const RemoteKey& key, uint64_t offset);
  // One-sided: fills `local` with `size` bytes of the peer's region at `offset`.
  Result<Request> iread(void* local, size_t size, const RemoteKey& key, uint64_t offset);
  Status write(const void* local, size_t size, const RemoteKey& key, uint64_t offset,
               std::chrono::milliseconds timeout = kForever);
  Status read(void* local, size_t size, const RemoteKey& key, uint64_t offset,
              std::chrono::milliseconds timeout = kForever);

  // Moves bytes for up to `timeout` (0 = just what is ready now).
  Status progress(std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  // Waits until every isend so far has been handed to the kernel.
  Status flush(std::chrono::milliseconds timeout = kForever);
  // Graceful close: flushes sends, tells the peer, releases lanes. Pending
  // receives finish with kCancelled (or kPeerClosed when the peer's own
  // goodbye arrives first). The peer's pending requests then finish with
  // kPeerClosed.
  Status close(std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});

  ChannelStats stats() const;
  std::string peer() const;

  explicit Channel(std::unique_ptr<ChannelImpl> impl);
  explicit Channel(std::shared_ptr<ChannelImpl> impl);

 private:
  // Shared: outstanding Requests keep the datapath alive to report results.
  std::shared_ptr<ChannelImpl> impl_;
};

class ListenerImpl;

// Accepts channels on "tcp://addr:port" (port 0 picks a free port). Serves
// many channels: each accepted channel is independent of the listener.
class Listener {
 public:
  static Result<std::unique_ptr<Listener>> listen(std::string_view uri,
                                                  const ChannelOptions& options = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Waits for the next channel whose lanes all connected and authenticated.
  // Failed handshakes (garbage, wrong version, wrong key, timeouts) do not end
  // the wait: they are logged and kept in rejections().
  Result<std::unique_ptr<Channel>> accept(std::chrono::milliseconds timeout = kForever);
  // The bound port (useful after port 0).
  uint16_t port() const;
  std::string uri() const;
  // Failed handshakes since the last call, each naming the peer and reason.
  std::vector<Status> rejections();

  explicit Listener(std::unique_ptr<ListenerImpl> impl);

 private:
  std::unique_ptr<ListenerImpl> impl_;
};

// How many auto:// connects and listeners in this process fell back to TCP
// (each fallback is also logged once to stderr). Thread-safe.
uint64_t autoFallbackCount();

}  // namespace farlink
