// The vendor-neutral header in front of every inter-site payload: which
// collective, dtype, reduce op, element count and chunk it carries. Checked
// on receipt so that mismatched peers (other versions, other collectives)
// fail with a clear error instead of reducing garbage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "farlink/collective.h"

namespace farlink::coll {

inline constexpr uint32_t kWireMagic = 0x4f434c46;  // "FLCO" little-endian
inline constexpr uint16_t kWireVersion = 1;
inline constexpr size_t kWireHeaderSize = 32;

enum class WireOp : uint8_t { kAllreduce = 1, kReduceScatter = 2, kAllgather = 3, kBroadcast = 4 };

struct WireHeader {
  WireOp op = WireOp::kAllreduce;
  DataType dtype = DataType::kFloat32;
  ReduceOp reduce = ReduceOp::kSum;
  uint64_t count = 0;  // elements in the payload that follows
  uint64_t chunk = 0;  // segment index within the collective
  uint32_t seq = 0;    // collective sequence number
};

void encodeWireHeader(const WireHeader& h, uint8_t out[kWireHeaderSize]);
// Checks the bytes against what this rank expects; the error names `peer`.
Status checkWireHeader(const uint8_t* in, size_t size, const WireHeader& expect,
                       const std::string& peer);

}  // namespace farlink::coll
