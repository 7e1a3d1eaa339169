// Element-wise reduction kernels for every dtype/op. Plain loops over
// restrict-qualified pointers, vectorised by the compiler; fp16/bf16 go
// through fp32 in blocks so that the conversion loops vectorise too (on
// x86 with F16C / AVX2 reduce_x86.cpp does them; this file, the tail).
// g++ 12 at -O2 uses its "very cheap" vectoriser cost model, which left even
// the fp32 sum scalar (addss; a sixth of a 64 MiB loopback allreduce's CPU),
// so the loops ask for the dynamic model themselves (FARLINK_VECTORISE).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "coll/half.h"
#include "coll/reduce_x86.h"
#include "farlink/collective.h"

namespace farlink {
namespace {

// Wrapping integer arithmetic without signed-overflow UB.
template <typename T>
T wrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return T(U(a) + U(b));
}
template <typename T>
T wrapMul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  // Promote narrow types to unsigned int so the product itself cannot overflow int.
  using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
  return T(U(W(U(a)) * W(U(b))));
}

#if defined(__GNUC__) && !defined(__clang__)
#define FARLINK_VECTORISE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define FARLINK_VECTORISE
#endif

template <typename T, ReduceOp Op>
FARLINK_VECTORISE void loop(T* __restrict__ a, const T* __restrict__ b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      if constexpr (Op == ReduceOp::kSum || Op == ReduceOp::kAvg) a[i] = a[i] + b[i];
      if constexpr (Op == ReduceOp::kProd) a[i] = a[i] * b[i];
      // NaN in either input gives NaN (a != a is the NaN test that vectorises).
      if constexpr (Op == ReduceOp::kMin)
        a[i] = (a[i] != a[i] || b[i] != b[i]) ? a[i] + b[i] : (b[i] < a[i] ? b[i] : a[i]);
      if constexpr (Op == ReduceOp::kMax)
        a[i] = (a[i] != a[i] || b[i] != b[i]) ? a[i] + b[i] : (b[i] > a[i] ? b[i] : a[i]);
    } else {
      if constexpr (Op == ReduceOp::kSum || Op == ReduceOp::kAvg) a[i] = wrapAdd(a[i], b[i]);
      if constexpr (Op == ReduceOp::kProd) a[i] = wrapMul(a[i], b[i]);
      if constexpr (Op == ReduceOp::kMin) a[i] = b[i] < a[i] ? b[i] : a[i];
      if constexpr (Op == ReduceOp::kMax) a[i] = b[i] > a[i] ? b[i] : a[i];
    }
  }
}

template <typename T>
void typed(ReduceOp op, T* a, const T* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum: return loop<T, ReduceOp::kSum>(a, b, n);
    case ReduceOp::kProd: return loop<T, ReduceOp::kProd>(a, b, n);
    case ReduceOp::kMin: return loop<T, ReduceOp::kMin>(a, b, n);
    case ReduceOp::kMax: return loop<T, ReduceOp::kMax>(a, b, n);
    case ReduceOp::kAvg: return loop<T, ReduceOp::kAvg>(a, b, n);
  }
}

// 16-bit floats: widen a block of each input, reduce in fp32, narrow back.
template <float (*Widen)(uint16_t), uint16_t (*Narrow)(float)>
FARLINK_VECTORISE void viaFloat(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n) {
  constexpr size_t kBlock = 512;
  float fa[kBlock], fb[kBlock];
  for (size_t base = 0; base < n; base += kBlock) {
    size_t m = std::min(kBlock, n - base);
    for (size_t i = 0; i < m; ++i) fa[i] = Widen(a[base + i]);
    for (size_t i = 0; i < m; ++i) fb[i] = Widen(b[base + i]);
    typed<float>(op, fa, fb, m);
    for (size_t i = 0; i < m; ++i) a[base + i] = Narrow(fa[i]);
  }
}

template <typename T>
void divideTyped(T* a, size_t n, int64_t d) {
  if constexpr (std::is_floating_point_v<T>) {
    for (size_t i = 0; i < n; ++i) a[i] = T(a[i] / T(d));
  } else {
    for (size_t i = 0; i < n; ++i) a[i] = T(int64_t(a[i]) / d);
  }
}

template <float (*Widen)(uint16_t), uint16_t (*Narrow)(float)>
void divide16(uint16_t* a, size_t n, int64_t d) {
  float fd = float(d);
  for (size_t i = 0; i < n; ++i) a[i] = Narrow(Widen(a[i]) / fd);
}

}  // namespace

size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kInt8:
    case DataType::kUInt8: return 1;
    case DataType::kFloat16:
    case DataType::kBFloat16: return 2;
    case DataType::kInt32:
    case DataType::kFloat32: return 4;
    case DataType::kInt64:
    case DataType::kFloat64: return 8;
  }
  return 0;
}

std::string_view dataTypeName(DataType t) {
  switch (t) {
    case DataType::kInt8: return "int8";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kFloat16: return "fp16";
    case DataType::kBFloat16: return "bf16";
    case DataType::kFloat32: return "fp32";
    case DataType::kFloat64: return "fp64";
  }
  return "unknown dtype";
}

std::string_view reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kProd: return "prod";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kAvg: return "avg";
  }
  return "unknown op";
}

Result<DataType> parseDataType(std::string_view name) {
  for (int i = 0; i < kDataTypeCount; ++i)
    if (dataTypeName(DataType(i)) == name) return DataType(i);
  return Status(StatusCode::kInvalidArgument,
                "unknown dtype '" + std::string(name) +
                    "'; use int8, uint8, int32, int64, fp16, bf16, fp32 or fp64");
}

Result<ReduceOp> parseReduceOp(std::string_view name) {
  for (int i = 0; i < kReduceOpCount; ++i)
    if (reduceOpName(ReduceOp(i)) == name) return ReduceOp(i);
  return Status(StatusCode::kInvalidArgument,
                "unknown reduce op '" + std::string(name) + "'; use sum, prod, min, max or avg");
}

void reduceInto(DataType t, ReduceOp op, void* inout, const void* in, size_t count) {
  switch (t) {
    case DataType::kInt8:
      return typed(op, static_cast<int8_t*>(inout), static_cast<const int8_t*>(in), count);
    case DataType::kUInt8:
      return typed(op, static_cast<uint8_t*>(inout), static_cast<const uint8_t*>(in), count);
    case DataType::kInt32:
      return typed(op, static_cast<int32_t*>(inout), static_cast<const int32_t*>(in), count);
    case DataType::kInt64:
      return typed(op, static_cast<int64_t*>(inout), static_cast<const int64_t*>(in), count);
    case DataType::kFloat16: {
      auto* a = static_cast<uint16_t*>(inout);
      const auto* b = static_cast<const uint16_t*>(in);
      size_t done = coll::reduceHalfX86(op, a, b, count);
      return viaFloat<coll::halfToFloat, coll::floatToHalf>(op, a + done, b + done, count - done);
    }
    case DataType::kBFloat16: {
      auto* a = static_cast<uint16_t*>(inout);
      const auto* b = static_cast<const uint16_t*>(in);
      size_t done = coll::reduceBf16X86(op, a, b, count);
      return viaFloat<coll::bf16ToFloat, coll::floatToBf16>(op, a + done, b + done, count - done);
    }
    case DataType::kFloat32:
      return typed(op, static_cast<float*>(inout), static_cast<const float*>(in), count);
    case DataType::kFloat64:
      return typed(op, static_cast<double*>(inout), static_cast<const double*>(in), count);
  }
}

void divideBy(DataType t, void* inout, size_t count, int64_t divisor) {
  if (divisor == 1) return;
  switch (t) {
    case DataType::kInt8: return divideTyped(static_cast<int8_t*>(inout), count, divisor);
    case DataType::kUInt8: return divideTyped(static_cast<uint8_t*>(inout), count, divisor);
    case DataType::kInt32: return divideTyped(static_cast<int32_t*>(inout), count, divisor);
    case DataType::kInt64: return divideTyped(static_cast<int64_t*>(inout), count, divisor);
    case DataType::kFloat16: {
      auto* a = static_cast<uint16_t*>(inout);
      size_t done = coll::divideHalfX86(a, count, float(divisor));
      return divide16<coll::halfToFloat, coll::floatToHalf>(a + done, count - done, divisor);
    }
    case DataType::kBFloat16:
      return divide16<coll::bf16ToFloat, coll::floatToBf16>(static_cast<uint16_t*>(inout), count,
                                                            divisor);
    case DataType::kFloat32: return divideTyped(static_cast<float*>(inout), count, divisor);
    case DataType::kFloat64: return divideTyped(static_cast<double*>(inout), count, divisor);
  }
}

}  // namespace farlink
