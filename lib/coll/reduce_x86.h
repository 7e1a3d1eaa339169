// 16-bit float reductions on x86 SIMD, 8 elements per step: fp16 through
// F16C's conversions (vcvtph2ps / vcvtps2ph, round to nearest even), bf16
// through AVX2 shifts with the same rounding as half.h. The portable
// kernels (reduce_kernels.cpp) ran an fp16 sum at ~0.3 GB/s and bf16 at
// ~1.2-1.5 against fp32's ~10-15 (bench/micro_reduce). Chosen at run time:
// CI machines need not have these; elsewhere the functions do nothing.
// Results are the portable kernels' bit for bit (NaN as NaN).
#pragma once

#include <cstddef>
#include <cstdint>

#include "farlink/collective.h"

namespace farlink::coll {

// Each reduces (a = a op b, in fp32, rounded once) or divides the first
// n - n % 8 elements and returns how many it did: 0 when the CPU lacks the
// instructions. The caller does the rest with the portable kernel.
size_t reduceHalfX86(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n);
size_t divideHalfX86(uint16_t* a, size_t n, float d);
size_t reduceBf16X86(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n);

}  // namespace farlink::coll
