// Ranks as forked processes on loopback, grouped into sites (2x2, 2+3 and
// 1+2+2).
// Each rank checks every collective and dtype against a reference it
// computes itself from the generator below (integers exact; floats within
// (n+1) * 2u * sum|x|, u the unit roundoff of the dtype — the data are
// chosen so most results are exact anyway). A rank killed during an
// allreduce, allgather or reduce-scatter must make the others fail with an
// error naming a rank, well before the test's limit.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coll/element.h"
#include "coll/half.h"
#include "coll/mesh.h"
#include "farlink/collective.h"

using namespace farlink;
using namespace std::chrono_literals;

namespace {

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// ---- data and reference ----

int gen(int rank, size_t i) { return int((size_t(rank) * 7 + i * 13) % 9) - 4; }  // -4..4

double value(DataType t, int rank, size_t i) {
  int k = gen(rank, i);
  switch (t) {
    case DataType::kUInt8: return k + 5;  // 1..9
    case DataType::kInt8:
    case DataType::kInt32:
    case DataType::kInt64: return k;
    default: return k * 0.5 + 0.25;  // exact in every float type
  }
}

// Typed elements as doubles, shared with farlink coll's checks.
constexpr auto store = coll::storeElement;
constexpr auto load = coll::loadElement;
using coll::unitRoundoff;

bool isInt(DataType t) { return t <= DataType::kInt64; }


// Reference over the ranks in `ranks` for element i, and a magnitude for the tolerance.
std::pair<double, double> reference(DataType t, ReduceOp op, int n, size_t i) {
  __int128 acc = (op == ReduceOp::kProd) ? 1 : 0;
  double facc = (op == ReduceOp::kProd) ? 1 : 0, mag = (op == ReduceOp::kProd) ? 1 : 0;
  for (int r = 0; r < n; ++r) {
    double v = value(t, r, i);
    if (r == 0 && (op == ReduceOp::kMin || op == ReduceOp::kMax)) {
      acc = __int128(v);
      facc = v;
      continue;
    }
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg: acc += __int128(v); facc += v; mag += std::fabs(v); break;
      case ReduceOp::kProd: acc *= __int128(v); facc *= v; mag *= std::fabs(v); break;
      case ReduceOp::kMin: acc = std::min(acc, __int128(v)); facc = std::min(facc, v); break;
      case ReduceOp::kMax: acc = std::max(acc, __int128(v)); facc = std::max(facc, v); break;
    }
  }
  if (isInt(t)) {
    // Wrap to the type as the kernels do (two's complement), then avg truncates.
    uint64_t bits = uint64_t(acc);
    double w = 0;
    switch (t) {
      case DataType::kInt8: w = int8_t(bits); break;
      case DataType::kUInt8: w = uint8_t(bits); break;
      case DataType::kInt32: w = int32_t(bits); break;
      default: w = double(int64_t(bits)); break;
    }
    if (op == ReduceOp::kAvg) w = double(int64_t(w) / n);
    return {w, 0};
  }
  if (op == ReduceOp::kAvg) {
    facc /= n;
    mag /= n;
  }
  return {facc, mag};
}

struct Checker {
  int rank;
  std::string failure;
  bool expect(bool ok, const std::string& what) {
    if (!ok && failure.empty()) failure = what;
    return ok;
  }
  bool status(const Status& s, const std::string& what) {
    return expect(s.isOk(), what + ": " + s.toString());
  }
  bool near(DataType t, double got, std::pair<double, double> want, int n, const std::string& what) {
    double tol = isInt(t) ? 0 : (n + 1) * 2 * unitRoundoff(t) * std::max(1.0, want.second);
    if (std::fabs(got - want.first) <= tol) return true;
    std::ostringstream os;
    os << what << ": got " << got << " want " << want.first << " (tolerance " << tol << ")";
    return expect(false, os.str());
  }
};

std::string label(const char* op, DataType t, ReduceOp r, size_t count) {
  return std::string(op) + " " + std::string(dataTypeName(t)) + " " +
         std::string(reduceOpName(r)) + " count " + std::to_string(count);
}

void checkAllreduce(Communicator& c, Checker& k, DataType t, ReduceOp op, size_t count,
                    CollAlgorithm algo, bool in_place) {
  size_t es = dataTypeSize(t);
  std::vector<uint8_t> send(count * es), recv(count * es, 0xee);
  for (size_t i = 0; i < count; ++i) store(t, send.data(), i, value(t, c.rank(), i));
  void* out = in_place ? send.data() : recv.data();
  std::string what = label("allreduce", t, op, count) + " algo " + std::to_string(int(algo));
  if (!k.status(c.allreduce(send.data(), out, count, t, op, algo), what)) return;
  for (size_t i = 0; i < count; ++i)
    if (!k.near(t, load(t, out, i), reference(t, op, c.size(), i), c.size(),
                what + " i=" + std::to_string(i)))
      return;
}

const char* algoName(CollAlgorithm a) {
  return a == CollAlgorithm::kRing ? "ring" : a == CollAlgorithm::kAuto ? "auto" : "hierarchical";
}

// Reduce-scatter with each of `ops` and allgather, through `algo`; both in
// place (recv inside send, as MPI_IN_PLACE) on alternate calls.
void checkGathers(Communicator& c, Checker& k, DataType t, size_t count, CollAlgorithm algo,
                  const std::vector<ReduceOp>& ops) {
  size_t es = dataTypeSize(t);
  int n = c.size(), me = c.rank();
  bool in_place = false;
  // reduce-scatter: rank r gets block r of an n*count input.
  for (ReduceOp op : ops) {
    in_place = !in_place;
    std::vector<uint8_t> in(size_t(n) * count * es), out(count * es, 0xee);
    for (size_t i = 0; i < size_t(n) * count; ++i) store(t, in.data(), i, value(t, me, i));
    void* dst = in_place ? in.data() : out.data();
    std::string what = label("reduce-scatter", t, op, count) + " " + algoName(algo) +
                       (in_place ? " in place" : "");
    if (!k.status(c.reduceScatter(in.data(), dst, count, t, op, algo), what)) return;
    for (size_t i = 0; i < count; ++i)
      if (!k.near(t, load(t, dst, i), reference(t, op, n, size_t(me) * count + i), n,
                  what + " i=" + std::to_string(i)))
        return;
  }
  for (bool place : {false, true}) {  // allgather
    std::vector<uint8_t> in(count * es), out(size_t(n) * count * es, 0xee);
    for (size_t i = 0; i < count; ++i) store(t, in.data(), i, value(t, me, i));
    const void* src = in.data();
    if (place) {
      std::memcpy(out.data() + size_t(me) * count * es, in.data(), count * es);
      src = out.data() + size_t(me) * count * es;
    }
    std::string what = label("allgather", t, ReduceOp::kSum, count) + " " + algoName(algo) +
                       (place ? " in place" : "");
    if (!k.status(c.allgather(src, out.data(), count, t, algo), what)) return;
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; ++i)
        if (!k.expect(load(t, out.data(), size_t(r) * count + i) == value(t, r, i),
                      what + ": block of rank " + std::to_string(r)))
          return;
  }
}

const std::vector<ReduceOp> kAllOps = {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMin,
                                       ReduceOp::kMax, ReduceOp::kAvg};

void checkOthers(Communicator& c, Checker& k, DataType t, size_t count) {
  size_t es = dataTypeSize(t);
  int n = c.size(), me = c.rank();
  checkGathers(c, k, t, count, CollAlgorithm::kHierarchical, kAllOps);
  checkGathers(c, k, t, count, CollAlgorithm::kRing, kAllOps);
  {  // broadcast from the last rank
    std::vector<uint8_t> buf(count * es);
    for (size_t i = 0; i < count; ++i) store(t, buf.data(), i, value(t, me, i));
    std::string what = label("broadcast", t, ReduceOp::kSum, count);
    if (!k.status(c.broadcast(buf.data(), count, t, n - 1), what)) return;
    for (size_t i = 0; i < count; ++i)
      if (!k.expect(load(t, buf.data(), i) == value(t, n - 1, i), what)) return;
  }
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin}) {  // reduce to rank 1
    std::vector<uint8_t> in(count * es), out(count * es);
    for (size_t i = 0; i < count; ++i) store(t, in.data(), i, value(t, me, i));
    std::string what = label("reduce", t, op, count);
    if (!k.status(c.reduce(in.data(), out.data(), count, t, op, 1), what)) return;
    if (me == 1)
      for (size_t i = 0; i < count; ++i)
        if (!k.near(t, load(t, out.data(), i), reference(t, op, n, i), n, what)) return;
  }
  {  // alltoall: block for rank r holds value(t, me*n + r, i)
    std::vector<uint8_t> in(size_t(n) * count * es), out(size_t(n) * count * es);
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; ++i)
        store(t, in.data(), size_t(r) * count + i, value(t, me * n + r, i));
    std::string what = label("alltoall", t, ReduceOp::kSum, count);
    if (!k.status(c.alltoall(in.data(), out.data(), count, t), what)) return;
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; ++i)
        if (!k.expect(load(t, out.data(), size_t(r) * count + i) == value(t, r * n + me, i), what))
          return;
  }
}

using Tweak = std::function<void(CommunicatorOptions&)>;

int rankMain(int rank, int world, const std::vector<std::string>& sites, uint16_t port,
             const std::function<int(Communicator&, Checker&)>& body, const Tweak& tweak) {
  CommunicatorOptions o;
  o.rank = rank;
  o.world_size = world;
  o.site = sites[size_t(rank)];
  o.master_addr = "127.0.0.1";
  o.master_port = port;
  o.timeout = 30s;
  o.channel.lanes = 1;
  if (tweak) tweak(o);
  auto c = Communicator::create(o);
  if (!c) {
    std::fprintf(stderr, "rank %d: create: %s\n", rank, c.status().toString().c_str());
    return 3;
  }
  Checker k{rank, {}};
  int rc = body(*c.value(), k);
  if (!k.failure.empty()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, k.failure.c_str());
    return rc ? rc : 1;
  }
  return rc;
}

// Forks one process per rank; returns their exit codes (-signal if killed)
// or fails the test if any outlives `limit`. `tweak` adjusts every rank's options.
std::vector<int> runRanks(const std::vector<std::string>& sites,
                          const std::function<int(Communicator&, Checker&)>& body,
                          std::chrono::seconds limit, const Tweak& tweak = {}) {
  uint16_t port = freePort();
  int world = int(sites.size());
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) _exit(rankMain(r, world, sites, port, body, tweak));
    pids.push_back(pid);
  }
  std::vector<int> codes(pids.size(), 999);
  auto until = std::chrono::steady_clock::now() + limit;
  size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < until) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (codes[i] != 999) continue;
      int st = 0;
      if (::waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        codes[i] = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        --left;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  for (size_t i = 0; i < pids.size(); ++i)
    if (codes[i] == 999) {
      ::kill(pids[i], SIGKILL);
      ::waitpid(pids[i], nullptr, 0);
      ADD_FAILURE() << "rank " << i << " still running after " << limit.count() << " s (hang)";
    }
  return codes;
}

// Reduce-scatter and allgather at a large odd count per rank: every dtype
// (sum) through the hierarchical form, every op on fp16 (widened, rounded)
// and the ring once. The 1- and 2-byte types stay below kOverlapMinBytes
// per rank and the 4- and 8-byte ones above it, so with gather_overlap on
// (the default) both ways of driving the cross-site transfer (after the
// adapter call, or during it) are checked.
void bigGathers(Communicator& c, Checker& k) {
  const size_t big = (1600001 / size_t(c.size())) | 1;
  for (int ti = 0; ti < kDataTypeCount && k.failure.empty(); ++ti)
    checkGathers(c, k, DataType(ti), big, CollAlgorithm::kHierarchical,
                 DataType(ti) == DataType::kFloat16 ? kAllOps : std::vector{ReduceOp::kSum});
  checkGathers(c, k, DataType::kFloat64, big, CollAlgorithm::kRing, {ReduceOp::kMin});
}

// Three sites of unequal size (1, 2 and 2 ranks, interleaved): reduce-scatter
// with every op and allgather, every dtype, counts 1, 7 and large, both
// algorithms (and the default, kAuto).
int gathersOfThreeSites(Communicator& c, Checker& k) {
  if (!k.expect(c.siteCount() == 3, "three sites expected")) return 1;
  for (int ti = 0; ti < kDataTypeCount && k.failure.empty(); ++ti)
    for (size_t count : {size_t{1}, size_t{7}})
      for (CollAlgorithm a :
           {CollAlgorithm::kHierarchical, CollAlgorithm::kRing, CollAlgorithm::kAuto})
        checkGathers(c, k, DataType(ti), count, a, kAllOps);
  bigGathers(c, k);
  k.status(c.barrier(), "barrier");
  return k.failure.empty() ? 0 : 1;
}

// The overlap path of the hierarchical gathers (gather_overlap,
// waitAllWhile in lib/coll/mesh.h) in the topology where it once stopped
// until the collective timeout: 1+2+2 ranks in 3 sites, interleaved, a large
// int32 reduce-scatter (in place and not) and allgather, alternating with
// small flat-ring ones so that the cross-site channels change drivers (the
// calling thread, then a fresh overlap thread) every round. Every result is
// checked; a stall fails at the collective timeout. (The overlap is the
// default now; the test still sets it, to say what it is about.)
constexpr int kOverlapRounds = 4;
int gathersOverlapRounds(Communicator& c, Checker& k) {
  if (!k.expect(c.siteCount() == 3, "three sites expected")) return 1;
  const size_t big = (1600001 / size_t(c.size())) | 1;
  // Each rank sends `big` int32 elements to each of the 2 other sites.
  if (!k.expect(2 * big * 4 >= coll::kOverlapMinBytes, "large enough for the overlap path"))
    return 1;
  for (int round = 0; round < kOverlapRounds && k.failure.empty(); ++round) {
    checkGathers(c, k, DataType::kInt32, 7, CollAlgorithm::kRing, {ReduceOp::kSum});
    checkGathers(c, k, DataType::kInt32, big, CollAlgorithm::kHierarchical,
                 {ReduceOp::kSum, ReduceOp::kMax});
  }
  k.status(c.barrier(), "barrier");
  return k.failure.empty() ? 0 : 1;
}

int everything(Communicator& c, Checker& k) {
  if (!k.expect(c.siteCount() == 2, "two sites expected")) return 1;
  for (int ti = 0; ti < kDataTypeCount; ++ti) {
    DataType t = DataType(ti);
    for (size_t count : {size_t{1}, size_t{7}, size_t{1000}}) {
      for (int o = 0; o < kReduceOpCount; ++o) {
        checkAllreduce(c, k, t, ReduceOp(o), count, CollAlgorithm::kHierarchical, o % 2 == 0);
        checkAllreduce(c, k, t, ReduceOp(o), count, CollAlgorithm::kRing, false);
        checkAllreduce(c, k, t, ReduceOp(o), count, CollAlgorithm::kHalvingDoubling, o == 1);
      }
      checkOthers(c, k, t, count);
      if (!k.failure.empty()) return 1;
    }
  }
  // Large odd counts.
  checkAllreduce(c, k, DataType::kFloat32, ReduceOp::kSum, 1000003, CollAlgorithm::kHierarchical,
                 false);
  checkAllreduce(c, k, DataType::kBFloat16, ReduceOp::kAvg, 1000003, CollAlgorithm::kHierarchical,
                 true);
  checkAllreduce(c, k, DataType::kInt64, ReduceOp::kMax, 1000003, CollAlgorithm::kRing, false);
  checkAllreduce(c, k, DataType::kFloat64, ReduceOp::kSum, 1000003,
                 CollAlgorithm::kHalvingDoubling, false);
  checkOthers(c, k, DataType::kInt32, 1000003 / size_t(c.size()) + 1);
  bigGathers(c, k);
  // Async: two allreduces in flight at once, then a barrier.
  std::vector<float> a(4099, 1.0f), b(4099, 2.0f);
  auto ra = c.iallreduce(a.data(), a.data(), a.size(), DataType::kFloat32, ReduceOp::kSum);
  auto rb = c.iallreduce(b.data(), b.data(), b.size(), DataType::kFloat32, ReduceOp::kMax);
  k.status(ra.wait(), "iallreduce a");
  k.status(rb.wait(), "iallreduce b");
  k.expect(a[4098] == float(c.size()) && b[0] == 2.0f, "async results");
  k.status(c.barrier(), "barrier");
  // Point-to-point around the ring.
  int n = c.size(), me = c.rank();
  std::vector<int32_t> out(333, me), in(333, -1);
  auto rr = c.irecv(in.data(), in.size() * 4, (me + n - 1) % n, 5);
  k.status(c.send(out.data(), out.size() * 4, (me + 1) % n, 5), "send");
  k.status(rr.wait(), "recv");
  k.expect(in[332] == (me + n - 1) % n, "p2p payload");
  return k.failure.empty() ? 0 : 1;
}

TEST(Multiproc, TwoSitesOfTwo) {
  auto codes = runRanks({"a", "a", "b", "b"}, everything, 300s);
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(codes[i], 0) << "rank " << i;
}

TEST(Multiproc, UnequalSitesTwoAndThree) {
  // Interleaved site membership: local ranks follow world-rank order.
  auto codes = runRanks({"east", "west", "east", "west", "west"}, everything, 300s);
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(codes[i], 0) << "rank " << i;
}

// With the overlap turned off, so that the in-turn path stays tested.
TEST(Multiproc, ThreeUnequalSitesGathers) {
  auto codes = runRanks({"x", "y", "z", "y", "z"}, gathersOfThreeSites, 300s,
                        [](CommunicatorOptions& o) { o.gather_overlap = false; });
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(codes[i], 0) << "rank " << i;
}

TEST(Multiproc, ThreeSitesGatherOverlap) {
  auto codes = runRanks({"x", "y", "z", "y", "z"}, gathersOverlapRounds, 240s,
                        [](CommunicatorOptions& o) { o.gather_overlap = true; });
  for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(codes[i], 0) << "rank " << i;
}

// Rank 3 dies in the middle of its third collective `op`; the others must
// fail cleanly, naming a rank, well within the runner's limit.
class KilledRank : public ::testing::TestWithParam<std::string> {};

TEST_P(KilledRank, FailsTheOthers) {
  const std::string op = GetParam();
  char tmpl[] = "/tmp/farlink-coll-kill-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto body = [dir, op](Communicator& c, Checker&) -> int {
    // Elements of the call's count; reduce-scatter's input and allgather's
    // output are size() times that.
    const size_t count = op == "allreduce" ? size_t{4} << 20 : size_t{1} << 20;
    const size_t n = size_t(c.size());
    std::vector<float> in(op == "reduce_scatter" ? n * count : count, 1.0f);
    std::vector<float> out(op == "allgather" ? n * count : count);
    for (int it = 0; it < 1000; ++it) {
      if (c.rank() == 3 && it == 2) {
        // Die in the middle of this collective.
        std::thread([] {
          std::this_thread::sleep_for(5ms);
          ::kill(::getpid(), SIGKILL);
        }).detach();
      }
      Status s = op == "allreduce"
                     ? c.allreduce(in.data(), in.data(), count, DataType::kFloat32, ReduceOp::kMax)
                 : op == "allgather"
                     ? c.allgather(in.data(), out.data(), count, DataType::kFloat32,
                                   CollAlgorithm::kHierarchical)
                     : c.reduceScatter(in.data(), out.data(), count, DataType::kFloat32,
                                       ReduceOp::kSum, CollAlgorithm::kHierarchical);
      if (!s) {
        std::ofstream(dir + "/rank" + std::to_string(c.rank())) << s.toString();
        return 2;
      }
    }
    return 0;
  };
  auto start = std::chrono::steady_clock::now();
  auto codes = runRanks({"a", "a", "b", "b"}, body, 120s);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(codes[3], -SIGKILL);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(codes[size_t(r)], 2) << "rank " << r << " should have failed cleanly";
    std::ifstream f(dir + "/rank" + std::to_string(r));
    std::string msg((std::istreambuf_iterator<char>(f)), {});
    EXPECT_NE(msg.find("rank "), std::string::npos) << "rank " << r << ": " << msg;
    // The error names the collective that was running.
    EXPECT_NE(msg.find(op == "reduce_scatter" ? "reduce-scatter" : op), std::string::npos)
        << "rank " << r << ": " << msg;
    std::printf("rank %d reported: %s\n", r, msg.c_str());
    std::remove((dir + "/rank" + std::to_string(r)).c_str());
  }
  ::rmdir(dir.c_str());
  std::printf("survivors finished %.1f s after start\n",
              std::chrono::duration<double>(took).count());
}

INSTANTIATE_TEST_SUITE_P(Ops, KilledRank,
                         ::testing::Values("allreduce", "allgather", "reduce_scatter"),
                         [](const auto& p) { return p.param; });

}  // namespace
