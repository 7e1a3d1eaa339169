// Collective algorithms over a Mesh: flat ring, recursive halving/doubling,
// binomial trees, dissemination barrier, pairwise all-to-all. Each works on
// a Group (the mesh ranks taking part, in algorithm order) so that the same
// code serves the whole world, one site (the farlink adapter) or the ranks
// carrying one shard across sites.
#pragma once

#include <string>
#include <vector>

#include "coll/mesh.h"
#include "coll/scratch.h"
#include "coll/shard_map.h"
#include "farlink/collective.h"

namespace farlink::coll {

struct Group {
  std::vector<int> ranks;  // mesh ranks in algorithm order
  int me = 0;              // my index in ranks
  int size() const { return int(ranks.size()); }
};

// One collective call: its mesh, tag sequence, deadline and name for errors.
struct OpContext {
  Mesh& mesh;
  uint64_t seq;
  Deadline deadline;
  std::string what;  // "allreduce (ring, fp32 sum, 1000 elements)"
};

// blocks[g] is group member g's block of `work`. On return my block of work
// holds the reduction of everyone's; the rest of work is scratch.
Status ringReduceScatter(OpContext& ctx, const Group& g, void* work,
                         const std::vector<Block>& blocks, DataType t, ReduceOp op,
                         unsigned phase);
// The same reduce-scatter out of place: send is read only, recv gets my
// block's reduction (and may be my block of send). Its buffers come from
// `scratch` (up to 3 blocks), which the caller keeps between calls.
Status ringReduceScatterFrom(OpContext& ctx, const Group& g, const void* send, void* recv,
                             const std::vector<Block>& blocks, DataType t, ReduceOp op,
                             unsigned phase, Scratch& scratch);
// Each member holds its block of buf; on return everyone holds all blocks.
Status ringAllgather(OpContext& ctx, const Group& g, void* buf, const std::vector<Block>& blocks,
                     DataType t, unsigned phase);
// In place. kAvg sums here; the caller divides.
Status ringAllreduce(OpContext& ctx, const Group& g, void* buf, size_t count, DataType t,
                     ReduceOp op);
// Rabenseifner: recursive-halving reduce-scatter, recursive-doubling
// allgather; non-powers of two fold the extra ranks in first.
Status halvingDoublingAllreduce(OpContext& ctx, const Group& g, void* buf, size_t count,
                                DataType t, ReduceOp op);
Status binomialBroadcast(OpContext& ctx, const Group& g, void* buf, size_t bytes, int root,
                         unsigned phase);
// buf is my contribution; on return the root's buf holds the reduction
// (other members' buf is clobbered).
Status binomialReduce(OpContext& ctx, const Group& g, void* buf, size_t count, DataType t,
                      ReduceOp op, int root);
Status disseminationBarrier(OpContext& ctx, const Group& g);
// send/recv hold size() blocks of block_bytes; send != recv.
Status pairwiseAlltoall(OpContext& ctx, const Group& g, const void* send, void* recv,
                        size_t block_bytes);

}  // namespace farlink::coll
