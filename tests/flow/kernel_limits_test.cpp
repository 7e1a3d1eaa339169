// Parsing /proc/sys texts (pure), and reading them from a directory tree.
#include "flow/kernel_limits.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace farlink::flow {
namespace {

TEST(KernelLimits, ParsesSampleTexts) {
  KernelLimitTexts t;
  t.tcp_wmem = "4096\t16384\t4194304\n";
  t.tcp_rmem = "4096 131072 33554432\n";
  t.core_wmem_max = "212992\n";
  t.core_rmem_max = "67108864";
  auto k = parseKernelLimits(t);
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_EQ(k->tcp_wmem_max, 4194304u);
  EXPECT_EQ(k->tcp_rmem_max, 33554432u);
  EXPECT_EQ(k->core_wmem_max, 212992u);
  EXPECT_EQ(k->core_rmem_max, 67108864u);
}

TEST(KernelLimits, MissingTextsKeepDefaults) {
  auto k = parseKernelLimits({});
  ASSERT_TRUE(k.isOk());
  EXPECT_EQ(k->tcp_rmem_max, 6u << 20);
  EXPECT_EQ(k->source, "defaults");
}

TEST(KernelLimits, BadTextNamesFile) {
  for (const char* bad :
       {"4096 16384", "4096 x 4194304", "1 2 3 4", "", "4096 16384 0", "-1 2 3"}) {
    KernelLimitTexts t;
    t.tcp_rmem = bad;
    auto k = parseKernelLimits(t);
    ASSERT_FALSE(k.isOk()) << bad;
    EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(k.status().message().find("net/ipv4/tcp_rmem"), std::string::npos);
  }
  KernelLimitTexts t;
  t.core_wmem_max = "lots";
  EXPECT_NE(parseKernelLimits(t).status().message().find("net/core/wmem_max"), std::string::npos);
}

TEST(KernelLimits, ReadsDirectoryTree) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("flow_limits_" + std::to_string(::getpid()));
  fs::create_directories(root / "net/ipv4");
  fs::create_directories(root / "net/core");
  std::ofstream(root / "net/ipv4/tcp_wmem") << "4096 16384 16777216\n";
  std::ofstream(root / "net/ipv4/tcp_rmem") << "4096 131072 16777216\n";
  // net/core files absent: defaults stay.
  auto k = readKernelLimits(root.string());
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_EQ(k->tcp_wmem_max, 16777216u);
  EXPECT_EQ(k->core_rmem_max, 212992u);
  EXPECT_EQ(k->source, root.string());
  std::ofstream(root / "net/core/rmem_max") << "garbage\n";
  EXPECT_FALSE(readKernelLimits(root.string()).isOk());
  fs::remove_all(root);
}

TEST(KernelLimits, ReadsThisMachine) {
  if (!std::filesystem::exists("/proc/sys/net/ipv4/tcp_rmem"))
    GTEST_SKIP() << "no /proc/sys/net/ipv4/tcp_rmem here (container without netns sysctls)";
  auto k = readKernelLimits();
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_GT(k->tcp_rmem_max, 0u);
  EXPECT_EQ(k->source, "/proc/sys");
}

}  // namespace
}  // namespace farlink::flow
