// One element of a typed buffer as a double, for code that checks results
// (farlink coll, the collective tests): store rounds to the dtype (fp16/bf16
// to nearest even; integers by conversion of the integral value), load is
// exact. Not for the data path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coll/half.h"
#include "farlink/collective.h"

namespace farlink::coll {

inline void storeElement(DataType t, void* buf, size_t i, double v) {
  switch (t) {
    case DataType::kInt8:
      static_cast<int8_t*>(buf)[i] = int8_t(int64_t(v));
      break;
    case DataType::kUInt8:
      static_cast<uint8_t*>(buf)[i] = uint8_t(int64_t(v));
      break;
    case DataType::kInt32:
      static_cast<int32_t*>(buf)[i] = int32_t(int64_t(v));
      break;
    case DataType::kInt64:
      static_cast<int64_t*>(buf)[i] = int64_t(v);
      break;
    case DataType::kFloat16:
      static_cast<uint16_t*>(buf)[i] = floatToHalf(float(v));
      break;
    case DataType::kBFloat16:
      static_cast<uint16_t*>(buf)[i] = floatToBf16(float(v));
      break;
    case DataType::kFloat32:
      static_cast<float*>(buf)[i] = float(v);
      break;
    case DataType::kFloat64:
      static_cast<double*>(buf)[i] = v;
      break;
  }
}

inline double loadElement(DataType t, const void* buf, size_t i) {
  switch (t) {
    case DataType::kInt8:
      return static_cast<const int8_t*>(buf)[i];
    case DataType::kUInt8:
      return static_cast<const uint8_t*>(buf)[i];
    case DataType::kInt32:
      return static_cast<const int32_t*>(buf)[i];
    case DataType::kInt64:
      return double(static_cast<const int64_t*>(buf)[i]);
    case DataType::kFloat16:
      return halfToFloat(static_cast<const uint16_t*>(buf)[i]);
    case DataType::kBFloat16:
      return bf16ToFloat(static_cast<const uint16_t*>(buf)[i]);
    case DataType::kFloat32:
      return static_cast<const float*>(buf)[i];
    case DataType::kFloat64:
      return static_cast<const double*>(buf)[i];
  }
  return 0;
}

// The unit roundoff of a floating-point dtype; 0 for integers.
inline double unitRoundoff(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return 0x1p-11;
    case DataType::kBFloat16:
      return 0x1p-8;
    case DataType::kFloat32:
      return 0x1p-24;
    case DataType::kFloat64:
      return 0x1p-53;
    default:
      return 0;
  }
}

}  // namespace farlink::coll
