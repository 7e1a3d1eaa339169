// Fuzzes what `farlink ping --rping` reads from a stock or hostile rping
// peer: the 16-byte advert, and the echo-length rule the server applies to
// bytes it RDMA READ from the client.
#include <cstdint>
#include <cstring>
#include <vector>

#include "ping/rping_wire.h"

using namespace farlink::ping;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto advert = decodeAdvert(data, size);
  if (advert && encodeAdvert(*advert) != AdvertBytes{}) {
    AdvertBytes again = encodeAdvert(*advert);
    if (std::memcmp(again.data(), data, kAdvertSize) != 0) __builtin_trap();
  }
  if (size < 4) return 0;
  uint32_t sink = 0;
  std::memcpy(&sink, data, 4);
  // The bytes a server read from the client, in a block of exactly that size
  // so AddressSanitizer sees any read past it.
  std::vector<char> read(data + 4, data + size);
  auto n = echoLength(read.data(), read.size(), sink);
  if (n && (*n > read.size() || *n > sink)) __builtin_trap();
  return 0;
}
