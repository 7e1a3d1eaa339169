// One rank of the adapter tests (run_adapters.sh launches them: under
// mpirun for an 'mpi' site, as plain processes otherwise). Environment:
// torchrun-style RANK (or, under mpirun, OMPI_COMM_WORLD_RANK placed at
// FARLINK_RANK_BASE: the library's own MPI bootstrap), WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, FARLINK_SITE, FARLINK_COLL_HOST (the site's
// own address, when the sites are in different namespaces),
// FARLINK_COLL_ADAPTER; COLL_BIG is the large odd count (default 1000003).
//
// 1. Communicator level: allreduce of every dtype and op at counts 1, 7 and
//    COLL_BIG (hierarchical across sites: the adapters' reduce-scatter and
//    allgather; within one site: the adapter's allreduce), reduce-scatter
//    of every dtype and op and allgather of every dtype at counts 1, 7 and
//    COLL_BIG / WORLD_SIZE (CollAlgorithm::kHierarchical), broadcast and
//    barrier. (The large counts run once per dtype, and allreduce's for
//    every op on fp16, to keep the suite near a minute.)
// 2. Adapter level, within the site: the site's adapter loaded and started
//    on its own (its own store on FARLINK_COLL_HOST or MASTER_ADDR, port
//    MASTER_PORT+1+site), every entry point —
//    reduce-scatter with farlink's unequal partition and with empty blocks,
//    allgather(v) in and out of place, broadcast from every root, barrier.
// Every result is checked against reference.h. Prints "digest <hex>" (a
// hash of every result, for comparing adapters) and exits 0, or names the
// first failure and exits 1.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "coll/adapter.h"
#include "coll/shard_map.h"
#include "coll/store.h"
#include "coll/store_abi.h"
#include "farlink/collective.h"
#include "reference.h"

using namespace farlink;
using namespace adapters_test;

namespace {

constexpr DataType kTypes[] = {DataType::kInt8,    DataType::kUInt8,   DataType::kInt32,
                               DataType::kInt64,   DataType::kFloat16, DataType::kBFloat16,
                               DataType::kFloat32, DataType::kFloat64};
constexpr ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMin, ReduceOp::kMax,
                             ReduceOp::kAvg};

struct Run {
  int rank = 0;
  std::string who;
  uint64_t digest = 0xcbf29ce484222325ull;
  uint64_t seed = 1;
};

[[noreturn]] void die(const Run& r, const std::string& what) {
  std::fprintf(stderr, "%s: FAIL %s\n", r.who.c_str(), what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

void expectOk(const Run& r, const Status& s, const std::string& what) {
  if (!s) die(r, what + ": " + s.toString());
}

std::string label(const char* op, DataType t, ReduceOp o, size_t n) {
  return std::string(op) + " " + std::string(dataTypeName(t)) + " " + std::string(reduceOpName(o)) +
         " x" + std::to_string(n);
}

std::vector<int> iota(int n, int from = 0) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(from + i);
  return v;
}

// ---- 1. through the Communicator ----

void communicatorChecks(Communicator& c, Run& r, size_t big) {
  const std::vector<int> all = iota(c.size());
  for (DataType t : kTypes)
    for (ReduceOp op : kOps)
      for (size_t n : {size_t(1), size_t(7), big}) {
        // The big count for every dtype once (sum), and for every op on
        // fp16 (the widen-reduce-round path); all ops run at 1 and 7.
        if (n == big && op != ReduceOp::kSum && t != DataType::kFloat16) continue;
        size_t es = dataTypeSize(t);
        uint64_t seed = r.seed++;
        std::vector<uint8_t> in(n * es), out(n * es);
        fillInput(t, op, seed, c.rank(), in.data(), n);
        std::string what = label("allreduce", t, op, n);
        expectOk(r, c.allreduce(in.data(), out.data(), n, t, op), what);
        if (auto e = checkReduced(t, op, seed, all, out.data(), 0, n); !e.empty())
          die(r, what + ": " + e);
        r.digest = fnv(r.digest, out.data(), out.size());
      }

  // Reduce-scatter and allgather (kHierarchical; across sites: the
  // adapters' reduce-scatter and allgather within each site) with every op
  // at counts 1 and 7 and a large odd count once per dtype (sum): the
  // partials of an mpi site and a gloo site must combine exactly.
  const size_t big_block = (big / size_t(c.size())) | 1;
  for (DataType t : kTypes)
    for (ReduceOp op : kOps)
      for (size_t n : {size_t(1), size_t(7), big_block}) {
        if (n == big_block && op != ReduceOp::kSum) continue;
        size_t es = dataTypeSize(t);
        uint64_t seed = r.seed++;
        std::vector<uint8_t> in(size_t(c.size()) * n * es), out(n * es);
        fillInput(t, op, seed, c.rank(), in.data(), in.size() / es);
        std::string what = label("reduce-scatter", t, op, n);
        expectOk(r, c.reduceScatter(in.data(), out.data(), n, t, op, CollAlgorithm::kHierarchical),
                 what);
        if (auto e = checkReduced(t, op, seed, all, out.data(), size_t(c.rank()) * n, n);
            !e.empty())
          die(r, what + ": " + e);
        if (op != ReduceOp::kSum) continue;

        std::vector<uint8_t> mine(n * es), gathered(size_t(c.size()) * n * es);
        fillInput(t, ReduceOp::kSum, seed, c.rank(), mine.data(), n);
        expectOk(r, c.allgather(mine.data(), gathered.data(), n, t, CollAlgorithm::kHierarchical),
                 label("allgather", t, op, n));
        for (int k = 0; k < c.size(); ++k) {
          std::vector<uint8_t> want(n * es);
          fillInput(t, ReduceOp::kSum, seed, k, want.data(), n);
          if (std::memcmp(want.data(), gathered.data() + size_t(k) * n * es, n * es) != 0)
            die(r,
                label("allgather", t, op, n) + ": block of rank " + std::to_string(k) + " differs");
        }
      }

  // Broadcast once per dtype.
  for (DataType t : kTypes) {
    size_t es = dataTypeSize(t), n = 7;
    uint64_t seed = r.seed++;
    int root = int(seed % uint64_t(c.size()));
    std::vector<uint8_t> buf(n * es), want(n * es);
    fillInput(t, ReduceOp::kSum, seed, root, want.data(), n);
    if (c.rank() == root) buf = want;
    expectOk(r, c.broadcast(buf.data(), n, t, root), "broadcast");
    if (buf != want) die(r, "broadcast from rank " + std::to_string(root) + " differs");
  }
  expectOk(r, c.barrier(), "barrier");
}

// ---- 2. the site's adapter on its own ----

struct SiteStore {
  std::unique_ptr<coll::StoreServer> server;
  std::unique_ptr<coll::StoreClient> client;
};

void adapterChecks(Communicator& c, Run& r, size_t big) {
  const char* name = std::getenv("FARLINK_COLL_ADAPTER");
  // The site's own address (FARLINK_COLL_HOST) when given: across the
  // emulator each site sits in its own namespace and cannot bind or reach
  // the other site's MASTER_ADDR for its site store.
  const char* host = std::getenv("FARLINK_COLL_HOST");
  if (host == nullptr || *host == '\0') host = std::getenv("MASTER_ADDR");
  int port = std::atoi(std::getenv("MASTER_PORT")) + 1 + c.siteId();
  int me = c.localRank(), L = c.localSize();
  std::string prefix = "direct/";
  SiteStore st;
  if (me == 0) {
    auto s = coll::StoreServer::start(host, uint16_t(port), L, {});
    expectOk(r, s.status(), "site store");
    st.server = std::move(s.value());
  }
  auto cl = coll::StoreClient::connect(host, uint16_t(port), {}, std::chrono::seconds(60));
  expectOk(r, cl.status(), "site store client");
  st.client = std::move(cl.value());
  farlink_coll_store cstore = coll::adapterStore(*st.client);
  auto loaded = coll::loadAdapter(name ? name : "farlink");
  expectOk(r, loaded.status(), "load adapter");
  std::string site(c.siteName());
  farlink_coll_init_args a{};
  a.struct_size = sizeof a;
  a.local_rank = me;
  a.local_size = L;
  a.site_id = c.siteId();
  a.site_name = site.c_str();
  a.world_rank = c.rank();
  a.world_size = c.size();
  a.key_prefix = prefix.c_str();
  a.listen_host = host;
  a.timeout_ms = 60000;
  a.store = &cstore;
  auto ad = coll::AdapterComm::init(std::move(loaded.value()), a);
  expectOk(r, ad.status(), "adapter init");
  coll::AdapterComm& adc = *ad.value();
  st.client->bye();
  if (st.server) st.server->stop(std::chrono::seconds(30));
  const std::vector<int> site_ranks = iota(L);

  for (DataType t : kTypes) {
    size_t es = dataTypeSize(t);
    // Reduce-scatter: farlink's partitions (remainder on the first ranks,
    // empty blocks when count < L) and one with an empty block in the middle.
    std::vector<std::vector<size_t>> layouts;
    for (size_t n : {size_t(1), size_t(7), big}) {
      std::vector<size_t> counts;
      for (auto& b : coll::blockPartition(n, L)) counts.push_back(b.count);
      layouts.push_back(counts);
    }
    std::vector<size_t> gap(size_t(L), 3);
    gap[size_t(L) / 2] = 0;
    layouts.push_back(gap);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMin, ReduceOp::kMax})
      for (auto& counts : layouts) {
        size_t total = 0, first = 0;
        for (int j = 0; j < L; ++j) {
          if (j == me) first = total;
          total += counts[size_t(j)];
        }
        if (total == big && op != ReduceOp::kSum) continue;  // the big one once per dtype
        uint64_t seed = r.seed++;
        std::vector<uint8_t> in(total * es), out(counts[size_t(me)] * es + 1);
        fillInput(t, op, seed, me, in.data(), total);
        std::string what = "adapter " + label("reduce-scatter", t, op, total);
        expectOk(r, adc.reduceScatter(in.data(), out.data(), counts, t, op), what);
        if (auto e = checkReduced(t, op, seed, site_ranks, out.data(), first, counts[size_t(me)]);
            !e.empty())
          die(r, what + ": " + e);
        r.digest = fnv(r.digest, out.data(), counts[size_t(me)] * es);
      }
    // Allreduce straight through the adapter, odd count.
    {
      uint64_t seed = r.seed++;
      std::vector<uint8_t> buf(7 * es);
      fillInput(t, ReduceOp::kMax, seed, me, buf.data(), 7);
      expectOk(r, adc.allreduce(buf.data(), buf.data(), 7, t, ReduceOp::kMax), "adapter allreduce");
      if (auto e = checkReduced(t, ReduceOp::kMax, seed, site_ranks, buf.data(), 0, 7); !e.empty())
        die(r, "adapter allreduce in place " + std::string(dataTypeName(t)) + ": " + e);
    }
    // Allgather(v): unequal counts incl. an empty block; out of place and in place.
    for (bool in_place : {false, true}) {
      std::vector<size_t> counts;
      size_t total = 0, first = 0;
      for (int j = 0; j < L; ++j) {
        counts.push_back(j == L - 1 && L > 1 ? 0 : size_t(5 + 2 * j));
        if (j == me) first = total;
        total += counts.back();
      }
      uint64_t seed = r.seed++;
      std::vector<uint8_t> out(total * es + 1), mine(counts[size_t(me)] * es + 1);
      fillInput(t, ReduceOp::kSum, seed, me, mine.data(), counts[size_t(me)]);
      const void* src = mine.data();
      if (in_place) {
        std::memcpy(out.data() + first * es, mine.data(), counts[size_t(me)] * es);
        src = out.data() + first * es;
      }
      expectOk(r, adc.allgather(src, out.data(), counts, t), "adapter allgather");
      size_t off = 0;
      for (int j = 0; j < L; ++j) {
        std::vector<uint8_t> want(counts[size_t(j)] * es + 1);
        fillInput(t, ReduceOp::kSum, seed, j, want.data(), counts[size_t(j)]);
        if (std::memcmp(want.data(), out.data() + off * es, counts[size_t(j)] * es) != 0)
          die(r, "adapter allgather " + std::string(dataTypeName(t)) +
                     (in_place ? " in place" : "") + ": block of local rank " + std::to_string(j) +
                     " differs");
        off += counts[size_t(j)];
      }
    }
    // Broadcast from every root.
    for (int root = 0; root < L; ++root) {
      uint64_t seed = r.seed++;
      size_t n = root == 0 ? big : 7;
      std::vector<uint8_t> buf(n * es), want(n * es);
      fillInput(t, ReduceOp::kSum, seed, root, want.data(), n);
      if (me == root) buf = want;
      expectOk(r, adc.broadcast(buf.data(), n, t, root), "adapter broadcast");
      if (buf != want)
        die(r, "adapter broadcast " + std::string(dataTypeName(t)) + " from local rank " +
                   std::to_string(root) + " differs");
    }
  }
  expectOk(r, adc.barrier(), "adapter barrier");
}

}  // namespace

int main() {
  Run r;
  const char* env_rank = std::getenv("RANK");
  const char* mpi_rank = std::getenv("OMPI_COMM_WORLD_RANK");
  r.who = env_rank ? std::string("rank ") + env_rank
                   : std::string("MPI rank ") + (mpi_rank ? mpi_rank : "?");
  size_t big = 1000003;
  if (const char* b = std::getenv("COLL_BIG")) big = std::strtoull(b, nullptr, 10);
  auto opts = CommunicatorOptions::fromEnvironment();
  expectOk(r, opts.status(), "options");
  auto comm = Communicator::create(opts.value());
  expectOk(r, comm.status(), "create");
  Communicator& c = *comm.value();
  r.who = "rank " + std::to_string(c.rank()) + " (site " + std::string(c.siteName()) +
          ", adapter " + std::string(c.adapterName()) + ")";
  communicatorChecks(c, r, big);
  adapterChecks(c, r, big);
  std::printf("%s: ok digest %016llx\n", r.who.c_str(), (unsigned long long)r.digest);
  return 0;
}
