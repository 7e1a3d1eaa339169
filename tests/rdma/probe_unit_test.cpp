// farlink probe's pure logic: rate parsing and the BDP / lanes / buffer
// arithmetic of recommend(), against hand-computed values.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "probe/recommend.h"

namespace farlink::probe {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Debian 12's defaults: core 208 KiB, tcp_rmem max 6 MiB, tcp_wmem max 4 MiB.
KernelLimits debianDefaults() {
  KernelLimits k;
  k.rmem_max = k.wmem_max = 212992;
  k.tcp_rmem_max = 6291456;
  k.tcp_wmem_max = 4194304;
  return k;
}

TEST(ParseRate, TcUnitsAreDecimal) {
  EXPECT_DOUBLE_EQ(*parseRate("10gbit"), 1e10);
  EXPECT_DOUBLE_EQ(*parseRate("10Gbit"), 1e10);
  EXPECT_DOUBLE_EQ(*parseRate("500mbit"), 5e8);
  EXPECT_DOUBLE_EQ(*parseRate("1.5gbit"), 1.5e9);
  EXPECT_DOUBLE_EQ(*parseRate("100k"), 1e5);
  EXPECT_DOUBLE_EQ(*parseRate("64000"), 64000);
  EXPECT_DOUBLE_EQ(*parseRate("8bit"), 8);
}

TEST(ParseRate, RejectsGarbage) {
  for (const char* bad : {"", "gbit", "10 gbit", "10gbps", "10x", "1.2.3gbit", "0", "0.5", "-1g",
                          "1e3gbit", "99999999tbit"})
    EXPECT_FALSE(parseRate(bad)) << bad;
}

TEST(FormatRate, PicksTheUnit) {
  EXPECT_EQ(formatRate(1e10), "10 Gb/s");
  EXPECT_EQ(formatRate(2.5e8), "250 Mb/s");
  EXPECT_EQ(formatRate(500), "500 b/s");
}

TEST(Recommend, BdpIsRateTimesRtt) {
  // 1 Gb/s x 30 ms = 3.75 MB (ARCHITECTURE.md's example).
  const Recommendation r = recommend(1e9, 30, debianDefaults());
  EXPECT_EQ(r.bdp_bytes, 3750000u);
  EXPECT_EQ(r.window_bytes, 4 * kMiB);  // rounded up to 1 MiB chunks
  EXPECT_EQ(r.verbs_ack_timeout, 16);    // 4 x 30 ms = 120 ms: the floor, 268 ms
}

TEST(Recommend, AutotuningCapSetsTheLaneCount) {
  // Autotuning lets a lane carry min(6, 4) MiB / 2 = 2 MiB: 4 MiB needs 2 lanes.
  const Recommendation r = recommend(1e9, 30, debianDefaults());
  EXPECT_EQ(r.lanes, 2);
  EXPECT_EQ(r.socket_buffer, 0u);  // the 208 KiB core limit is worse than autotuning
  EXPECT_TRUE(r.limit.empty());
  EXPECT_TRUE(r.sysctls.empty());
  EXPECT_GE(r.achievable_bps, 1e9);
}

TEST(Recommend, SmallBdpNeedsOneLaneAndOneChunk) {
  const Recommendation r = recommend(1e8, 0.5, debianDefaults());
  EXPECT_EQ(r.bdp_bytes, 6250u);
  EXPECT_EQ(r.window_bytes, kMiB);
  EXPECT_EQ(r.lanes, 1);
  EXPECT_EQ(r.verbs_ack_timeout, 16);  // the floor, 268 ms
  EXPECT_TRUE(r.limit.empty());
}

TEST(Recommend, RaisedCoreLimitsGiveAnExplicitBuffer) {
  KernelLimits k = debianDefaults();
  k.rmem_max = k.wmem_max = 64 * kMiB;
  // 10 Gb/s x 20 ms = 25 MB -> 24 MiB window; one lane carries up to 64 MiB.
  const Recommendation r = recommend(1e10, 20, k);
  EXPECT_EQ(r.bdp_bytes, 25000000u);
  EXPECT_EQ(r.window_bytes, 24 * kMiB);
  EXPECT_EQ(r.lanes, 1);
  EXPECT_EQ(r.socket_buffer, 24 * kMiB);
  EXPECT_TRUE(r.limit.empty());
}

TEST(Recommend, NamesTheCapAndTheSysctlsWhenLanesRunOut) {
  // 100 Gb/s x 30 ms = 375 MB: 358 MiB window, 2 MiB per lane would need 179.
  const Recommendation r = recommend(1e11, 30, debianDefaults());
  EXPECT_EQ(r.lanes, kMaxRecommendedLanes);
  EXPECT_EQ(r.socket_buffer, 0u);
  EXPECT_NE(r.limit.find("net.ipv4.tcp_wmem"), std::string::npos) << r.limit;  // 4 < 6 MiB
  // 16 lanes x 2 MiB / 30 ms = 8.95 Gb/s.
  EXPECT_NEAR(r.achievable_bps, 16.0 * 2 * kMiB * 8 / 0.030, 1);
  ASSERT_EQ(r.sysctls.size(), 4u);
  // Per lane 358/16 MiB = 22.4 MiB, doubled for the kernel's bookkeeping.
  const uint64_t want = (r.window_bytes / 16 + 4095) / 4096 * 4096;
  EXPECT_EQ(r.sysctls[0], "sysctl -w net.core.rmem_max=" + std::to_string(2 * want));
  // With those limits the same rate fits in the same lanes.
  KernelLimits raised;
  raised.rmem_max = raised.wmem_max = raised.tcp_rmem_max = raised.tcp_wmem_max = 2 * want;
  const Recommendation after = recommend(1e11, 30, raised);
  EXPECT_TRUE(after.limit.empty()) << after.limit;
  EXPECT_LE(after.lanes, kMaxRecommendedLanes);
}

TEST(Recommend, CoreLimitNamedWhenExplicitBuffersAreTheBetterCap) {
  KernelLimits k = debianDefaults();
  k.rmem_max = 8 * kMiB;
  k.wmem_max = 4 * kMiB;  // explicit cap 4 MiB > autotuning's 2 MiB
  const Recommendation r = recommend(1e11, 30, k);
  EXPECT_NE(r.limit.find("net.core.wmem_max"), std::string::npos) << r.limit;
  EXPECT_EQ(r.socket_buffer, 4 * kMiB);
}

TEST(KernelLimits, ReadsTheProcFormat) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("probe-limits-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "core");
  std::filesystem::create_directories(dir / "ipv4");
  std::ofstream(dir / "core/rmem_max") << "212992\n";
  std::ofstream(dir / "core/wmem_max") << "425984\n";
  std::ofstream(dir / "ipv4/tcp_rmem") << "4096\t131072\t6291456\n";
  std::ofstream(dir / "ipv4/tcp_wmem") << "4096\t16384\t4194304\n";
  Result<KernelLimits> k = readKernelLimits(dir.string());
  ASSERT_TRUE(k) << k.status().toString();
  EXPECT_EQ(k->rmem_max, 212992u);
  EXPECT_EQ(k->wmem_max, 425984u);
  EXPECT_EQ(k->tcp_rmem_max, 6291456u);
  EXPECT_EQ(k->tcp_wmem_max, 4194304u);
  std::ofstream(dir / "ipv4/tcp_wmem") << "4096 16384\n";  // truncated
  Result<KernelLimits> bad = readKernelLimits(dir.string());
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("tcp_wmem"), std::string::npos);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(readKernelLimits(dir.string()));
}

TEST(KernelLimits, ThisHostHasThem) {
  Result<KernelLimits> k = readKernelLimits();
  ASSERT_TRUE(k) << k.status().toString();
  EXPECT_GT(k->rmem_max, 0u);
  EXPECT_GT(k->tcp_rmem_max, 0u);
}

}  // namespace
}  // namespace farlink::probe
