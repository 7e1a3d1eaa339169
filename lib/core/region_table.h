// Process-wide table of registered memory regions, looked up by the id in a
// RemoteKey when a peer's one-sided operation arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "farlink/memory.h"

namespace farlink {

class MemoryRegionImpl {
 public:
  uint64_t id = 0;
  uint8_t* data = nullptr;
  size_t size = 0;
  uint32_t access = 0;
};

// Status of a peer's access, as carried in RMA replies.
enum class RmaVerdict : uint8_t { kOk = 0, kUnknownRegion = 1, kDenied = 2, kOutOfBounds = 3 };
const char* rmaVerdictText(RmaVerdict v);

// Finds a live region and checks [offset, offset+len) and the access bit.
RmaVerdict checkRegionAccess(uint64_t id, uint64_t offset, uint64_t len, uint32_t access,
                             uint8_t** where);

}  // namespace farlink
