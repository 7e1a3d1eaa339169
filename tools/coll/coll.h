// farlink coll: an nccl-tests-style benchmark and check of farlink's
// collectives. Ranks come from a launcher (torchrun-style RANK/WORLD_SIZE/
// MASTER_ADDR/MASTER_PORT + FARLINK_SITE, or mpirun), or --local N forks an
// embedded world of N ranks in sites on loopback. See man/farlink-coll.1.md.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "coll/coll_data.h"
#include "common/cli.h"

namespace farlink::colltool {

struct CollOptions {
  std::string op = "allreduce";
  std::string dtype = "fp32";
  std::string redop = "sum";
  std::string minbytes, maxbytes;  // -b/-e, parsed with tools::parseSize
  uint64_t stepfactor = 2;         // -f
  uint64_t count = 0;              // --count: one size of this many elements
  bool all = false;                // -a: 8 B .. 64 MiB
  int iters = 20;
  int warmup = 5;
  int root = 0;
  std::string algo = "auto";
  std::string adapter;  // empty: FARLINK_COLL_ADAPTER or farlink
  bool verify = false;
  bool json = false;
  int local = 0;      // --local N (0: not given)
  int sites = 2;      // sites of the --local world
  int timeout_s = 0;  // 0: FARLINK_COLL_TIMEOUT_MS or 60 s (--local) / 300 s
};

CLI::App* addCollCommand(CLI::App& app, CollOptions* opts);
// Returns a tools::ExitCode. May fork (--local): call it before starting threads.
int runColl(const CollOptions& opts);

// What runColl resolved from the options, shared by its parts.
struct Plan {
  CollOp op = CollOp::kAllreduce;
  DataType type = DataType::kFloat32;  // the combination being run
  ReduceOp redop = ReduceOp::kSum;
  // -d/-r lists: every type with every reduction, in one world.
  std::vector<DataType> types{DataType::kFloat32};
  std::vector<ReduceOp> redops{ReduceOp::kSum};
  CollAlgorithm algo = CollAlgorithm::kAuto;
  std::vector<uint64_t> sizes;  // bytes; with count > 0, count elements of each type
  uint64_t count = 0;
  int iters = 20, warmup = 5, root = 0;
  bool verify = false, json = false;
};

// This rank's communicator options: the launcher's variables
// (CommunicatorOptions::fromEnvironment) with --adapter and --timeout over them.
Result<CommunicatorOptions> rankOptions(const CollOptions& o);

// One rank: joins the world, runs the sweep, prints the table on rank 0.
// Returns a tools::ExitCode; errors go to stderr naming the rank.
int runRank(const Plan& plan, const CommunicatorOptions& copts, const std::string& title_extra);

}  // namespace farlink::colltool
