// farlink coll: options, and the choice between a launched rank and an
// embedded --local world (coll_local.cpp).
#include "coll/coll.h"

#include <cstdlib>

#include "coll/coll_local.h"

namespace farlink::colltool {
namespace {

using tools::kExitUsage;

int usage(const std::string& msg) {
  tools::printError("coll", msg);
  return kExitUsage;
}

bool launched() {
  auto set = [](const char* v) { return std::getenv(v) && *std::getenv(v); };
  return set("RANK") || set("OMPI_COMM_WORLD_RANK");
}

// "fp32,fp16" → {"fp32", "fp16"}; an empty item stays (and fails to parse).
std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t from = 0;
  while (true) {
    size_t comma = s.find(',', from);
    out.push_back(s.substr(from, comma - from));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

}  // namespace

CLI::App* addCollCommand(CLI::App& app, CollOptions* o) {
  CLI::App* cmd = app.add_subcommand(
      "coll", "Benchmark and check collectives (nccl-tests columns) over a world of ranks");
  std::string ops;
  for (CollOp op : kAllCollOps) ops += (ops.empty() ? "" : "|") + std::string(collOpName(op));
  cmd->add_option("-o,--op", o->op, "Collective: " + ops + " (default allreduce)")->type_name("OP");
  cmd->add_option("-d,--dtype", o->dtype,
                  "Element type: int8 uint8 int32 int64 fp16 bf16 fp32 fp64 (default fp32); a "
                  "comma list runs each in turn")
      ->type_name("TYPE[,TYPE...]");
  cmd->add_option("-r,--redop", o->redop,
                  "Reduction: sum prod min max avg (default sum); a comma list runs each with "
                  "every --dtype")
      ->type_name("OP[,OP...]");
  auto* b = cmd->add_option("-b,--minbytes", o->minbytes,
                            "Smallest size S (default 1K; S as nccl-tests: allgather, "
                            "reduce_scatter and alltoall count the whole world's buffer)")
                ->check(tools::sizeValidator());
  auto* e = cmd->add_option("-e,--maxbytes", o->maxbytes, "Largest size (default 4M)")
                ->check(tools::sizeValidator());
  cmd->add_option("-f,--stepfactor", o->stepfactor, "Multiply the size by this per row (default 2)")
      ->check(CLI::Range(uint64_t(2), uint64_t(1) << 20));
  auto* n = cmd->add_option("--count", o->count, "One size of N elements instead of a sweep")
                ->type_name("N")
                ->check(CLI::Range(uint64_t(1), uint64_t(1) << 34));
  auto* a = cmd->add_flag("-a,--all", o->all, "Sweep 8 B .. 64 MiB");
  n->excludes(b)->excludes(e)->excludes(a);
  a->excludes(b)->excludes(e);
  cmd->add_option("-n,--iters", o->iters, "Timed iterations per size (default 20)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("-w,--warmup", o->warmup, "Untimed iterations first (default 5)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--root", o->root, "Root rank of broadcast and reduce (default 0)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--algo", o->algo,
                  "Algorithm of allreduce, allgather and reduce_scatter: auto (hierarchical "
                  "across sites, the site's adapter within one), ring, hierarchical, and hd "
                  "(halving-doubling, allreduce only); default auto (allreduce: "
                  "FARLINK_COLL_ALGO or auto)")
      ->check(CLI::IsMember({"auto", "ring", "hd", "hierarchical"}));
  cmd->add_option("--adapter", o->adapter,
                  "Intra-site adapter: farlink, mpi, gloo, or a module path (default: "
                  "FARLINK_COLL_ADAPTER or farlink). With --local, a comma list gives one per site")
      ->type_name("NAME[,NAME...]");
  cmd->add_flag("-c,--check,--verify", o->verify,
                "Check every element of the result against its closed-form value; #wrong");
  cmd->add_flag("--json", o->json, "One JSON object per size instead of the table");
  cmd->add_option("--local", o->local,
                  "Fork a world of N ranks on loopback (the default, with 4, when no launcher "
                  "variables RANK or OMPI_COMM_WORLD_RANK are set)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--sites", o->sites, "Sites of the --local world, ranks split evenly (default 2)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--timeout", o->timeout_s,
                  "Seconds any collective waits for peers before failing (default: "
                  "FARLINK_COLL_TIMEOUT_MS, else 60 with --local, 300 launched)")
      ->type_name("S")
      ->check(CLI::Range(1, 86400));
  cmd->footer(
      "Launched ranks read RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and FARLINK_SITE (torchrun "
      "style), or OMPI_COMM_WORLD_RANK/SIZE under mpirun (plus FARLINK_RANK_BASE when each site "
      "has its own mpirun). Rank 0 prints the table.\n"
      "Exit status: 0 success, 1 runtime error (names the rank), 2 usage error, 3 wrong "
      "results. See farlink-coll(1).");
  return cmd;
}

int runColl(const CollOptions& o) {
  Plan p;
  auto op = parseCollOp(o.op);
  if (!op)
    return usage("--op '" + o.op +
                 "' is not a collective; use one of allreduce, "
                 "allgather, reduce_scatter, broadcast, reduce, alltoall");
  p.op = *op;
  p.types.clear();
  for (const std::string& d : splitList(o.dtype)) {
    auto t = parseDataType(d);
    if (!t) return usage("--dtype: " + t.status().message());
    p.types.push_back(*t);
  }
  p.redops.clear();
  for (const std::string& d : splitList(o.redop)) {
    auto r = parseReduceOp(d);
    if (!r) return usage("--redop: " + r.status().message());
    p.redops.push_back(*r);
  }
  p.type = p.types.front();
  p.redop = p.redops.front();
  const bool gathers = p.op == CollOp::kAllgather || p.op == CollOp::kReduceScatter;
  if (o.algo != "auto" && p.op != CollOp::kAllreduce && !(gathers && o.algo != "hd"))
    return usage("--algo " + o.algo + " applies to allreduce" +
                 (o.algo == "hd" ? "" : ", allgather and reduce_scatter") + " only; " +
                 std::string(collOpName(p.op)) + " has one algorithm per layout");
  p.algo = o.algo == "ring"           ? CollAlgorithm::kRing
           : o.algo == "hd"           ? CollAlgorithm::kHalvingDoubling
           : o.algo == "hierarchical" ? CollAlgorithm::kHierarchical
                                      : CollAlgorithm::kAuto;
  if (o.count > 0) {
    p.count = o.count;
  } else {
    uint64_t lo = o.all ? 8 : 1024, hi = o.all ? 64ull << 20 : 4ull << 20;
    if (!o.minbytes.empty()) lo = *tools::parseSize(o.minbytes);
    if (!o.maxbytes.empty())
      hi = *tools::parseSize(o.maxbytes);
    else if (!o.minbytes.empty())
      hi = std::max(hi, lo);
    if (lo == 0) return usage("--minbytes must be at least 1 byte");
    if (lo > hi)
      return usage("--minbytes " + o.minbytes + " is larger than --maxbytes " + o.maxbytes);
    p.sizes = sweepSizes(lo, hi, o.stepfactor);
  }
  p.iters = o.iters;
  p.warmup = o.warmup;
  p.root = o.root;
  p.verify = o.verify;
  p.json = o.json;
  if (o.local > 0 || !launched()) return runLocal(p, o);
  if (o.adapter.find(',') != std::string::npos)
    return usage("--adapter " + o.adapter +
                 ": a list (one per site) needs --local; a launched "
                 "rank takes one adapter, the same on every rank of its site");
  auto c = rankOptions(o);
  if (!c) return usage(c.status().message());
  return runRank(p, c.value(), "");
}

Result<CommunicatorOptions> rankOptions(const CollOptions& o) {
  auto copts = CommunicatorOptions::fromEnvironment();
  if (!copts) return copts.status();
  CommunicatorOptions c = copts.value();
  if (!o.adapter.empty()) c.adapter = o.adapter;
  if (o.timeout_s > 0) c.timeout = std::chrono::seconds(o.timeout_s);
  return c;
}

}  // namespace farlink::colltool
