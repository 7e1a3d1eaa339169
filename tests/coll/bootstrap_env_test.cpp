// CommunicatorOptions::fromEnvironment: the torchrun variables, OpenMPI's
// mpirun variables (one job, or one job per site placed by
// FARLINK_RANK_BASE), and clear errors for what is missing or inconsistent.
// The variables are process-wide, so each test sets exactly what it needs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "farlink/collective.h"

using namespace farlink;

namespace {

constexpr const char* kVars[] = {"RANK",
                                 "WORLD_SIZE",
                                 "LOCAL_RANK",
                                 "MASTER_ADDR",
                                 "MASTER_PORT",
                                 "FARLINK_SITE",
                                 "FARLINK_RANK_BASE",
                                 "OMPI_COMM_WORLD_RANK",
                                 "OMPI_COMM_WORLD_SIZE",
                                 "FARLINK_COLL_GATHER_OVERLAP"};

class BootstrapEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVars) ::unsetenv(v);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", "29500", 1);
  }
  void TearDown() override {
    for (const char* v : kVars) ::unsetenv(v);
  }
};

TEST_F(BootstrapEnv, Torchrun) {
  ::setenv("RANK", "3", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("FARLINK_SITE", "B", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_EQ(o->rank, 3);
  EXPECT_EQ(o->world_size, 4);
  EXPECT_EQ(o->site, "B");
  EXPECT_EQ(o->master_port, 29500);
}

TEST_F(BootstrapEnv, OneMpirunJob) {
  ::setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_EQ(o->rank, 2);
  EXPECT_EQ(o->world_size, 4);
}

TEST_F(BootstrapEnv, OneMpirunJobPerSite) {
  ::setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  ::setenv("FARLINK_RANK_BASE", "3", 1);
  ::setenv("WORLD_SIZE", "5", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_EQ(o->rank, 4);
  EXPECT_EQ(o->world_size, 5);
}

TEST_F(BootstrapEnv, TorchrunWinsOverMpi) {
  // A torchrun launched under mpirun (or a user override) sets RANK itself.
  ::setenv("RANK", "0", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_EQ(o->rank, 0);
}

TEST_F(BootstrapEnv, MpiJobThatDoesNotFitIsRefused) {
  ::setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  ::setenv("FARLINK_RANK_BASE", "2", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("FARLINK_RANK_BASE 2"), std::string::npos)
      << o.status().message();
}

TEST_F(BootstrapEnv, NoLauncherNamesWhatToSet) {
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_NE(o.status().message().find("RANK is not set"), std::string::npos);
  EXPECT_NE(o.status().message().find("mpirun"), std::string::npos);
}

TEST_F(BootstrapEnv, GarbageRankIsRefused) {
  ::setenv("OMPI_COMM_WORLD_RANK", "x1", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_NE(o.status().message().find("OMPI_COMM_WORLD_RANK='x1'"), std::string::npos)
      << o.status().message();
}

TEST_F(BootstrapEnv, MissingMasterAddrSaysHowToForwardIt) {
  ::unsetenv("MASTER_ADDR");
  ::setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_NE(o.status().message().find("-x MASTER_ADDR"), std::string::npos);
}

TEST_F(BootstrapEnv, GatherOverlapIsOnUnlessTurnedOff) {
  ::setenv("RANK", "0", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  auto o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_TRUE(o->gather_overlap);
  ::setenv("FARLINK_COLL_GATHER_OVERLAP", "0", 1);
  o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_FALSE(o->gather_overlap);
  ::setenv("FARLINK_COLL_GATHER_OVERLAP", "1", 1);
  o = CommunicatorOptions::fromEnvironment();
  ASSERT_TRUE(o) << o.status().toString();
  EXPECT_TRUE(o->gather_overlap);
  ::setenv("FARLINK_COLL_GATHER_OVERLAP", "yes", 1);
  o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_NE(o.status().message().find("FARLINK_COLL_GATHER_OVERLAP"), std::string::npos)
      << o.status().message();
  ::setenv("FARLINK_COLL_GATHER_OVERLAP", "2", 1);
  o = CommunicatorOptions::fromEnvironment();
  ASSERT_FALSE(o);
  EXPECT_NE(o.status().message().find("must be 0 or 1"), std::string::npos)
      << o.status().message();
}

}  // namespace
