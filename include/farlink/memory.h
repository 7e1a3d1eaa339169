// Memory registration for one-sided operations (Channel::iwrite/iread).
// A MemoryRegion exposes [data, data+size) to peers that hold its RemoteKey;
// the key is plain bytes the application sends to the peer any way it likes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "farlink/status.h"

namespace farlink {

// Bit mask of what peers may do to a region.
enum Access : uint32_t {
  kRemoteRead = 1u << 0,
  kRemoteWrite = 1u << 1,
};

// Names a registered region to a peer. 24 bytes when serialised.
struct RemoteKey {
  uint64_t id = 0;      // random, never 0 for a live region
  uint64_t length = 0;  // bytes in the region
  uint32_t access = 0;  // Access bits

  static constexpr size_t kSerializedSize = 24;
  std::array<uint8_t, kSerializedSize> serialize() const;
  static Result<RemoteKey> deserialize(const void* bytes, size_t size);
};

class MemoryRegionImpl;

// Owns one registration. Thread-safe. The memory must stay valid, and the
// region alive, while a peer may access it: destroying it refuses later
// accesses (the peer's request fails), like ibv_dereg_mr.
class MemoryRegion {
 public:
  static Result<std::unique_ptr<MemoryRegion>> create(void* data, size_t size, uint32_t access);
  ~MemoryRegion();
  MemoryRegion(const MemoryRegion&) = delete;
  MemoryRegion& operator=(const MemoryRegion&) = delete;

  void* data() const;
  size_t size() const;
  RemoteKey remoteKey() const;

  explicit MemoryRegion(std::shared_ptr<MemoryRegionImpl> impl);

 private:
  std::shared_ptr<MemoryRegionImpl> impl_;
};

}  // namespace farlink
