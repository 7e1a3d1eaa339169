// Outgoing messages cut into chunks on demand. Lanes pull the next chunk
// when they can send, so a faster lane takes more chunks. Not thread-safe:
// the owning channel serialises access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "core/request_state.h"
#include "core/wire.h"

namespace farlink {

struct OutMessage {
  std::shared_ptr<RequestState> req;  // null: nobody waits for the send itself
  wire::FrameType type = wire::FrameType::kData;
  uint64_t remote_offset = 0;  // kWrite: region offset of byte 0
  uint64_t seq = 0;
  uint64_t tag = 0;
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  uint64_t next_offset = 0;  // first byte not yet taken by a lane
  bool all_taken = false;
  uint32_t chunks_in_flight = 0;
};

struct ChunkRef {
  OutMessage* msg;
  uint64_t offset;
  uint32_t len;
};

class SendQueue {
 public:
  explicit SendQueue(uint32_t chunk_size) : chunk_size_(chunk_size) {}

  // Returns the message's sequence number.
  uint64_t push(std::shared_ptr<RequestState> req, const uint8_t* data, uint64_t size,
                uint64_t tag);
  // A message the datapath sent whole without queueing it (nothing was
  // queued ahead): takes its sequence number. Returns it.
  uint64_t countSentDirectly() { return next_seq_++; }
  // The sequence number the next message gets.
  uint64_t nextSeq() const { return next_seq_; }
  // A one-sided operation's payload; `id` is carried as the frame's msg_seq.
  void pushRma(wire::FrameType type, uint64_t id, const uint8_t* data, uint64_t size,
               uint64_t tag, uint64_t remote_offset);
  uint32_t chunkSize() const { return chunk_size_; }
  size_t pending() const { return count_; }
  bool hasChunks() const { return take_ < count_; }
  // Every pushed message has been fully handed to the transport.
  bool empty() const { return count_ == 0; }
  std::optional<ChunkRef> take();
  // Size of the chunk take() would return next (0 when there is none, or
  // when it is a 0-byte message).
  uint64_t nextChunkBytes() const {
    if (take_ >= count_) return 0;
    const OutMessage& m = *msgs_[take_];
    return std::min<uint64_t>(chunk_size_, m.size - m.next_offset);
  }
  // The transport finished sending `c`; completes the request when its
  // last chunk is done. Returns true if a request completed.
  bool done(const ChunkRef& c);
  void failAll(const Status& why);
  uint64_t messagesPushed() const { return next_seq_; }
  uint64_t bytesQueued() const { return bytes_queued_; }

 private:
  void popCompleted();
  // A cleared message from the spares, or a new one: a heap block per
  // message showed in a ping-pong's profile.
  std::unique_ptr<OutMessage> fresh();

  uint32_t chunk_size_;
  uint64_t next_seq_ = 0;
  uint64_t bytes_queued_ = 0;  // not yet taken
  std::deque<std::unique_ptr<OutMessage>> msgs_;  // pushed, not yet completed
  size_t take_ = 0;  // index in msgs_ of the first message with chunks left
  // msgs_.size(), kept apart: a deque's size() is a dozen instructions, and
  // drivers ask hasChunks() several times per pass.
  size_t count_ = 0;
  static constexpr size_t kSpares = 8;
  std::vector<std::unique_ptr<OutMessage>> spares_;  // completed, for reuse
};

}  // namespace farlink
