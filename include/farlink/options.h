// Channel and listener options. Every field can also be set by a FARLINK_*
// environment variable (see fromEnvironment()); explicit code wins only when
// the caller applies the environment first and then overrides.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "farlink/status.h"

namespace farlink {

// Whether auto:// may, must or must not use the RDMA verbs datapath.
enum class VerbsPolicy : uint8_t {
  kAuto,      // verbs when an RDMA device reaches the peer, else TCP
  kRequired,  // verbs or a clear error, never TCP
  kOff,       // TCP only
};

// Who decides how fast a channel sends (see man/farlink.7, "Flow control").
enum class FlowMode : uint8_t {
  kAuto,   // farlink's model controller when the path RTT is >= 1 ms, else kOff
  kOff,    // the kernel's TCP congestion control alone, per lane
  kModel,  // farlink's BBR-like controller paces the whole channel
  kFixed,  // a set rate (flow_rate), for labs
};

// Whether TCP lanes are encrypted (TLS 1.3 keyed from the pre-shared key;
// see man/farlink.7, "FAILURE HANDLING AND SECURITY").
enum class TlsMode : uint8_t {
  kOff,       // plaintext lanes; a peer that requires TLS refuses them
  kOn,        // TLS 1.3 when the peer offers it too, else plaintext
  kRequired,  // TLS 1.3 or a clear error, never plaintext
};

struct ChannelOptions {
  // Parallel connections (TCP) or QPs (verbs) per channel. FARLINK_LANES.
  int lanes = 4;
  // Messages are cut into chunks of at most this many bytes before being
  // striped over lanes. FARLINK_CHUNK_SIZE (accepts K/M/G suffixes).
  size_t chunk_size = 1u << 20;
  // Largest message this side accepts from a peer. FARLINK_MAX_MESSAGE.
  uint64_t max_message_size = uint64_t{1} << 40;
  // Bytes of received messages that no irecv has claimed yet, buffered before
  // the channel stops reading from its lanes (TCP back-pressure).
  // FARLINK_MAX_UNEXPECTED.
  size_t max_unexpected_bytes = size_t{256} << 20;
  // Pre-shared key; when set on both sides every lane proves knowledge of it
  // with HMAC-SHA256. When set only on the listener, clients without it are
  // refused. FARLINK_PSK.
  std::string psk;
  // tcp:// lanes: TLS 1.3 after the handshake, keyed from `psk` (which it
  // therefore needs) and the handshake's nonces. verbs and ucx channels are
  // not encrypted; kRequired makes auto:// use TCP. FARLINK_TLS=off|on|required.
  TlsMode tls = TlsMode::kOff;
  // TLS lanes: hand the records to the kernel (kTLS) when it offers the
  // `tls` ULP, else OpenSSL seals them in user space (ChannelStats::
  // tls_offload says which). false always uses OpenSSL. FARLINK_KTLS.
  bool ktls = true;
  // Local address the connecting side's lanes start from (numeric IPv4 or
  // IPv6; empty: the kernel picks by route). On a host with several
  // interfaces it chooses the one that faces the long-haul link. tcp and ucx
  // bind their TCP connections to it; verbs resolves the route from it.
  // FARLINK_SOURCE_ADDRESS.
  std::string source_address;
  // Connect + handshake deadline. FARLINK_CONNECT_TIMEOUT_MS.
  std::chrono::milliseconds connect_timeout{10000};
  // Per-socket send/receive buffer in bytes; 0 keeps the kernel's
  // autotuning. FARLINK_SOCKET_BUFFER.
  size_t socket_buffer = 0;
  // Disable Nagle (small messages leave at once). FARLINK_NODELAY.
  bool nodelay = true;
  // io_uring submission queue depth per channel. FARLINK_RING_DEPTH.
  unsigned ring_depth = 256;
  // auto://: FARLINK_VERBS=auto|required|off.
  VerbsPolicy verbs_policy = VerbsPolicy::kAuto;
  // auto://: which datapaths to try, in order, comma-separated from
  // "verbs", "ucx", "tcp"; the first that can serve the peer wins (UCX only
  // when it offers a transport beyond TCP and shared memory, e.g. RDMA).
  // Names this build lacks are skipped. FARLINK_AUTO_ORDER.
  std::string auto_order = "verbs,ucx,tcp";
  // verbs and ucx: spin on the completion queues (verbs) or the UCP worker
  // (ucx) instead of sleeping on their event fds (lower latency, one busy
  // core per waiting thread). FARLINK_BUSY_POLL.
  bool busy_poll = false;
  // TCP: how long a peer may leave bytes in flight unacknowledged (our
  // data, or the KEEPALIVE frame a quiet lane gets while a thread waits on
  // the channel) before the channel fails with kPeerClosed. The peer's
  // kernel answers, so a busy or slow-reading application is never taken
  // for dead. 0: derived per lane, 6 x RTO where RTO = srtt + max(4 x
  // rttvar, 200 ms) as in Linux (about 1.3 s on a LAN). Lanes no thread
  // drives rely on kernel keepalive (max(10 s, 50 x RTT), or this).
  // FARLINK_DEAD_PEER_MS (at least 200, the minimum RTO).
  std::chrono::milliseconds dead_peer_timeout{0};
  // TCP: FARLINK_FLOW=off (default)|auto|model|fixed.
  FlowMode flow = FlowMode::kOff;
  // Bits per second: the rate for kFixed, a ceiling for kModel (0 = none).
  // FARLINK_FLOW_RATE, decimal suffixes (e.g. 950M, 10G).
  uint64_t flow_rate_bps = 0;
  // tcp:// lanes: when every lane of a channel is lost without a goodbye
  // (a reset, a blackout longer than the dead-peer timeout), the side that
  // connected reconnects with the session id and both sides resume from the
  // last frame each lane acknowledged; callers see a delay, not an error, for
  // up to this long, then kPeerClosed. Both sides must set it (the HELLO
  // offers it). While on, a send completes once the peer acknowledged all of
  // it (no copies are kept). 0 (default): off, lanes lost = channel failed.
  // verbs and ucx channels never resume. FARLINK_RESUME_TIMEOUT (ms).
  std::chrono::milliseconds resume_timeout{0};

  // Reads FARLINK_* variables over the given defaults; an unparsable value is
  // an error naming the variable.
  static Result<ChannelOptions> fromEnvironment(ChannelOptions defaults);
  static Result<ChannelOptions> fromEnvironment();
  // Checks ranges (lanes 1..64, chunk 4 KiB..64 MiB, ...).
  Status validate() const;
};

}  // namespace farlink
