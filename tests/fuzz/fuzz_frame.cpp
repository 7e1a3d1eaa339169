// Fuzzes the frame-header decoder with receiver limits taken from the input,
// and checks that whatever it accepts re-encodes to the same bytes.
#include <cstdint>
#include <cstring>

#include "core/wire.h"

using namespace farlink::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kFrameHeaderSize + 1) return 0;
  FrameLimits limits;
  limits.max_chunk = kMinChunk << (data[kFrameHeaderSize] % 15);  // 4 KiB .. 64 MiB
  limits.max_message = uint64_t{1} << (20 + data[kFrameHeaderSize] % 24);
  FrameHeader f;
  if (!decodeFrame(std::span<const uint8_t, kFrameHeaderSize>(data, kFrameHeaderSize), limits, &f))
    return 0;
  if (f.chunk_len > limits.max_chunk) __builtin_trap();
  uint8_t again[kFrameHeaderSize];
  encodeFrame(f, again);
  if (std::memcmp(again, data, kFrameHeaderSize) != 0) __builtin_trap();
  return 0;
}
