// The "mpi" intra-site adapter: farlink's site-level collectives on the
// site's MPI library (built and tested on Debian's OpenMPI 4.1).
//
// The site communicator is MPI_COMM_WORLD split by farlink site id (keyed by
// local rank, so MPI rank == farlink local rank). Every rank of
// MPI_COMM_WORLD must therefore be a rank of a site that uses this adapter:
// launch each site with its own mpirun, or one mpirun for several MPI sites.
//
// fp16/bf16 have no MPI type in OpenMPI 4.1: they travel as MPI_UINT16_T and
// are reduced by user-defined (commutative) MPI_Ops that widen to fp32 and
// round back to nearest even — farlink's own kernels (reduceInto), so the
// rounding matches every other adapter. int8/uint8 use such user ops too:
// OpenMPI 4.1's op/avx component saturates 8-bit sums instead of wrapping
// (open-mpi/ompi#8045, "wontfix"), which the adapter test caught. The other
// types use MPI's built-in ops.
//
// MPI is initialised with MPI_THREAD_SERIALIZED when the application has not
// done it (the Communicator calls from its worker thread, one call at a
// time), and finalised when the last communicator that started it goes away;
// MPI cannot be initialised twice in one process, so a communicator created
// after that fails with a clear error. MPI has no timeouts: a dead peer is
// handled by the MPI runtime (mpirun aborts the job).
// The deprecated MPI C++ bindings do not compile warning-free; only C is used.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "farlink/coll_adapter.h"
#include "farlink/collective.h"

namespace {

using farlink::DataType;
using farlink::ReduceOp;

constexpr int kStatusNotSupported = 7;  // farlink::StatusCode::kNotSupported
constexpr int kStatusInvalidArgument = 8;
constexpr int kStatusIoError = 9;

// Process-wide MPI state: who initialised MPI, how many communicators use it,
// and the user-defined ops (which need MPI to be initialised to exist).
struct MpiProcess {
  std::mutex mu;
  int users = 0;
  bool we_initialised = false;
  bool user_ops_ready = false;
  MPI_Op user_ops[4][4] = {};  // [int8, uint8, fp16, bf16][sum, prod, min, max]
};
MpiProcess& process() {
  static MpiProcess p;
  return p;
}

template <DataType T, ReduceOp Op>
void userOp(void* in, void* inout, int* len, MPI_Datatype*) {
  farlink::reduceInto(T, Op, inout, in, size_t(*len));
}

using UserFn = void (*)(void*, void*, int*, MPI_Datatype*);
template <DataType T>
constexpr std::array<UserFn, 4> kUserFnsOf = {userOp<T, ReduceOp::kSum>, userOp<T, ReduceOp::kProd>,
                                              userOp<T, ReduceOp::kMin>, userOp<T, ReduceOp::kMax>};
constexpr std::array<UserFn, 4> kUserFns[4] = {
    kUserFnsOf<DataType::kInt8>, kUserFnsOf<DataType::kUInt8>, kUserFnsOf<DataType::kFloat16>,
    kUserFnsOf<DataType::kBFloat16>};

struct SiteComm {
  MPI_Comm comm = MPI_COMM_NULL;
  int local_rank = 0;
  int local_size = 0;
  std::string site;
};

int fail(char* err, size_t err_len, int code, const std::string& msg) {
  std::snprintf(err, err_len, "%s", msg.c_str());
  return code;
}

std::string mpiError(int rc) {
  char s[MPI_MAX_ERROR_STRING] = {0};
  int n = 0;
  MPI_Error_string(rc, s, &n);
  return std::string(s, size_t(n));
}

// Wraps an MPI return code: 0, or an error naming the call and the site.
int check(int rc, const SiteComm& c, const char* call, char* err, size_t err_len) {
  if (rc == MPI_SUCCESS) return 0;
  return fail(err, err_len, kStatusIoError,
              std::string(call) + " failed on local rank " + std::to_string(c.local_rank) +
                  " of site " + c.site + ": " + mpiError(rc));
}

MPI_Datatype mpiType(farlink_coll_dtype dt) {
  switch (dt) {
    case FARLINK_COLL_INT8:
      return MPI_INT8_T;  // reduced by user ops (see top)
    case FARLINK_COLL_UINT8:
      return MPI_UINT8_T;
    case FARLINK_COLL_INT32:
      return MPI_INT32_T;
    case FARLINK_COLL_INT64:
      return MPI_INT64_T;
    case FARLINK_COLL_FLOAT16:
    case FARLINK_COLL_BFLOAT16:
      return MPI_UINT16_T;
    case FARLINK_COLL_FLOAT32:
      return MPI_FLOAT;
    case FARLINK_COLL_FLOAT64:
      return MPI_DOUBLE;
  }
  return MPI_DATATYPE_NULL;
}

bool validType(farlink_coll_dtype dt) { return int(dt) >= 0 && int(dt) < farlink::kDataTypeCount; }

MPI_Op mpiOp(farlink_coll_dtype dt, farlink_coll_op op) {
  switch (dt) {
    case FARLINK_COLL_INT8:
      return process().user_ops[0][int(op)];
    case FARLINK_COLL_UINT8:
      return process().user_ops[1][int(op)];
    case FARLINK_COLL_FLOAT16:
      return process().user_ops[2][int(op)];
    case FARLINK_COLL_BFLOAT16:
      return process().user_ops[3][int(op)];
    default:
      break;
  }
  switch (op) {
    case FARLINK_COLL_SUM:
      return MPI_SUM;
    case FARLINK_COLL_PROD:
      return MPI_PROD;
    case FARLINK_COLL_MIN:
      return MPI_MIN;
    case FARLINK_COLL_MAX:
      return MPI_MAX;
  }
  return MPI_OP_NULL;
}

int checkArgs(const SiteComm& c, farlink_coll_dtype dt, int op, const char* what, char* err,
              size_t err_len) {
  if (!validType(dt))
    return fail(err, err_len, kStatusInvalidArgument,
                std::string(what) + ": unknown dtype " + std::to_string(int(dt)));
  if (op < 0 || op > 3)
    return fail(
        err, err_len, kStatusInvalidArgument,
        std::string(what) + " on site " + c.site + ": unknown reduce op " + std::to_string(op));
  return 0;
}

// MPI counts are int; farlink's are size_t.
int toInt(size_t n, const SiteComm& c, const char* what, int* out, char* err, size_t err_len) {
  if (n > size_t(INT_MAX))
    return fail(err, err_len, kStatusNotSupported,
                std::string(what) + " on site " + c.site + ": " + std::to_string(n) +
                    " elements exceed MPI's int count; split the buffer");
  *out = int(n);
  return 0;
}

void releaseProcess() {
  MpiProcess& p = process();
  std::lock_guard<std::mutex> lk(p.mu);
  if (--p.users > 0 || !p.we_initialised) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (auto& row : p.user_ops)
    for (MPI_Op& op : row)
      if (op != MPI_OP_NULL) MPI_Op_free(&op);
  p.user_ops_ready = false;
  MPI_Finalize();
}

int acquireProcess(const farlink_coll_init_args* a, char* err, size_t err_len) {
  MpiProcess& p = process();
  std::lock_guard<std::mutex> lk(p.mu);
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  std::string where = "rank " + std::to_string(a->world_rank) + " (site " + a->site_name + ")";
  if (finalized)
    return fail(err, err_len, kStatusNotSupported,
                where +
                    ": MPI was already finalised in this process and cannot start again; "
                    "keep one communicator (or call MPI_Init yourself and finalise at exit)");
  int provided = 0;
  if (!inited) {
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS)
      return fail(err, err_len, kStatusIoError,
                  where + ": MPI_Init_thread failed: " + mpiError(rc));
    p.we_initialised = true;
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED)
    return fail(err, err_len, kStatusNotSupported,
                where + ": MPI runs at thread level " + std::to_string(provided) +
                    " but farlink calls it from its collective worker thread; initialise MPI "
                    "with MPI_THREAD_SERIALIZED or higher");
  if (!p.user_ops_ready) {
    for (int h = 0; h < 4; ++h)
      for (int o = 0; o < 4; ++o) MPI_Op_create(kUserFns[h][size_t(o)], 1, &p.user_ops[h][o]);
    p.user_ops_ready = true;
  }
  ++p.users;
  return 0;
}

int init(const farlink_coll_init_args* a, void** out, char* err, size_t err_len) {
  if (int rc = acquireProcess(a, err, err_len); rc != 0) return rc;
  auto* c = new SiteComm;
  c->local_rank = a->local_rank;
  c->local_size = a->local_size;
  c->site = a->site_name;
  int world_size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  // One mpirun per site: MPI_COMM_WORLD is the site; otherwise split by site.
  int color = world_size == a->local_size ? 0 : a->site_id;
  int rc = MPI_Comm_split(MPI_COMM_WORLD, color, a->local_rank, &c->comm);
  if (rc == MPI_SUCCESS) MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  int size = -1, rank = -1;
  if (rc == MPI_SUCCESS) {
    MPI_Comm_size(c->comm, &size);
    MPI_Comm_rank(c->comm, &rank);
  }
  if (rc != MPI_SUCCESS || size != a->local_size || rank != a->local_rank) {
    std::string why = rc != MPI_SUCCESS
                          ? "MPI_Comm_split failed: " + mpiError(rc)
                          : "the MPI communicator of the site has " + std::to_string(size) +
                                " ranks (this is MPI rank " + std::to_string(rank) +
                                ") but farlink counts " + std::to_string(a->local_size) +
                                " (local rank " + std::to_string(a->local_rank) +
                                "); every rank of MPI_COMM_WORLD (" + std::to_string(world_size) +
                                " ranks) must belong to an 'mpi' site, and each site's ranks "
                                "must be launched by the same mpirun";
    if (c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm);
    delete c;
    releaseProcess();
    return fail(err, err_len, kStatusInvalidArgument,
                "rank " + std::to_string(a->world_rank) + " (site " + a->site_name + "): " + why);
  }
  *out = c;
  return 0;
}

void finalize(void* comm) {
  auto* c = static_cast<SiteComm*>(comm);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm);
  delete c;
  releaseProcess();
}

// MPI's own limit on counts is int; allreduce and broadcast are split into
// int-sized pieces, which costs nothing for them.
constexpr size_t kPiece = size_t(1) << 30;

int allreduce(void* comm, const void* send, void* recv, size_t count, farlink_coll_dtype dt,
              farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, int(op), "allreduce", err, err_len); rc) return rc;
  size_t es = farlink::dataTypeSize(DataType(dt));
  for (size_t off = 0; off < count; off += kPiece) {
    int n = int(std::min(kPiece, count - off));
    auto* r = static_cast<char*>(recv) + off * es;
    const void* s = send == recv ? MPI_IN_PLACE : static_cast<const char*>(send) + off * es;
    int rc = MPI_Allreduce(s, r, n, mpiType(dt), mpiOp(dt, op), c.comm);
    if (rc != MPI_SUCCESS) return check(rc, c, "MPI_Allreduce", err, err_len);
  }
  return 0;
}

int reduceScatter(void* comm, const void* send, void* recv, const size_t* counts,
                  farlink_coll_dtype dt, farlink_coll_op op, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, int(op), "reduce-scatter", err, err_len); rc) return rc;
  // Unequal blocks (farlink's partition puts the remainder on the first
  // ranks), so MPI_Reduce_scatter with explicit counts, not _block.
  std::vector<int> icounts(size_t(c.local_size));
  size_t total = 0;
  for (int j = 0; j < c.local_size; ++j) {
    if (int rc = toInt(counts[j], c, "reduce-scatter", &icounts[size_t(j)], err, err_len); rc)
      return rc;
    total += counts[j];
  }
  int itotal = 0;
  if (int rc = toInt(total, c, "reduce-scatter", &itotal, err, err_len); rc) return rc;
  return check(MPI_Reduce_scatter(send == recv ? MPI_IN_PLACE : send, recv, icounts.data(),
                                  mpiType(dt), mpiOp(dt, op), c.comm),
               c, "MPI_Reduce_scatter", err, err_len);
}

int allgather(void* comm, const void* send, void* recv, const size_t* counts, farlink_coll_dtype dt,
              char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, 0, "allgather", err, err_len); rc) return rc;
  std::vector<int> icounts(size_t(c.local_size)), displs(size_t(c.local_size));
  size_t off = 0;
  bool equal = true;
  for (int j = 0; j < c.local_size; ++j) {
    if (int rc = toInt(counts[j], c, "allgather", &icounts[size_t(j)], err, err_len); rc) return rc;
    if (int rc = toInt(off, c, "allgather", &displs[size_t(j)], err, err_len); rc) return rc;
    off += counts[j];
    equal = equal && counts[j] == counts[0];
  }
  size_t es = farlink::dataTypeSize(DataType(dt));
  // The host may pass its own block of recv as send (in place).
  const void* s = send == static_cast<const char*>(recv) + size_t(displs[size_t(c.local_rank)]) * es
                      ? MPI_IN_PLACE
                      : send;
  MPI_Datatype t = mpiType(dt);
  if (equal)
    return check(MPI_Allgather(s, icounts[0], t, recv, icounts[0], t, c.comm), c, "MPI_Allgather",
                 err, err_len);
  return check(MPI_Allgatherv(s, icounts[size_t(c.local_rank)], t, recv, icounts.data(),
                              displs.data(), t, c.comm),
               c, "MPI_Allgatherv", err, err_len);
}

int broadcast(void* comm, void* buf, size_t count, farlink_coll_dtype dt, int root, char* err,
              size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  if (int rc = checkArgs(c, dt, 0, "broadcast", err, err_len); rc) return rc;
  if (root < 0 || root >= c.local_size)
    return fail(err, err_len, kStatusInvalidArgument,
                "broadcast on site " + c.site + ": root " + std::to_string(root) +
                    " is not a local rank (0.." + std::to_string(c.local_size - 1) + ")");
  size_t es = farlink::dataTypeSize(DataType(dt));
  for (size_t off = 0; off < count; off += kPiece) {
    int n = int(std::min(kPiece, count - off));
    int rc = MPI_Bcast(static_cast<char*>(buf) + off * es, n, mpiType(dt), root, c.comm);
    if (rc != MPI_SUCCESS) return check(rc, c, "MPI_Bcast", err, err_len);
  }
  return 0;
}

int barrier(void* comm, char* err, size_t err_len) {
  auto& c = *static_cast<SiteComm*>(comm);
  return check(MPI_Barrier(c.comm), c, "MPI_Barrier", err, err_len);
}

const farlink_coll_adapter kAdapter = {
    FARLINK_COLL_ADAPTER_API_VERSION,
    "mpi",
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

extern "C" __attribute__((visibility("default"))) const farlink_coll_adapter*
farlink_coll_adapter_v1(void) {
  return &kAdapter;
}
