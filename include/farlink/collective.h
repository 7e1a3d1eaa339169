// Collectives over ranks grouped into sites. Inside a site an adapter (the
// site's vendor library, or farlink's own; see coll_adapter.h) does the
// work; between sites farlink channels carry it. A global allreduce is:
// intra-site reduce-scatter → inter-site allreduce of each shard → intra-site
// allgather.
//
// Threading: every collective runs on the communicator's own worker thread in
// the order calls were made, so the blocking form is the async form plus
// wait(). All ranks must issue the same collectives in the same order (as
// with MPI). send/recv are point-to-point and do not take part in that order.
// After any collective fails the communicator is broken: its channels are
// closed (so peers fail fast instead of hanging) and every later call fails
// with the first error. Create a new communicator to go on.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "farlink/options.h"
#include "farlink/status.h"

namespace farlink {

enum class DataType : uint8_t {
  kInt8 = 0,
  kUInt8,
  kInt32,
  kInt64,
  kFloat16,   // IEEE binary16; reduced in fp32, rounded to nearest even
  kBFloat16,  // bfloat16; reduced in fp32, rounded to nearest even
  kFloat32,
  kFloat64,
};
inline constexpr int kDataTypeCount = 8;

// Integer sum/prod wrap (two's complement); integer avg truncates toward zero.
// Float min/max return NaN when either input is NaN.
enum class ReduceOp : uint8_t { kSum = 0, kProd, kMin, kMax, kAvg };
inline constexpr int kReduceOpCount = 5;

size_t dataTypeSize(DataType t);
std::string_view dataTypeName(DataType t);      // "fp32"
std::string_view reduceOpName(ReduceOp op);     // "sum"
Result<DataType> parseDataType(std::string_view name);
Result<ReduceOp> parseReduceOp(std::string_view name);

// Element-wise inout[i] = inout[i] op in[i] for `count` elements (kAvg sums;
// the caller divides). Exposed for adapters and benchmarks.
void reduceInto(DataType t, ReduceOp op, void* inout, const void* in, size_t count);
// inout[i] /= divisor (the second half of kAvg).
void divideBy(DataType t, void* inout, size_t count, int64_t divisor);

// Algorithms of allreduce, reduce-scatter and allgather (halving-doubling:
// allreduce only).
enum class CollAlgorithm : uint8_t {
  // The site's adapter within one site; across sites hierarchical for
  // allreduce, the flat ring for reduce-scatter and allgather (see there).
  kAuto = 0,
  kRing,             // flat ring over farlink channels (site-ordered)
  kHalvingDoubling,  // flat recursive halving/doubling over farlink channels
  kHierarchical,     // the site's adapter within sites, farlink between them
};

struct CommunicatorOptions {
  int rank = -1;                 // RANK
  int world_size = 0;            // WORLD_SIZE
  std::string site = "default";  // FARLINK_SITE: ranks with the same name share a site
  std::string master_addr;       // MASTER_ADDR: where rank 0 serves the rendezvous store
  uint16_t master_port = 0;      // MASTER_PORT
  // Address this rank's listener binds; empty: the local address that routes
  // to master_addr. FARLINK_COLL_HOST.
  std::string listen_host;
  // Intra-site adapter: "farlink" (built in, the default), a name ("mpi" →
  // farlink-coll-mpi.so, searched in FARLINK_COLL_ADAPTER_PATH then the
  // loader's path) or a path. FARLINK_COLL_ADAPTER.
  std::string adapter = "farlink";
  // How long any collective waits for peers before failing with kTimedOut
  // (a dead peer is usually noticed sooner: its channels close).
  // FARLINK_COLL_TIMEOUT_MS.
  std::chrono::milliseconds timeout{300000};
  CollAlgorithm allreduce_algorithm = CollAlgorithm::kAuto;  // FARLINK_COLL_ALGO
  // Hierarchical allreduce: the buffer is cut into pieces of about this many
  // bytes (at most 256 pieces) so that the site's reduce-scatter, the
  // inter-site exchange and the allgather of different pieces overlap. 0: one
  // piece. Must be the same on every rank. FARLINK_COLL_PIPELINE_BYTES (K/M
  // suffixes).
  size_t pipeline_bytes = size_t{4} << 20;
  // Lanes of each channel between ranks of different sites (within a site,
  // channel.lanes). Every rank pair across sites has its own channel, so a
  // pair of sites with L ranks each already runs L connections side by
  // side; more lanes per channel spread each rank's messages over
  // connections that each see a fraction of the traffic and stay in TCP's
  // start-up longer. Raise it when one connection's window (net.ipv4.
  // tcp_wmem/rmem max) cannot cover a rank's share of the link's
  // bandwidth-delay product. 0: channel.lanes. FARLINK_COLL_LANES.
  int cross_site_lanes = 1;
  // Hierarchical allgather and reduce-scatter: run the site's adapter call
  // while the communicator's driver thread carries the cross-site transfer
  // (from 1 MiB per rank and site), instead of one after the other. On by
  // default; false runs them in turn (farlink-coll(1)). Must be the same on
  // every rank. FARLINK_COLL_GATHER_OVERLAP (0 or 1).
  bool gather_overlap = true;
  ChannelOptions channel;  // for every channel the communicator opens

  // torchrun-style RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (LOCAL_RANK is
  // accepted, not needed: the rank within a site follows from the table)
  // plus the FARLINK_* variables above and the channel's own. Without RANK,
  // OpenMPI's mpirun variables: rank FARLINK_RANK_BASE (default 0) +
  // OMPI_COMM_WORLD_RANK, world WORLD_SIZE or else OMPI_COMM_WORLD_SIZE (so
  // one mpirun per site can join one world). MASTER_ADDR/PORT stay required.
  static Result<CommunicatorOptions> fromEnvironment();
  Status validate() const;
};

class CollState;

// Handle to one asynchronous collective or point-to-point operation.
class CollRequest {
 public:
  CollRequest() = default;
  explicit CollRequest(std::shared_ptr<CollState> state);
  bool test();
  // Blocks until finished or the timeout passes (then kTimedOut; the
  // operation goes on and the buffers stay in use).
  Status wait(std::chrono::milliseconds timeout = std::chrono::milliseconds{-1});
  bool valid() const { return state_ != nullptr; }

 private:
  std::shared_ptr<CollState> state_;
};

class CommunicatorImpl;

class Communicator {
 public:
  // Joins the rendezvous (rank 0 serves it), learns every rank's site and
  // address and initialises this site's adapter. Blocks until every rank has
  // registered or options.timeout passes.
  static Result<std::unique_ptr<Communicator>> create(const CommunicatorOptions& options);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int size() const;
  int siteId() const;      // 0.. in order of each site's lowest rank
  int siteCount() const;
  int localRank() const;   // rank within the site (world-rank order)
  int localSize() const;
  std::string_view siteName() const;
  std::string_view adapterName() const;

  // Buffers: `send` may equal `recv` (in place) unless noted. Counts are in
  // elements. Buffers must stay valid until the request finishes.
  CollRequest iallreduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op,
                         CollAlgorithm algo = CollAlgorithm::kAuto);
  // recv holds recv_count elements: block `rank` of the size()*recv_count input.
  // Across sites, kHierarchical: each site's adapter reduce-scatters the
  // blocks of every site, each rank sends its partials to the blocks'
  // owners in the other sites, and every owner reduces the sites' partials
  // in site order. kRing and (across sites) kAuto: a flat ring over every
  // rank — on loopback the hierarchical forms were mostly slower, across an
  // emulated 15 ms link mostly faster (farlink-coll(1)); choose
  // kHierarchical where sites are far apart.
  CollRequest ireduceScatter(const void* send, void* recv, size_t recv_count, DataType t,
                             ReduceOp op, CollAlgorithm algo = CollAlgorithm::kAuto);
  // recv holds size()*count elements, block r from rank r. Across sites,
  // kHierarchical: the site's adapter allgathers its ranks' blocks while
  // each rank sends its block to every other site (spread over that site's
  // ranks), then each site's adapter allgathers the other sites' blocks.
  // kRing and (across sites) kAuto: a flat ring over every rank.
  CollRequest iallgather(const void* send, void* recv, size_t count, DataType t,
                         CollAlgorithm algo = CollAlgorithm::kAuto);
  // Across sites: the root's site broadcasts with its adapter, each rank of
  // it sends its shard to the shard's owner in every other site, and those
  // sites allgather with their adapters (the buffer crosses to each site once).
  CollRequest ibroadcast(void* buf, size_t count, DataType t, int root);
  // recv is used only on root.
  CollRequest ireduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op,
                      int root);
  CollRequest ibarrier();
  // send and recv hold size()*count elements; block r goes to / came from rank r.
  // send must not equal recv.
  CollRequest ialltoall(const void* send, void* recv, size_t count, DataType t);
  // Point-to-point, matched by (peer, tag) in order; tag < 2^32.
  CollRequest isend(const void* buf, size_t bytes, int peer, uint32_t tag);
  CollRequest irecv(void* buf, size_t bytes, int peer, uint32_t tag);

  Status allreduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op,
                   CollAlgorithm algo = CollAlgorithm::kAuto);
  Status reduceScatter(const void* send, void* recv, size_t recv_count, DataType t, ReduceOp op,
                       CollAlgorithm algo = CollAlgorithm::kAuto);
  Status allgather(const void* send, void* recv, size_t count, DataType t,
                   CollAlgorithm algo = CollAlgorithm::kAuto);
  Status broadcast(void* buf, size_t count, DataType t, int root);
  Status reduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op, int root);
  Status barrier();
  Status alltoall(const void* send, void* recv, size_t count, DataType t);
  Status send(const void* buf, size_t bytes, int peer, uint32_t tag);
  Status recv(void* buf, size_t bytes, int peer, uint32_t tag);

  explicit Communicator(std::unique_ptr<CommunicatorImpl> impl);

 private:
  std::unique_ptr<CommunicatorImpl> impl_;
};

}  // namespace farlink
