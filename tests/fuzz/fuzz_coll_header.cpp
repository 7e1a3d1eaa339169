// Fuzzes the inter-site collective header check (lib/coll/wire_header): the
// 32 bytes a rank of another site puts in front of every payload. The first
// input bytes choose what this rank expects (kept valid: they are local), the
// rest is the peer's header. An accepted header must carry exactly the
// expected fields, the rank's own encoding must always be accepted, and every
// rejection must name the peer.
#include <cstdint>
#include <cstring>
#include <string>

#include "coll/wire_header.h"
#include "core/byte_order.h"

using namespace farlink;
using namespace farlink::coll;

namespace {

constexpr size_t kExpectBytes = 24;  // op, dtype, reduce, pad, count, chunk, seq

WireHeader expectFrom(const uint8_t* p) {
  WireHeader h;
  h.op = WireOp(1 + p[0] % 4);
  h.dtype = DataType(p[1] % kDataTypeCount);
  h.reduce = ReduceOp(p[2] % kReduceOpCount);
  h.count = get64(p + 4);
  h.chunk = get64(p + 12);
  h.seq = get32(p + 20);
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kExpectBytes) return 0;
  const WireHeader expect = expectFrom(data);
  const std::string peer = "rank 3 (site b, 10.0.0.9:7000)";

  uint8_t own[kWireHeaderSize];
  encodeWireHeader(expect, own);
  if (!checkWireHeader(own, sizeof own, expect, peer).isOk())
    __builtin_trap();  // a rank rejects what it sends itself

  const uint8_t* in = data + kExpectBytes;
  const size_t n = size - kExpectBytes;
  Status st = checkWireHeader(in, n, expect, peer);
  if (st.isOk()) {
    // Bytes 9..11 are padding the check does not read; all else must match.
    if (n != kWireHeaderSize || std::memcmp(in, own, 9) != 0 ||
        std::memcmp(in + 12, own + 12, kWireHeaderSize - 12) != 0)
      __builtin_trap();  // accepted a header for another collective
  } else if (st.code() != StatusCode::kProtocolError ||
             st.message().find(peer) == std::string::npos) {
    __builtin_trap();  // a rejection that does not say who sent it
  }
  return 0;
}
