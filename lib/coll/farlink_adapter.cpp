// The built-in "farlink" adapter: intra-site collectives over farlink
// channels (ring allreduce / reduce-scatter / allgather, binomial broadcast,
// dissemination barrier). The reference adapter and the default. It goes
// through the same C table as external modules so that the host code path
// is the same for all.
#include <cstdio>
#include <cstring>
#include <functional>

#include "coll/adapter.h"
#include "coll/algorithms.h"

namespace farlink::coll {
namespace {

struct SiteComm {
  std::unique_ptr<Mesh> mesh;
  Group group;
  uint64_t seq = 0;
  std::chrono::milliseconds timeout{0};
  std::string site;
  Scratch scratch;  // the reduce-scatter's step buffers, reused across calls
};

int fail(const Status& s, char* err, size_t err_len) {
  std::snprintf(err, err_len, "%s", s.toString().c_str());
  return int(s.code());
}

OpContext context(SiteComm& c, const char* what, size_t count, farlink_coll_dtype dt) {
  return OpContext{*c.mesh, c.seq++, Clock::now() + c.timeout,
                   std::string(what) + " within site " + c.site + " (farlink adapter, " +
                       std::string(dataTypeName(DataType(dt))) + ", " + std::to_string(count) +
                       " elements)"};
}

int init(const farlink_coll_init_args* a, void** out, char* err, size_t err_len) {
  auto c = std::make_unique<SiteComm>();
  c->timeout = std::chrono::milliseconds(a->timeout_ms);
  c->site = a->site_name;
  ChannelOptions opts;
  if (auto env = ChannelOptions::fromEnvironment(); env) opts = env.value();
  auto mesh = Mesh::listen(a->listen_host, a->local_rank, opts);
  if (!mesh) return fail(mesh.status(), err, err_len);
  c->mesh = std::move(mesh.value());
  std::string prefix = a->key_prefix;
  std::string uri = c->mesh->uri();
  char e[512] = {0};
  int rc = a->store->set(a->store->ctx, (prefix + "uri/" + std::to_string(a->local_rank)).c_str(),
                         uri.data(), uri.size(), e, sizeof e);
  if (rc != 0) return std::snprintf(err, err_len, "%s", e), rc;
  std::vector<Mesh::Peer> peers;
  std::vector<char> buf(4096);
  for (int j = 0; j < a->local_size; ++j) {
    size_t n = 0;
    rc = a->store->get(a->store->ctx, (prefix + "uri/" + std::to_string(j)).c_str(), buf.data(),
                       buf.size(), &n, a->timeout_ms, e, sizeof e);
    if (rc != 0) return std::snprintf(err, err_len, "%s", e), rc;
    peers.push_back(
        {std::string(buf.data(), n), "local rank " + std::to_string(j) + " of site " + c->site, 0});
    c->group.ranks.push_back(j);
  }
  c->group.me = a->local_rank;
  c->mesh->start(std::move(peers), std::hash<std::string>{}(prefix) | 1);
  *out = c.release();
  return 0;
}

void finalize(void* comm) {
  auto* c = static_cast<SiteComm*>(comm);
  if (c->mesh->failed().isOk()) c->mesh->closeAll(std::chrono::seconds(5));
  delete c;
}

int allreduce(void* comm, const void* send, void* recv, size_t count, farlink_coll_dtype dt,
              farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (send != recv) std::memcpy(recv, send, count * dataTypeSize(DataType(dt)));
  OpContext ctx = context(c, "allreduce", count, dt);
  Status s = ringAllreduce(ctx, c.group, recv, count, DataType(dt), ReduceOp(op));
  return s ? 0 : fail(s, err, err_len);
}

int reduceScatter(void* comm, const void* send, void* recv, const size_t* counts,
                  farlink_coll_dtype dt, farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  size_t total = 0;
  std::vector<Block> blocks;
  for (int j = 0; j < c.group.size(); ++j) {
    blocks.push_back({total, counts[j]});
    total += counts[j];
  }
  // Out of place: the input is read where it lies, my block reduced into recv.
  OpContext ctx = context(c, "reduce-scatter", total, dt);
  Status s = ringReduceScatterFrom(ctx, c.group, send, recv, blocks, DataType(dt), ReduceOp(op), 1,
                                   c.scratch);
  return s ? 0 : fail(s, err, err_len);
}

int allgather(void* comm, const void* send, void* recv, const size_t* counts, farlink_coll_dtype dt,
              char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  size_t es = dataTypeSize(DataType(dt)), total = 0;
  std::vector<Block> blocks;
  for (int j = 0; j < c.group.size(); ++j) {
    blocks.push_back({total, counts[j]});
    total += counts[j];
  }
  const Block& mine = blocks[size_t(c.group.me)];
  auto* r = static_cast<uint8_t*>(recv);
  if (send != r + mine.offset * es) std::memmove(r + mine.offset * es, send, mine.count * es);
  OpContext ctx = context(c, "allgather", total, dt);
  Status s = ringAllgather(ctx, c.group, recv, blocks, DataType(dt), 2);
  return s ? 0 : fail(s, err, err_len);
}

int broadcast(void* comm, void* buf, size_t count, farlink_coll_dtype dt, int root, char* err,
              size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (root < 0 || root >= c.group.size())
    return fail(Status(StatusCode::kInvalidArgument, "broadcast root out of range"), err, err_len);
  OpContext ctx = context(c, "broadcast", count, dt);
  Status s = binomialBroadcast(ctx, c.group, buf, count * dataTypeSize(DataType(dt)), root, 3);
  return s ? 0 : fail(s, err, err_len);
}

int barrier(void* comm, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  OpContext ctx = context(c, "barrier", 0, FARLINK_COLL_UINT8);
  Status s = disseminationBarrier(ctx, c.group);
  return s ? 0 : fail(s, err, err_len);
}

const farlink_coll_adapter kAdapter = {
    FARLINK_COLL_ADAPTER_API_VERSION,
    "farlink",
    FARLINK_COLL_CAP_ALL_DTYPES,
    init,
    finalize,
    allreduce,
    reduceScatter,
    allgather,
    broadcast,
    barrier,
};

}  // namespace

const farlink_coll_adapter* builtinFarlinkAdapter() { return &kAdapter; }

}  // namespace farlink::coll
