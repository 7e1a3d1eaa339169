// Layout (little-endian): u32 magic, u16 version, u8 op, u8 dtype, u8 reduce
// op, 3 bytes zero, u64 count, u64 chunk, u32 seq.
#include "coll/wire_header.h"

#include <cstring>

#include "core/byte_order.h"

namespace farlink::coll {

void encodeWireHeader(const WireHeader& h, uint8_t out[kWireHeaderSize]) {
  std::memset(out, 0, kWireHeaderSize);
  put32(out, kWireMagic);
  put16(out + 4, kWireVersion);
  out[6] = uint8_t(h.op);
  out[7] = uint8_t(h.dtype);
  out[8] = uint8_t(h.reduce);
  put64(out + 12, h.count);
  put64(out + 20, h.chunk);
  put32(out + 28, h.seq);
}

Status checkWireHeader(const uint8_t* in, size_t size, const WireHeader& expect,
                       const std::string& peer) {
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kProtocolError,
                  "inter-site header from " + peer + ": " + why +
                      "; every rank must run a compatible farlink and issue the same collectives "
                      "with the same dtype, op and count");
  };
  if (size != kWireHeaderSize)
    return bad(std::to_string(size) + " bytes instead of " + std::to_string(kWireHeaderSize));
  if (get32(in) != kWireMagic) return bad("bad magic (not a farlink collective header)");
  if (get16(in + 4) != kWireVersion)
    return bad("wire version " + std::to_string(get16(in + 4)) + ", this rank speaks " +
               std::to_string(kWireVersion));
  if (in[6] != uint8_t(expect.op))
    return bad("collective " + std::to_string(in[6]) + ", expected " +
               std::to_string(uint8_t(expect.op)));
  if (in[7] != uint8_t(expect.dtype))
    return bad("dtype " + (in[7] < kDataTypeCount ? std::string(dataTypeName(DataType(in[7])))
                                                  : std::to_string(in[7])) +
               ", expected " + std::string(dataTypeName(expect.dtype)));
  if (in[8] != uint8_t(expect.reduce))
    return bad("reduce op " + (in[8] < kReduceOpCount ? std::string(reduceOpName(ReduceOp(in[8])))
                                                      : std::to_string(in[8])) +
               ", expected " + std::string(reduceOpName(expect.reduce)));
  if (get64(in + 12) != expect.count)
    return bad("count " + std::to_string(get64(in + 12)) + ", expected " +
               std::to_string(expect.count));
  if (get64(in + 20) != expect.chunk)
    return bad("chunk " + std::to_string(get64(in + 20)) + ", expected " +
               std::to_string(expect.chunk));
  if (get32(in + 28) != expect.seq)
    return bad("collective number " + std::to_string(get32(in + 28)) + ", expected " +
               std::to_string(expect.seq));
  return Status();
}

}  // namespace farlink::coll
