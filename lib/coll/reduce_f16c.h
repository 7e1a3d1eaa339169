// fp16 reduction on x86's F16C conversions (vcvtph2ps / vcvtps2ph: round to
// nearest even, NaN kept NaN): 8 elements per step instead of the portable
// bit-twiddling conversions of half.h, which ran an fp16 sum at ~0.3 GB/s
// against fp32's ~15 (bench/micro_reduce). Chosen at run time: CI machines
// need not have F16C; elsewhere these do nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "farlink/collective.h"

namespace farlink::coll {

// True when the CPU has AVX and F16C (checked once).
bool haveF16c();
// Reduces the first n - n % 8 elements of b into a (a = a op b, computed in
// fp32, rounded once); returns how many it did (0 without F16C). The caller
// does the rest with the portable kernel.
size_t reduceHalfF16c(ReduceOp op, uint16_t* a, const uint16_t* b, size_t n);
// a[i] = a[i] / d for the first n - n % 8 elements; returns how many.
size_t divideHalfF16c(uint16_t* a, size_t n, float d);

}  // namespace farlink::coll
