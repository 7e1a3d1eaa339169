#include "core/request_pool.h"

#include "core/channel_impl.h"

namespace farlink {

std::shared_ptr<RequestState> RequestPool::acquire(ChannelImpl& owner, RequestState::Kind kind,
                                                   uint8_t* data, size_t size, uint64_t tag) {
  std::shared_ptr<RequestState>& slot = slots_[next_];
  next_ = (next_ + 1) % kSlots;
  if (slot && slot.use_count() == 1) {
    // use_count() reads relaxed; the last other holder released its
    // reference with a release decrement, so order its reads of the old
    // result before our writes.
    std::atomic_thread_fence(std::memory_order_acquire);
    slot->reuse(kind, data, size, tag);
  } else {
    slot = std::make_shared<RequestState>(kind, owner.weak_from_this(), data, size, tag);
  }
  return slot;
}

}  // namespace farlink
