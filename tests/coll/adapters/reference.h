// Test data and an independent reference for the adapter tests: every
// rank's input is a pure function of (seed, rank, index), so each rank can
// compute the expected result of any collective from the inputs of all
// ranks with plain loops (no farlink kernels).
//
// Integers use full-range random bits: sum and prod must wrap exactly
// (two's complement), min/max compare signed (unsigned for uint8).
// Floats use small multiples of 1/4 (sum, min, max) or {±1, 2, 1/2} (prod),
// so every partial result is exactly representable in fp16, bf16, fp32 and
// fp64 whatever the reduction order: results must match bit for bit. Only
// avg divides, and its tolerance is the rounding of the final divide in the
// dtype: |got - want| <= |want| * 2^-p, p = 10 (fp16), 7 (bf16), 22 (fp32),
// 51 (fp64).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "farlink/collective.h"

namespace adapters_test {

using farlink::DataType;
using farlink::ReduceOp;

inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint16_t toHalf(float f) {  // exact for the normal values used here
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) == 0) return uint16_t(b >> 16);
  uint32_t sign = (b >> 31) << 15, e = ((b >> 23) & 0xff) - 127 + 15, m = (b >> 13) & 0x3ff;
  return uint16_t(sign | (e << 10) | m);
}
inline float fromHalf(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {  // zero or subnormal
    float v = std::ldexp(float(m), -24);
    return sign ? -v : v;
  }
  uint32_t b =
      e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e - 15 + 127) << 23) | (m << 13));
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint16_t toBf16(float f) {  // exact: the values have <= 8 significant bits
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return uint16_t(b >> 16);
}
inline float fromBf16(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

inline bool isFloat(DataType t) { return t >= DataType::kFloat16; }

// Raw bits of the input element (integers) or its float value.
inline uint64_t intInput(uint64_t seed, int rank, size_t i) {
  return mix(seed * 1000003ull + uint64_t(rank) * 0x100000001ull + i);
}
inline double floatInput(uint64_t seed, int rank, size_t i, ReduceOp op) {
  uint64_t h = intInput(seed, rank, i);
  if (op == ReduceOp::kProd) {
    static const double kProdValues[4] = {1.0, -1.0, 2.0, 0.5};
    return kProdValues[h % 4];
  }
  return double(int(h % 65) - 32) / 4.0;  // -8 .. 8 in steps of 1/4
}

// Writes element i of `rank`'s input into buf.
inline void fillInput(DataType t, ReduceOp op, uint64_t seed, int rank, void* buf, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = intInput(seed, rank, i);
    double v = floatInput(seed, rank, i, op);
    switch (t) {
      case DataType::kInt8:
      case DataType::kUInt8:
        static_cast<uint8_t*>(buf)[i] = uint8_t(bits);
        break;
      case DataType::kInt32:
        static_cast<uint32_t*>(buf)[i] = uint32_t(bits);
        break;
      case DataType::kInt64:
        static_cast<uint64_t*>(buf)[i] = bits;
        break;
      case DataType::kFloat16:
        static_cast<uint16_t*>(buf)[i] = toHalf(float(v));
        break;
      case DataType::kBFloat16:
        static_cast<uint16_t*>(buf)[i] = toBf16(float(v));
        break;
      case DataType::kFloat32:
        static_cast<float*>(buf)[i] = float(v);
        break;
      case DataType::kFloat64:
        static_cast<double*>(buf)[i] = v;
        break;
    }
  }
}

template <typename U, typename S>
U reduceInt(ReduceOp op, const std::vector<int>& ranks, uint64_t seed, size_t i) {
  U acc = U(intInput(seed, ranks[0], i));
  for (size_t k = 1; k < ranks.size(); ++k) {
    U x = U(intInput(seed, ranks[k], i));
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        acc = U(acc + x);
        break;
      case ReduceOp::kProd:
        acc = U(acc * x);
        break;
      case ReduceOp::kMin:
        acc = S(x) < S(acc) ? x : acc;
        break;
      case ReduceOp::kMax:
        acc = S(x) > S(acc) ? x : acc;
        break;
    }
  }
  if (op == ReduceOp::kAvg) acc = U(S(acc) / S(ranks.size()));
  return acc;
}

inline double reduceFloat(ReduceOp op, const std::vector<int>& ranks, uint64_t seed, size_t i) {
  double acc = floatInput(seed, ranks[0], i, op);
  for (size_t k = 1; k < ranks.size(); ++k) {
    double x = floatInput(seed, ranks[k], i, op);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        acc += x;
        break;
      case ReduceOp::kProd:
        acc *= x;
        break;
      case ReduceOp::kMin:
        acc = std::min(acc, x);
        break;
      case ReduceOp::kMax:
        acc = std::max(acc, x);
        break;
    }
  }
  return op == ReduceOp::kAvg ? acc / double(ranks.size()) : acc;
}

inline double floatAt(DataType t, const void* buf, size_t i) {
  switch (t) {
    case DataType::kFloat16:
      return fromHalf(static_cast<const uint16_t*>(buf)[i]);
    case DataType::kBFloat16:
      return fromBf16(static_cast<const uint16_t*>(buf)[i]);
    case DataType::kFloat32:
      return static_cast<const float*>(buf)[i];
    default:
      return static_cast<const double*>(buf)[i];
  }
}

inline double avgTolerance(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return std::ldexp(1.0, -10);
    case DataType::kBFloat16:
      return std::ldexp(1.0, -7);
    case DataType::kFloat32:
      return std::ldexp(1.0, -22);
    default:
      return std::ldexp(1.0, -51);
  }
}

// Checks elements [0, count) of `got` against the reduction over `ranks` of
// elements [first, first + count) of their inputs. Returns "" or the first
// mismatch.
inline std::string checkReduced(DataType t, ReduceOp op, uint64_t seed,
                                const std::vector<int>& ranks, const void* got, size_t first,
                                size_t count) {
  for (size_t k = 0; k < count; ++k) {
    size_t i = first + k;
    bool ok = true;
    std::string g, w;
    if (isFloat(t)) {
      double want = reduceFloat(op, ranks, seed, i), have = floatAt(t, got, k);
      double tol = op == ReduceOp::kAvg ? std::fabs(want) * avgTolerance(t) : 0.0;
      ok = std::fabs(have - want) <= tol;
      g = std::to_string(have);
      w = std::to_string(want);
    } else {
      uint64_t want = 0, have = 0;
      switch (t) {
        case DataType::kInt8:
          want = reduceInt<uint8_t, int8_t>(op, ranks, seed, i);
          have = static_cast<const uint8_t*>(got)[k];
          break;
        case DataType::kUInt8:
          want = reduceInt<uint8_t, uint8_t>(op, ranks, seed, i);
          have = static_cast<const uint8_t*>(got)[k];
          break;
        case DataType::kInt32:
          want = reduceInt<uint32_t, int32_t>(op, ranks, seed, i);
          have = static_cast<const uint32_t*>(got)[k];
          break;
        default:
          want = reduceInt<uint64_t, int64_t>(op, ranks, seed, i);
          have = static_cast<const uint64_t*>(got)[k];
          break;
      }
      ok = want == have;
      g = std::to_string(have);
      w = std::to_string(want);
    }
    if (!ok) return "element " + std::to_string(i) + ": got " + g + ", expected " + w;
  }
  return "";
}

// FNV-1a, to compare whole results between adapters.
inline uint64_t fnv(uint64_t h, const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace adapters_test
