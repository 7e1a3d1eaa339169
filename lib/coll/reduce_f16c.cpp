// See reduce_f16c.h. The functions carry their own target attributes so the
// rest of the library stays built for the baseline x86-64 ISA.
#include "coll/reduce_f16c.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FARLINK_HAVE_F16C_PATH 1
#endif

namespace farlink::coll {

#ifdef FARLINK_HAVE_F16C_PATH
namespace {

#define FARLINK_F16C __attribute__((target("avx,f16c")))

// The same results as the portable kernel (reduce_kernels.cpp): min/max as
// "b < a ? b : a" (MINPS returns its second operand on ties and NaNs), and
// NaN in either input gives NaN.
template <ReduceOp Op>
FARLINK_F16C inline __m256 apply(__m256 x, __m256 y) {
  if constexpr (Op == ReduceOp::kSum || Op == ReduceOp::kAvg) return _mm256_add_ps(x, y);
  if constexpr (Op == ReduceOp::kProd) return _mm256_mul_ps(x, y);
  __m256 unordered = _mm256_cmp_ps(x, y, _CMP_UNORD_Q);
  __m256 pick;
  if constexpr (Op == ReduceOp::kMin) pick = _mm256_min_ps(y, x);
  if constexpr (Op == ReduceOp::kMax) pick = _mm256_max_ps(y, x);
  return _mm256_blendv_ps(pick, _mm256_add_ps(x, y), unordered);
}

template <ReduceOp Op>
FARLINK_F16C size_t loop(uint16_t* a, const uint16_t* b, size_t n) {
  size_t done = n - n % 8;
  for (size_t i = 0; i < done; i += 8) {
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256 y = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + i),
                     _mm256_cvtps_ph(apply<Op>(x, y), _MM_FROUND_TO_NEAREST_INT));
  }
  return done;
}

}  // namespace

bool haveF16c() {
  static const bool have = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return have;
}

size_t reduceHalfF16c(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n) {
  if (!haveF16c()) return 0;
  switch (op) {
    case ReduceOp::kSum: return loop<ReduceOp::kSum>(a, b, n);
    case ReduceOp::kProd: return loop<ReduceOp::kProd>(a, b, n);
    case ReduceOp::kMin: return loop<ReduceOp::kMin>(a, b, n);
    case ReduceOp::kMax: return loop<ReduceOp::kMax>(a, b, n);
    case ReduceOp::kAvg: return loop<ReduceOp::kAvg>(a, b, n);
  }
  return 0;
}

FARLINK_F16C static size_t divideLoop(uint16_t* a, size_t n, float d) {
  size_t done = n - n % 8;
  __m256 vd = _mm256_set1_ps(d);
  for (size_t i = 0; i < done; i += 8) {
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + i),
                     _mm256_cvtps_ph(_mm256_div_ps(x, vd), _MM_FROUND_TO_NEAREST_INT));
  }
  return done;
}

size_t divideHalfF16c(uint16_t* a, size_t n, float d) {
  return haveF16c() ? divideLoop(a, n, d) : 0;
}

#else

bool haveF16c() { return false; }
size_t reduceHalfF16c(ReduceOp, uint16_t*, const uint16_t*, size_t) { return 0; }
size_t divideHalfF16c(uint16_t*, size_t, float) { return 0; }

#endif

}  // namespace farlink::coll
