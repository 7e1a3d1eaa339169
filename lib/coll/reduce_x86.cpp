// See reduce_x86.h. The functions carry their own target attributes so the
// rest of the library stays built for the baseline x86-64 ISA.
#include "coll/reduce_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define FARLINK_X86_PATH 1
#endif

namespace farlink::coll {

#ifdef FARLINK_X86_PATH
namespace {

#define FARLINK_F16C __attribute__((target("avx,f16c")))
#define FARLINK_AVX2 __attribute__((target("avx2")))

// F16C from CPUID itself: clang's __builtin_cpu_supports does not know it.
bool haveF16c() {
  static const bool have = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) &&
           (ecx & bit_F16C) != 0;
  }();
  return have;
}

bool haveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

// As the portable kernel: min/max as "b < a ? b : a" (MINPS returns its
// second operand on ties and NaNs), and NaN in either input gives NaN.
template <ReduceOp Op>
__attribute__((target("avx"), always_inline)) inline __m256 apply(__m256 x, __m256 y) {
  if constexpr (Op == ReduceOp::kSum || Op == ReduceOp::kAvg) return _mm256_add_ps(x, y);
  if constexpr (Op == ReduceOp::kProd) return _mm256_mul_ps(x, y);
  __m256 unordered = _mm256_cmp_ps(x, y, _CMP_UNORD_Q);
  __m256 pick;
  if constexpr (Op == ReduceOp::kMin) pick = _mm256_min_ps(y, x);
  if constexpr (Op == ReduceOp::kMax) pick = _mm256_max_ps(y, x);
  return _mm256_blendv_ps(pick, _mm256_add_ps(x, y), unordered);
}

__m128i load8(const uint16_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

FARLINK_F16C inline __m256 halfWiden(__m128i h) { return _mm256_cvtph_ps(h); }
FARLINK_F16C inline __m128i halfNarrow(__m256 f) {
  return _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT);
}

FARLINK_AVX2 inline __m256 bf16Widen(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// half.h's floatToBf16: round to nearest even on the dropped 16 bits; a NaN
// keeps its upper bits with the quiet bit set.
FARLINK_AVX2 inline __m128i bf16Narrow(__m256 x) {
  __m256i f = _mm256_castps_si256(x);
  __m256i odd = _mm256_and_si256(_mm256_srli_epi32(f, 16), _mm256_set1_epi32(1));
  __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(f, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
  __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(f, 16), _mm256_set1_epi32(0x40));
  __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(f, _mm256_set1_epi32(0x7fffffff)),
                                   _mm256_set1_epi32(0x7f800000));
  __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
  // 32 -> 16 bits: packus works per 128-bit half; keep quadwords 0 and 2.
  __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  return _mm256_castsi256_si128(packed);
}

template <ReduceOp Op>
FARLINK_F16C size_t halfLoop(uint16_t* a, const uint16_t* b, size_t n) {
  size_t done = n - n % 8;
  for (size_t i = 0; i < done; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + i),
                     halfNarrow(apply<Op>(halfWiden(load8(a + i)), halfWiden(load8(b + i)))));
  return done;
}

template <ReduceOp Op>
FARLINK_AVX2 size_t bf16Loop(uint16_t* a, const uint16_t* b, size_t n) {
  size_t done = n - n % 8;
  for (size_t i = 0; i < done; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + i),
                     bf16Narrow(apply<Op>(bf16Widen(load8(a + i)), bf16Widen(load8(b + i)))));
  return done;
}

template <template <ReduceOp> class Loop>
size_t dispatch(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum: return Loop<ReduceOp::kSum>::run(a, b, n);
    case ReduceOp::kProd: return Loop<ReduceOp::kProd>::run(a, b, n);
    case ReduceOp::kMin: return Loop<ReduceOp::kMin>::run(a, b, n);
    case ReduceOp::kMax: return Loop<ReduceOp::kMax>::run(a, b, n);
    case ReduceOp::kAvg: return Loop<ReduceOp::kAvg>::run(a, b, n);
  }
  return 0;
}

template <ReduceOp Op>
struct HalfLoop {
  static size_t run(uint16_t* a, const uint16_t* b, size_t n) { return halfLoop<Op>(a, b, n); }
};
template <ReduceOp Op>
struct Bf16Loop {
  static size_t run(uint16_t* a, const uint16_t* b, size_t n) { return bf16Loop<Op>(a, b, n); }
};

FARLINK_F16C size_t halfDivide(uint16_t* a, size_t n, float d) {
  size_t done = n - n % 8;
  __m256 vd = _mm256_set1_ps(d);
  for (size_t i = 0; i < done; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + i),
                     halfNarrow(_mm256_div_ps(halfWiden(load8(a + i)), vd)));
  return done;
}

}  // namespace

size_t reduceHalfX86(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n) {
  return haveF16c() ? dispatch<HalfLoop>(op, a, b, n) : 0;
}

size_t divideHalfX86(uint16_t* a, size_t n, float d) {
  return haveF16c() ? halfDivide(a, n, d) : 0;
}

size_t reduceBf16X86(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n) {
  return haveAvx2() ? dispatch<Bf16Loop>(op, a, b, n) : 0;
}

#else

size_t reduceHalfX86(ReduceOp, uint16_t*, const uint16_t*, size_t) { return 0; }
size_t divideHalfX86(uint16_t*, size_t, float) { return 0; }
size_t reduceBf16X86(ReduceOp, uint16_t*, const uint16_t*, size_t) { return 0; }

#endif

}  // namespace farlink::coll
