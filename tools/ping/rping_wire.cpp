#include "ping/rping_wire.h"

#include <cstring>
#include <string>

namespace farlink::ping {
namespace {

void putBe(uint8_t* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}

uint64_t getBe(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

AdvertBytes encodeAdvert(const RpingAdvert& advert) {
  AdvertBytes out{};
  putBe(out.data(), advert.addr, 8);
  putBe(out.data() + 8, advert.rkey, 4);
  putBe(out.data() + 12, advert.size, 4);
  return out;
}

Result<RpingAdvert> decodeAdvert(const uint8_t* data, size_t len) {
  if (len != kAdvertSize)
    return Status(StatusCode::kProtocolError,
                  "received a " + std::to_string(len) + "-byte control message; rping's are " +
                      std::to_string(kAdvertSize) + " bytes (is the peer rping?)");
  RpingAdvert a;
  a.addr = getBe(data, 8);
  a.rkey = static_cast<uint32_t>(getBe(data + 8, 4));
  a.size = static_cast<uint32_t>(getBe(data + 12, 4));
  return a;
}

Result<size_t> echoLength(const char* data, size_t read_len, uint32_t sink_size) {
  const size_t text = strnlen(data, read_len);
  const size_t n = text < read_len ? text + 1 : read_len;
  if (n > sink_size)
    return Status(StatusCode::kProtocolError, "the client's sink buffer holds " +
                                                  std::to_string(sink_size) +
                                                  " bytes, the echo needs " + std::to_string(n) +
                                                  " (use the same -S on both sides)");
  return n;
}

size_t firstDifference(const char* a, const char* b, size_t size) {
  for (size_t i = 0; i < size; ++i)
    if (a[i] != b[i]) return i;
  return size;
}

}  // namespace farlink::ping
