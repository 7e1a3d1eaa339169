// What the plugin hands NCCL as opaque pointers: send/receive comms (one
// farlink channel each, carrying one direction of one NCCL connection),
// memory handles and requests. Each starts with a magic number so a pointer
// of the wrong kind is refused with kNcclInvalidArgument instead of misused.
//
// Threads: NCCL drives one comm (isend/irecv/test/close) from one thread at
// a time, which is all these need; different comms may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "farlink/channel.h"
#include "plugin/nccl/clear_to_send.h"
#include "plugin/nccl/nccl_abi.h"
#include "plugin/nccl/plugin.h"

namespace farlink::nccl {

// farlink tag of the connector's hello; NCCL's int tags map to the low 32 bits.
inline constexpr uint64_t kHelloTag = uint64_t{1} << 63;
inline uint64_t farlinkTag(int nccl_tag) { return static_cast<uint32_t>(nccl_tag); }

class Comm;

struct NetRequest {
  static constexpr uint32_t kMagic = 0x71657266;  // set while in use
  uint32_t magic = 0;
  bool send = false;
  int n = 0;
  Comm* comm = nullptr;
  std::array<Request, kMaxRecvs> sub;
};

struct MrHandle {
  static constexpr uint32_t kMagic = 0x6d726866;
  uint32_t magic = kMagic;
  const uint8_t* base = nullptr;
  size_t size = 0;
  // Data must lie inside the registered range (NCCL's contract); checked
  // so a stray pointer fails the call instead of sending foreign memory.
  bool covers(const void* data, size_t len) const {
    auto* p = static_cast<const uint8_t*>(data);
    return p >= base && len <= size && static_cast<size_t>(p - base) <= size - len;
  }
};

class Comm {
 public:
  static constexpr uint32_t kSendMagic = 0x73636f6d;
  static constexpr uint32_t kRecvMagic = 0x72636f6d;

  Comm(bool send, std::unique_ptr<Channel> channel);
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  bool isSend() const { return magic_ == kSendMagic; }
  Channel& channel() { return *channel_; }
  // Send comms spend the peer's announcements; receive comms make them.
  CtsLedger& ledger() { return ledger_; }
  CtsAnnouncer& announcer() { return announcer_; }
  const std::string& peer() const { return peer_; }
  // A free request slot, or null when NCCL_NET_MAX_REQUESTS are in flight.
  NetRequest* takeRequest(bool send, int n);
  static void releaseRequest(NetRequest* r);
  // Flushes and closes the channel, waiting briefly for the peer's goodbye;
  // failures are logged, not returned (NCCL is done with the comm anyway).
  void close();

  // Null unless `p` is a comm (of the wanted direction, when given).
  static Comm* from(void* p);
  static Comm* from(void* p, bool send);

 private:
  uint32_t magic_;
  std::unique_ptr<Channel> channel_;
  std::string peer_;
  std::array<NetRequest, kNcclNetMaxRequests> requests_;
  CtsLedger ledger_;
  CtsAnnouncer announcer_;
};

}  // namespace farlink::nccl
