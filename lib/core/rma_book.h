// Bookkeeping of one-sided operations carried as frames (WRITE, READ_REQ,
// READ_RESP, RMA_ACK; see core/wire.h), shared by every datapath that emulates
// RMA over its message path. Decides where a frame's payload goes, checks the
// owner's region table before any byte is placed, and completes requests.
// No I/O; not thread-safe: the owning channel serialises access.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/region_table.h"
#include "core/request_state.h"
#include "core/send_queue.h"
#include "core/wire.h"

namespace farlink {

class ChannelImpl;

class RmaBook {
 public:
  explicit RmaBook(std::string peer) : peer_(std::move(peer)) {}

  // kResourceExhausted when too many operations are in flight.
  Status admit(const char* op) const;
  // Queues the payload of a write on `rmaq` (frames carry `key`'s region id).
  std::shared_ptr<RequestState> startWrite(std::weak_ptr<ChannelImpl> ch, const void* local,
                                           size_t size, const RemoteKey& key, uint64_t offset,
                                           SendQueue& rmaq);
  // Queues a READ_REQ header on `ctrlq`.
  std::shared_ptr<RequestState> startRead(std::weak_ptr<ChannelImpl> ch, void* local, size_t size,
                                          const RemoteKey& key, uint64_t offset,
                                          std::deque<wire::FrameHeader>& ctrlq);

  // Where the payload of the one-sided frame `h` goes: `dest` (null: read
  // and drop it), or a protocol error naming what the peer did wrong. A read
  // request queues its answer on `rmaq`.
  struct Route {
    bool ok = true;
    uint8_t* dest = nullptr;
    std::string error;  // !ok: what the peer did, e.g. "answered a read nobody asked for"
  };
  Route route(const wire::FrameHeader& h, SendQueue& rmaq);
  // The payload routed for `h` has been placed; may queue an RMA_ACK on ctrlq.
  void payloadDone(const wire::FrameHeader& h, std::deque<wire::FrameHeader>& ctrlq);
  void failAll(const Status& why);

 private:
  struct PendingRead {
    std::shared_ptr<RequestState> req;
    uint8_t* local;
    uint64_t length;
    uint64_t received;
  };
  struct IncomingWrite {
    uint64_t total;
    uint64_t received;
    RmaVerdict verdict;
  };
  Status refused(const char* op, RmaVerdict v) const;

  std::string peer_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<RequestState>> pending_writes_;
  std::unordered_map<uint64_t, PendingRead> pending_reads_;
  std::unordered_map<uint64_t, IncomingWrite> incoming_writes_;
};

}  // namespace farlink
