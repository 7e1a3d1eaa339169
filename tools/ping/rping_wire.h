// rdma-core rping's control message and the rules its server follows, as pure
// functions (no verbs) so they can be unit-tested on any host.
//
// Every control SEND in rping carries one 16-byte advert, struct
// rping_rdma_info: buf (uint64), rkey (uint32), size (uint32), all big-endian.
// The client advertises its start buffer (the server RDMA READs it) and then
// its rdma buffer (the server RDMA WRITEs the echo there); the server's own
// "go ahead" and "done" SENDs are 16 bytes whose content nobody reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "farlink/status.h"

namespace farlink::ping {

inline constexpr size_t kAdvertSize = 16;
// Largest -S in --rping mode. Stock rping stops at kMaxSize (65535); a
// farlink peer goes further. Bounds what a client can make a server allocate.
inline constexpr size_t kRpingMaxSize = size_t{64} << 20;

struct RpingAdvert {
  uint64_t addr = 0;
  uint32_t rkey = 0;
  uint32_t size = 0;
  bool operator==(const RpingAdvert&) const = default;
};

using AdvertBytes = std::array<uint8_t, kAdvertSize>;

AdvertBytes encodeAdvert(const RpingAdvert& advert);
// kProtocolError unless `len` is exactly kAdvertSize (rping's own check).
Result<RpingAdvert> decodeAdvert(const uint8_t* data, size_t len);

// How many bytes a server writes back: like rping, the string it read plus its
// NUL (rping sends strlen + 1). Without a NUL, all `read_len` bytes. Fails with
// kProtocolError when the client's sink (`sink_size`) cannot hold them, where
// rping would cause a remote access error.
Result<size_t> echoLength(const char* data, size_t read_len, uint32_t sink_size);

// Index of the first byte that differs, or `size` when equal.
size_t firstDifference(const char* a, const char* b, size_t size);

}  // namespace farlink::ping
