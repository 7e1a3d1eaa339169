// IEEE binary16 and bfloat16 <-> binary32 conversions, rounding to nearest
// even; NaN stays NaN (quieted), infinities and subnormals are exact.
// Branch-light so that the kernels' loops vectorise.
#pragma once

#include <bit>
#include <cstdint>

namespace farlink::coll {

inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: man * 2^-24 is exact in binary32.
    float v = float(man) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

inline uint16_t floatToHalf(float x) {
  uint32_t f = std::bit_cast<uint32_t>(x);
  uint16_t sign = uint16_t((f >> 16) & 0x8000);
  f &= 0x7fffffffu;
  if (f >= 0x47800000u) {  // >= 2^16: infinity, or NaN (kept NaN, quiet bit set)
    return uint16_t(sign | (f > 0x7f800000u ? 0x7e00 | ((f >> 13) & 0x3ff) : 0x7c00));
  }
  if (f < 0x38800000u) {  // below the smallest normal half (2^-14)
    if (f < 0x33000000u) return sign;  // < 2^-25 rounds to zero
    uint32_t e = f >> 23;
    uint32_t m = (f & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14..24
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    h += (rem > halfway || (rem == halfway && (h & 1))) ? 1 : 0;
    return uint16_t(sign | h);
  }
  // Normal: rebias the exponent, round on the 13 dropped bits; a carry out
  // of the mantissa bumps the exponent (up to infinity), which is correct.
  f += 0xfffu + ((f >> 13) & 1);
  return uint16_t(sign | ((f - 0x38000000u) >> 13));
}

inline float bf16ToFloat(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

inline uint16_t floatToBf16(float x) {
  uint32_t f = std::bit_cast<uint32_t>(x);
  if ((f & 0x7fffffffu) > 0x7f800000u) return uint16_t((f >> 16) | 0x40);  // quiet NaN
  f += 0x7fffu + ((f >> 16) & 1);
  return uint16_t(f >> 16);
}

}  // namespace farlink::coll
