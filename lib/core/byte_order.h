// Little-endian load/store for wire codecs (no alignment assumptions).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace farlink {

// On little-endian hosts a fixed-size memcpy is one load or store; the
// byte loops stay for big-endian ones (GCC did not merge them: ~240
// instructions per frame header each way).
template <typename T>
inline void putLe(uint8_t* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (size_t i = 0; i < sizeof v; ++i) p[i] = uint8_t(v >> (8 * i));
  }
}
template <typename T>
inline T getLe(const uint8_t* p) {
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (size_t i = sizeof v; i-- > 0;) v = T(v << 8) | p[i];
  }
  return v;
}

inline void put16(uint8_t* p, uint16_t v) { putLe(p, v); }
inline void put32(uint8_t* p, uint32_t v) { putLe(p, v); }
inline void put64(uint8_t* p, uint64_t v) { putLe(p, v); }
inline uint16_t get16(const uint8_t* p) { return getLe<uint16_t>(p); }
inline uint32_t get32(const uint8_t* p) { return getLe<uint32_t>(p); }
inline uint64_t get64(const uint8_t* p) { return getLe<uint64_t>(p); }

}  // namespace farlink
