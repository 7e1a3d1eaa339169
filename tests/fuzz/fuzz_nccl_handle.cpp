// Fuzzes the NCCL plugin's connect-handle decoder (lib/plugin/nccl/handle):
// NCCL carries these 128 bytes between ranks through its bootstrap, so a
// stale, truncated or foreign handle reaches decodeHandle() as is. Shorter
// inputs are zero-padded to the 128 bytes NCCL always hands over. A decoded
// handle must re-encode to the same fields and name an address that
// farlink's own URI parser accepts with the same port.
#include <cstdint>
#include <cstring>

#include "core/uri.h"
#include "plugin/nccl/handle.h"

using namespace farlink;
using namespace farlink::nccl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t in[kHandleBytes] = {};
  std::memcpy(in, data, size < kHandleBytes ? size : kHandleBytes);
  auto h = decodeHandle(in);
  if (!h) {
    if (h.status().code() != StatusCode::kInvalidArgument || h.status().message().empty())
      __builtin_trap();
    return 0;
  }
  if (h->nonce == 0 || h->port == 0 || (h->family != 4 && h->family != 6)) __builtin_trap();

  uint8_t again[kHandleBytes];
  encodeHandle(*h, again);
  auto h2 = decodeHandle(again);
  if (!h2 || h2->scheme != h->scheme || h2->family != h->family || h2->port != h->port ||
      h2->addr != h->addr || h2->nonce != h->nonce)
    __builtin_trap();  // the codec does not round-trip

  auto uri = parseUri(h->uri());
  if (!uri || uri->port != h->port || uri->scheme != schemeName(h->scheme))
    __builtin_trap();  // connect() would dial something else than listen() announced

  // connect() keeps its progress in the handle; that must not disturb it.
  writeStage(in, 0x0102030405060708ull);
  if (readStage(in) != 0x0102030405060708ull || !decodeHandle(in)) __builtin_trap();
  return 0;
}
