// Reduction kernels for every dtype/op against references computed here in
// wider types, and the fp16/bf16 conversions (exhaustive over all 65,536
// values, round-to-nearest-even at every midpoint, NaN/inf/subnormals).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <vector>

#include "coll/half.h"
#include "farlink/collective.h"

using namespace farlink;
using farlink::coll::bf16ToFloat;
using farlink::coll::floatToBf16;
using farlink::coll::floatToHalf;
using farlink::coll::halfToFloat;

namespace {

bool isNanHalf(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool isNanBf16(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

TEST(Half, RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = halfToFloat(uint16_t(h));
    if (isNanHalf(uint16_t(h))) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(isNanHalf(floatToHalf(f)));
      continue;
    }
    EXPECT_EQ(floatToHalf(f), h) << std::hex << h;
  }
}

TEST(Half, MidpointsRoundToEven) {
  // Between consecutive positive finite halves a and a+1 the midpoint rounds
  // to whichever is even; just above/below it rounds to the nearer one.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    double lo = halfToFloat(uint16_t(h)), hi = halfToFloat(uint16_t(h + 1));
    float mid = float((lo + hi) / 2);  // exact in binary32
    uint16_t even = (h % 2 == 0) ? uint16_t(h) : uint16_t(h + 1);
    ASSERT_EQ(floatToHalf(mid), even) << std::hex << h;
    ASSERT_EQ(floatToHalf(-mid), even | 0x8000) << std::hex << h;
    ASSERT_EQ(floatToHalf(std::nextafter(mid, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(floatToHalf(std::nextafter(mid, 1e9f)), h + 1) << std::hex << h;
  }
}

TEST(Half, SpecialValues) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3c00);        // tie → even
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3c02);    // tie → even (up)
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65519.99f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);               // rounds to infinity
  EXPECT_EQ(floatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(floatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);                // smallest subnormal
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);                // tie → even (zero)
  EXPECT_EQ(floatToHalf(0x1.8p-25f), 0x0001);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_TRUE(isNanHalf(floatToHalf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isinf(halfToFloat(0x7c00)));
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
}

TEST(BFloat16, RoundTripsAndMidpoints) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16ToFloat(uint16_t(h));
    if (isNanBf16(uint16_t(h))) {
      EXPECT_TRUE(isNanBf16(floatToBf16(f)));
      continue;
    }
    ASSERT_EQ(floatToBf16(f), h) << std::hex << h;
    if (h < 0x7f7f) {  // positive finite with a finite successor
      uint32_t bits = (h << 16) | 0x8000u;  // exact midpoint to h+1
      float mid;
      std::memcpy(&mid, &bits, 4);
      ASSERT_EQ(floatToBf16(mid), (h % 2 == 0) ? h : h + 1) << std::hex << h;
    }
  }
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80);  // → inf
  EXPECT_TRUE(isNanBf16(floatToBf16(std::numeric_limits<float>::quiet_NaN())));
}

// ---- kernels ----

template <typename T>
T refInt(ReduceOp op, T a, T b) {
  __int128 x = a, y = b, r = 0;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: r = x + y; break;
    case ReduceOp::kProd: r = x * y; break;
    case ReduceOp::kMin: r = x < y ? x : y; break;
    case ReduceOp::kMax: r = x > y ? x : y; break;
  }
  return T(uint64_t(r));  // modular, like two's complement wrap
}

template <typename T>
void checkInts(DataType dt) {
  for (int o = 0; o < kReduceOpCount; ++o) {
    ReduceOp op = ReduceOp(o);
    const size_t n = 1003;  // odd: exercises loop tails
    std::vector<T> a(n), b(n), want(n);
    for (size_t i = 0; i < n; ++i) {
      a[i] = T(uint64_t(i * 2654435761u + 17) >> 3);
      b[i] = T(uint64_t(i * 40503u + 99) ^ (i << 7));
      want[i] = refInt<T>(op, a[i], b[i]);
    }
    reduceInto(dt, op, a.data(), b.data(), n);
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(a[i], want[i]) << dataTypeName(dt) << " " << reduceOpName(op) << " i=" << i;
  }
}

TEST(Kernels, Integers) {
  checkInts<int8_t>(DataType::kInt8);
  checkInts<uint8_t>(DataType::kUInt8);
  checkInts<int32_t>(DataType::kInt32);
  checkInts<int64_t>(DataType::kInt64);
}

double refFloat(ReduceOp op, double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::nan("");
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: return a + b;
    case ReduceOp::kProd: return a * b;
    case ReduceOp::kMin: return std::min(a, b);
    case ReduceOp::kMax: return std::max(a, b);
  }
  return 0;
}

// Values, including NaN, inf and a subnormal; the expected value is the
// exact result rounded once to the type (what an fp32 computation of two
// narrower inputs gives, since fp32 holds fp16/bf16 sums and products exactly).
template <typename S, typename Load, typename Store>
void checkFloats(DataType dt, Load load, Store store) {
  const double specials[] = {0.0, -0.0, 1.5, -2.25, 1e-6, 3.0e4, 1e30,
                             std::numeric_limits<double>::infinity(), std::nan("")};
  for (int o = 0; o < kReduceOpCount; ++o) {
    ReduceOp op = ReduceOp(o);
    const size_t n = 1001;
    std::vector<S> a(n), b(n);
    std::vector<double> want(n);
    for (size_t i = 0; i < n; ++i) {
      double x = i < 81 ? specials[i % 9] : double(int(i % 37) - 18) * 0.375 + double(i) * 1e-3;
      double y = i < 81 ? specials[i / 9] : double(int(i % 11) - 5) * 1.25 - double(i) * 2e-3;
      a[i] = store(x);
      b[i] = store(y);
      want[i] = load(store(refFloat(op, load(a[i]), load(b[i]))));
    }
    reduceInto(dt, op, a.data(), b.data(), n);
    for (size_t i = 0; i < n; ++i) {
      double got = load(a[i]);
      if (std::isnan(want[i])) {
        ASSERT_TRUE(std::isnan(got)) << dataTypeName(dt) << " " << reduceOpName(op) << " i=" << i;
      } else {
        ASSERT_EQ(got, want[i]) << dataTypeName(dt) << " " << reduceOpName(op) << " i=" << i;
      }
    }
  }
}

TEST(Kernels, Floats) {
  checkFloats<uint16_t>(
      DataType::kFloat16, [](uint16_t h) { return double(halfToFloat(h)); },
      [](double x) { return floatToHalf(float(x)); });
  checkFloats<uint16_t>(
      DataType::kBFloat16, [](uint16_t h) { return double(bf16ToFloat(h)); },
      [](double x) { return floatToBf16(float(x)); });
  checkFloats<float>(
      DataType::kFloat32, [](float f) { return double(f); }, [](double x) { return float(x); });
  checkFloats<double>(
      DataType::kFloat64, [](double f) { return f; }, [](double x) { return x; });
}

// Every 16-bit value against a few partners, every op: the fast paths (F16C
// and AVX2 where the CPU has them) must give what the portable conversions
// give, bit for bit (NaN only as NaN: its payload may differ).
template <typename Widen, typename Narrow>
void checkEvery16BitValue(DataType dt, Widen widen, Narrow narrow,
                          std::initializer_list<uint16_t> partners) {
  std::vector<uint16_t> a(65536), b(65536), want(65536);
  for (uint16_t y : partners) {
    for (int o = 0; o < kReduceOpCount; ++o) {
      ReduceOp op = ReduceOp(o);
      for (uint32_t h = 0; h < 65536; ++h) {
        a[h] = uint16_t(h);
        b[h] = y;
        float x = widen(a[h]), z = widen(y);
        float r = 0;
        switch (op) {
          case ReduceOp::kSum:
          case ReduceOp::kAvg: r = x + z; break;
          case ReduceOp::kProd: r = x * z; break;
          case ReduceOp::kMin: r = (x != x || z != z) ? x + z : (z < x ? z : x); break;
          case ReduceOp::kMax: r = (x != x || z != z) ? x + z : (z > x ? z : x); break;
        }
        want[h] = narrow(r);
      }
      reduceInto(dt, op, a.data(), b.data(), a.size() - 3);  // a tail too
      for (uint32_t h = 0; h < 65536 - 3; ++h) {
        if (std::isnan(widen(want[h])))
          ASSERT_TRUE(std::isnan(widen(a[h])))
              << dataTypeName(dt) << " " << reduceOpName(op) << " " << h << " " << y;
        else
          ASSERT_EQ(a[h], want[h])
              << dataTypeName(dt) << " " << reduceOpName(op) << " " << std::hex << h << " " << y;
      }
    }
  }
  for (uint32_t h = 0; h < 65536; ++h) a[h] = uint16_t(h);
  divideBy(dt, a.data(), a.size(), 3);
  for (uint32_t h = 0; h < 65536; ++h) {
    uint16_t w = narrow(widen(uint16_t(h)) / 3.0f);
    if (std::isnan(widen(w)))
      ASSERT_TRUE(std::isnan(widen(a[h]))) << dataTypeName(dt) << " " << h;
    else
      ASSERT_EQ(a[h], w) << dataTypeName(dt) << " " << std::hex << h;
  }
}

TEST(Kernels, Fp16EveryValueMatchesPortableConversions) {
  checkEvery16BitValue(DataType::kFloat16, halfToFloat, floatToHalf,
                       {0x0000, 0x8000, 0x3c00, 0xc500, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00,
                        0x7e00, 0x3555, 0x8401});
}

TEST(Kernels, Bf16EveryValueMatchesPortableConversions) {
  checkEvery16BitValue(DataType::kBFloat16, bf16ToFloat, floatToBf16,
                       {0x0000, 0x8000, 0x3f80, 0xc0a0, 0x0001, 0x007f, 0x7f7f, 0x7f80, 0xff80,
                        0x7fc0, 0x3eab, 0x8081});
}

TEST(Kernels, DivideForAvg) {
  std::vector<int32_t> i{7, -7, 10};
  divideBy(DataType::kInt32, i.data(), i.size(), 2);
  EXPECT_EQ(i, (std::vector<int32_t>{3, -3, 5}));  // truncation toward zero
  std::vector<uint16_t> h{floatToHalf(3.0f)};
  divideBy(DataType::kFloat16, h.data(), 1, 3);
  EXPECT_EQ(h[0], floatToHalf(1.0f));
}

TEST(Names, ParseBothWays) {
  for (int t = 0; t < kDataTypeCount; ++t) {
    auto p = parseDataType(dataTypeName(DataType(t)));
    ASSERT_TRUE(p.isOk());
    EXPECT_EQ(int(p.value()), t);
  }
  EXPECT_FALSE(parseDataType("fp8").isOk());
  EXPECT_FALSE(parseReduceOp("xor").isOk());
}

}  // namespace
