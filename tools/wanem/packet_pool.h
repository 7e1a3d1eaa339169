// Fixed-size packet buffers for one forwarding direction, allocated once so
// the hot path never allocates. Memory comes from an anonymous mapping that
// is only backed by RAM as buffers are first used. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "farlink/status.h"

namespace farlink::wanem {

class PacketPool {
 public:
  // Slots of at least `slot_bytes`, as many as fit in `budget_bytes` (at least 64).
  static Result<PacketPool> create(size_t slot_bytes, size_t budget_bytes);
  PacketPool(PacketPool&& o) noexcept;
  PacketPool& operator=(PacketPool&&) = delete;
  PacketPool(const PacketPool&) = delete;
  ~PacketPool();

  size_t slotBytes() const { return slot_bytes_; }
  size_t slots() const { return slots_; }
  bool exhausted() const { return free_.empty(); }
  // The next free slot; only valid when !exhausted(). Stays free until take().
  uint32_t peek() const { return free_.back(); }
  void take() { free_.pop_back(); }
  void give(uint32_t slot) { free_.push_back(slot); }
  uint8_t* data(uint32_t slot) { return base_ + static_cast<size_t>(slot) * slot_bytes_; }

 private:
  PacketPool(uint8_t* base, size_t map_bytes, size_t slot_bytes, size_t slots);
  uint8_t* base_ = nullptr;
  size_t map_bytes_ = 0;
  size_t slot_bytes_ = 0;
  size_t slots_ = 0;
  std::vector<uint32_t> free_;
};

}  // namespace farlink::wanem
