#include "packet_pool.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace farlink::wanem {

Result<PacketPool> PacketPool::create(size_t slot_bytes, size_t budget_bytes) {
  slot_bytes = (std::max<size_t>(slot_bytes, 64) + 63) / 64 * 64;
  size_t slots = std::max<size_t>(64, budget_bytes / slot_bytes);
  size_t bytes = slots * slot_bytes;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("cannot map {} bytes of packet buffers; lower --buffer", bytes), errno);
  }
  return PacketPool(static_cast<uint8_t*>(p), bytes, slot_bytes, slots);
}

PacketPool::PacketPool(uint8_t* base, size_t map_bytes, size_t slot_bytes, size_t slots)
    : base_(base), map_bytes_(map_bytes), slot_bytes_(slot_bytes), slots_(slots) {
  free_.reserve(slots);
  // Lowest slots on top: a light load keeps reusing the same few pages.
  for (size_t i = slots; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

PacketPool::PacketPool(PacketPool&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      map_bytes_(o.map_bytes_),
      slot_bytes_(o.slot_bytes_),
      slots_(o.slots_),
      free_(std::move(o.free_)) {}

PacketPool::~PacketPool() {
  if (base_ != nullptr) munmap(base_, map_bytes_);
}

}  // namespace farlink::wanem
