// WindowedFilter: the running max/min over a sliding window, checked against
// brute force on a pseudo-random trace.
#include "flow/windowed_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace farlink::flow {
namespace {

TEST(WindowedFilter, MaxForgetsPeakAfterWindow) {
  WindowedMax<int, uint64_t, uint64_t> f(10);
  EXPECT_FALSE(f.valid());
  f.update(5, 0);
  f.update(100, 1);
  f.update(7, 2);
  EXPECT_EQ(f.best(), 100);
  for (uint64_t t = 3; t <= 11; ++t) f.update(7, t);
  EXPECT_EQ(f.best(), 100);  // 10 rounds old: still in the window
  f.update(7, 12);
  EXPECT_EQ(f.best(), 7);
}

TEST(WindowedFilter, MinTracksNewLowAtOnce) {
  WindowedMin<int, uint64_t, uint64_t> f(10);
  f.update(30, 0);
  f.update(40, 1);
  EXPECT_EQ(f.best(), 30);
  f.update(20, 2);
  EXPECT_EQ(f.best(), 20);
}

// The three-sample filter is an approximation: its answer is always a value
// seen within the window, never better than the true best, and equals the
// true best whenever that best is recent (within a quarter window).
TEST(WindowedFilter, AgreesWithBruteForceOnRandomTrace) {
  constexpr uint64_t kWin = 40;
  WindowedMax<int, uint64_t, uint64_t> f(kWin);
  std::mt19937 rng(42);
  std::vector<std::pair<uint64_t, int>> seen;
  for (uint64_t t = 0; t < 5000; ++t) {
    int v = static_cast<int>(rng() % 1000);
    f.update(v, t);
    seen.push_back({t, v});
    int truth = 0, recent = 0;
    bool in_window = false;
    for (auto& [ts, x] : seen) {
      if (t - ts <= kWin) truth = std::max(truth, x);
      if (t - ts <= kWin / 4) recent = std::max(recent, x);
      if (x == f.best() && t - ts <= kWin + 1) in_window = true;
    }
    ASSERT_LE(f.best(), truth) << "t=" << t;
    ASSERT_TRUE(in_window) << "t=" << t;
    if (recent == truth) {
      ASSERT_EQ(f.best(), truth) << "t=" << t;
    }
    if (seen.size() > 2 * kWin) seen.erase(seen.begin());
  }
}

}  // namespace
}  // namespace farlink::flow
