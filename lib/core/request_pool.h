// Recycles one channel's RequestStates: a ping-pong made a heap block (and a
// weak_from_this) per isend and irecv. Not thread-safe: the owning channel
// serialises access.
//
// A state is reused only once this pool holds the sole reference
// (use_count() == 1): no Request handle, queue or matcher entry can still
// see it, and no other thread can gain a reference without holding one.
// Requests may outlive the channel: the pool only drops its references then.
#pragma once

#include <array>
#include <atomic>
#include <memory>

#include "core/request_state.h"

namespace farlink {

class ChannelImpl;

class RequestPool {
 public:
  std::shared_ptr<RequestState> acquire(ChannelImpl& owner, RequestState::Kind kind, uint8_t* data,
                                        size_t size, uint64_t tag);

 private:
  // Taken round-robin, so a slot comes back after kSlots operations; one
  // still in flight then is simply left to its holders and replaced.
  static constexpr size_t kSlots = 64;
  std::array<std::shared_ptr<RequestState>, kSlots> slots_;
  size_t next_ = 0;
};

}  // namespace farlink
