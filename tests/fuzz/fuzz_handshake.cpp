// Fuzzes every handshake decoder a peer can reach (HELLO on the server,
// WELCOME and VERDICT on the client) and the RemoteKey a peer hands over.
// The first input byte picks the decoder.
#include <cstdint>
#include <string>

#include "core/wire.h"
#include "farlink/memory.h"

using namespace farlink::wire;

namespace {

template <size_t N>
bool fits(size_t size) { return size >= N; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0] % 4;
  ++data;
  --size;
  switch (which) {
    case 0: {
      if (!fits<kHelloSize>(size)) return 0;
      Hello h;
      // Another version decodes without field checks: the server answers
      // kBadVersion in kind and looks at nothing else.
      if (decodeHello(std::span<const uint8_t, kHelloSize>(data, kHelloSize), &h) &&
          h.version == kVersion) {
        if (h.lane_count == 0 || h.lane_count > kMaxLanes || h.lane_index >= h.lane_count)
          __builtin_trap();  // accepted a lane layout the listener cannot hold
      }
      break;
    }
    case 1: {
      if (!fits<kWelcomeFixedSize>(size)) return 0;
      Welcome w;
      size_t reason_len = 0;
      if (decodeWelcomeFixed(std::span<const uint8_t, kWelcomeFixedSize>(data, kWelcomeFixedSize),
                             &w, &reason_len) &&
          reason_len > kMaxReason)
        __builtin_trap();  // the client would allocate what the peer claims
      break;
    }
    case 2: {
      if (!fits<kVerdictFixedSize>(size)) return 0;
      Verdict v;
      size_t reason_len = 0;
      if (decodeVerdictFixed(std::span<const uint8_t, kVerdictFixedSize>(data, kVerdictFixedSize),
                             &v, &reason_len) &&
          reason_len > kMaxReason)
        __builtin_trap();
      break;
    }
    case 3: {
      auto key = farlink::RemoteKey::deserialize(data, size);
      if (key && key->serialize().size() != farlink::RemoteKey::kSerializedSize) __builtin_trap();
      break;
    }
  }
  return 0;
}
