// One rank of farlink coll: join the world, then for each size warm up,
// time `iters` back-to-back collectives, and (with --verify) run one more
// into a poisoned buffer and check every element. The slowest rank's time
// and the world's count of wrong elements are agreed with two small
// allreduces, so rank 0 prints what the whole world saw.
#include <chrono>
#include <cstring>
#include <vector>

#include "coll/coll.h"
#include "coll/coll_report.h"

namespace farlink::colltool {
namespace {

using tools::kExitError;
using tools::kExitOk;
using tools::kExitUsage;
using tools::kExitVerify;

std::string_view algorithmName(CollOp op, CollAlgorithm a, bool one_site) {
  if (op == CollOp::kAllreduce) {
    switch (a) {
      case CollAlgorithm::kRing:
        return "ring";
      case CollAlgorithm::kHalvingDoubling:
        return "hd";
      default:
        return one_site ? "adapter" : "hierarchical";
    }
  }
  // What Communicator runs for the others (communicator.cpp).
  if (op == CollOp::kAllgather || op == CollOp::kReduceScatter) {
    if (a == CollAlgorithm::kRing || (a == CollAlgorithm::kAuto && !one_site)) return "ring";
    return one_site ? "adapter" : "hierarchical";
  }
  if (one_site && op != CollOp::kReduce && op != CollOp::kAlltoall) return "adapter";
  switch (op) {
    case CollOp::kBroadcast:
      return "hierarchical";
    case CollOp::kReduce:
      return "binomial";
    default:
      return "pairwise";
  }
}

struct Buffers {
  std::vector<uint8_t> send, recv;
};

CollRequest issue(Communicator& c, const Plan& p, const Shape& s, Buffers& b) {
  switch (p.op) {
    case CollOp::kAllreduce:
      return c.iallreduce(b.send.data(), b.recv.data(), s.count, p.type, p.redop, p.algo);
    case CollOp::kAllgather:
      return c.iallgather(b.send.data(), b.recv.data(), s.count, p.type, p.algo);
    case CollOp::kReduceScatter:
      return c.ireduceScatter(b.send.data(), b.recv.data(), s.count, p.type, p.redop, p.algo);
    case CollOp::kBroadcast:
      return c.ibroadcast(b.recv.data(), s.count, p.type, p.root);
    case CollOp::kReduce:
      return c.ireduce(b.send.data(), b.recv.data(), s.count, p.type, p.redop, p.root);
    case CollOp::kAlltoall:
      return c.ialltoall(b.send.data(), b.recv.data(), s.count, p.type);
  }
  return CollRequest();
}

// Issues n collectives at once (the worker runs them in order) and waits.
Status runMany(Communicator& c, const Plan& p, const Shape& s, Buffers& b, int n) {
  std::vector<CollRequest> reqs;
  for (int i = 0; i < n; ++i) reqs.push_back(issue(c, p, s, b));
  Status first;
  for (auto& r : reqs)
    if (Status st = r.wait(); !st && first.isOk()) first = st;
  return first;
}

// The broadcast root's buffer holds its input; everyone else's is poisoned
// so that a collective which leaves it alone is caught.
void prepare(const Communicator& c, const Plan& p, Buffers& b) {
  std::memset(b.recv.data(), 0xa5, b.recv.size());
  if (p.op == CollOp::kBroadcast && c.rank() == p.root) b.recv = b.send;
}

int runSizes(Communicator& c, const Plan& p, const std::string& who, const std::string& algo,
             bool* any_wrong);

}  // namespace

int runRank(const Plan& plan, const CommunicatorOptions& copts, const std::string& title_extra) {
  Plan p = plan;
  // FARLINK_COLL_ALGO names the allreduce algorithm only (it may be hd).
  if (p.algo == CollAlgorithm::kAuto && p.op == CollOp::kAllreduce)
    p.algo = copts.allreduce_algorithm;
  std::string who = "rank " + std::to_string(copts.rank) + " (site " + copts.site + ")";
  auto made = Communicator::create(copts);
  if (!made) {
    tools::printError("coll", who + ": cannot join the world: " + made.status().toString());
    return kExitError;
  }
  Communicator& c = *made.value();
  if (rooted(p.op) && p.root >= c.size()) {
    if (c.rank() == 0)
      tools::printError("coll", "--root " + std::to_string(p.root) + " is not a rank of this " +
                                    std::to_string(c.size()) + "-rank world");
    return kExitUsage;
  }
  const std::string algo(algorithmName(p.op, p.algo, c.siteCount() == 1));
  if (c.rank() == 0 && !p.json)
    printHeader(stdout,
                "farlink coll: " + std::string(collOpName(p.op)) + ", " + std::to_string(c.size()) +
                    " ranks in " + std::to_string(c.siteCount()) +
                    (c.siteCount() == 1 ? " site" : " sites") + std::string(", algorithm ") + algo +
                    "; rank 0: site " + std::string(c.siteName()) + ", adapter " +
                    std::string(c.adapterName()) + title_extra);
  bool any_wrong = false;
  for (DataType type : p.types)
    for (ReduceOp redop : p.redops) {
      p.type = type;
      p.redop = redop;
      if (p.count > 0) p.sizes = {p.count * dataTypeSize(type)};
      int rc = runSizes(c, p, who, algo, &any_wrong);
      if (rc != kExitOk) return rc;
    }
  return any_wrong ? kExitVerify : kExitOk;
}

namespace {

// The sweep of one dtype and reduction; rank 0 prints a row per size.
int runSizes(Communicator& c, const Plan& p, const std::string& who, const std::string& algo,
             bool* any_wrong) {
  const size_t es = dataTypeSize(p.type);
  for (uint64_t size : p.sizes) {
    const Shape s = shapeFor(p.op, size, p.type, c.size());
    Buffers b;
    b.send.resize(s.send_elems * es);
    b.recv.resize(s.recv_elems * es);
    fillInput(p.op, p.redop, p.type, c.rank(), b.send.data(), s.send_elems);
    prepare(c, p, b);
    const std::string what = std::string(collOpName(p.op)) + " " +
                             std::string(dataTypeName(p.type)) + " of " + std::to_string(s.bytes) +
                             " B";
    auto fail = [&](const Status& st) {
      tools::printError("coll", who + ": " + what + " failed: " + st.toString());
      return kExitError;
    };
    if (Status st = runMany(c, p, s, b, p.warmup); !st) return fail(st);
    if (Status st = c.barrier(); !st) return fail(st);
    auto t0 = std::chrono::steady_clock::now();
    if (Status st = runMany(c, p, s, b, p.iters); !st) return fail(st);
    double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        p.iters;
    int64_t wrong = 0;
    if (p.verify) {
      prepare(c, p, b);
      if (Status st = runMany(c, p, s, b, 1); !st) return fail(st);
      Expectation e{p.op, p.redop, p.type, c.size(), c.rank(), p.root, s.count};
      std::string first;
      wrong = int64_t(countWrong(e, b.recv.data(), checkedElems(e, s), &first));
      if (wrong > 0)
        tools::printError("coll", who + ": " + what + ": " + std::to_string(wrong) + " of " +
                                      std::to_string(checkedElems(e, s)) + " elements wrong; " +
                                      first);
    }
    // The world's view: the slowest rank's time, everyone's wrong elements.
    if (Status st = c.allreduce(&us, &us, 1, DataType::kFloat64, ReduceOp::kMax); !st)
      return fail(st);
    if (Status st = c.allreduce(&wrong, &wrong, 1, DataType::kInt64, ReduceOp::kSum); !st)
      return fail(st);
    *any_wrong |= wrong > 0;
    if (c.rank() != 0) continue;
    Row row;
    row.op = p.op;
    row.type = p.type;
    row.redop = p.redop;
    row.root = rooted(p.op) ? p.root : -1;
    row.bytes = s.bytes;
    row.count = s.bytes / es;
    row.world = c.size();
    row.iterations = p.iters;
    row.time_us = us;
    row.wrong = p.verify ? wrong : -1;
    row.algorithm = algo;
    if (p.json) {
      std::printf("%s\n", toJson(row).c_str());
      std::fflush(stdout);
    } else {
      printRow(stdout, row);
    }
  }
  return kExitOk;
}

}  // namespace

}  // namespace farlink::colltool
