// farlink coll's pure logic: which collective, how a size maps to counts
// and bandwidth (nccl-tests' definitions), the input every rank writes and
// the closed-form value every output element must hold. No I/O, so
// tests/cli checks it exhaustively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "farlink/collective.h"

namespace farlink::colltool {

enum class CollOp : uint8_t {
  kAllreduce,
  kAllgather,
  kReduceScatter,
  kBroadcast,
  kReduce,
  kAlltoall
};
inline constexpr CollOp kAllCollOps[] = {CollOp::kAllreduce,     CollOp::kAllgather,
                                         CollOp::kReduceScatter, CollOp::kBroadcast,
                                         CollOp::kReduce,        CollOp::kAlltoall};

std::string_view collOpName(CollOp op);  // "allreduce", "reduce_scatter", ...
std::optional<CollOp> parseCollOp(std::string_view name);
bool reduces(CollOp op);  // takes a ReduceOp
bool rooted(CollOp op);   // takes a root rank

// How one row of the sweep runs. `size` is nccl-tests' S: the whole buffer
// (allreduce, broadcast, reduce: one rank's buffer; allgather, alltoall,
// reduce_scatter: the world's, size() blocks). Sizes that are not a whole
// number of elements (or blocks) are rounded down, to one element at least.
struct Shape {
  size_t count = 0;       // the count argument of the Communicator call
  size_t send_elems = 0;  // elements in this rank's send buffer
  size_t recv_elems = 0;  // elements in this rank's receive buffer
  uint64_t bytes = 0;     // S after rounding
};
Shape shapeFor(CollOp op, uint64_t size, DataType t, int world);

// nccl-tests' bus bandwidth factor (doc/PERFORMANCE.md): what each rank's
// link carries relative to S, so that busbw is comparable across world sizes.
double busBwFactor(CollOp op, int world);

// The sizes of a sweep: begin, begin*factor, ... up to end (inclusive).
std::vector<uint64_t> sweepSizes(uint64_t begin, uint64_t end, uint64_t factor);

// Input: what `rank` writes at element `index` of its send buffer (for
// broadcast, the root's buffer). Small integers, exact in every dtype, so
// reductions of a few dozen ranks are exact even in bf16.
double inputValue(CollOp op, ReduceOp rop, DataType t, int rank, size_t index);
void fillInput(CollOp op, ReduceOp rop, DataType t, int rank, void* buf, size_t elems);

struct Expectation {
  CollOp op;
  ReduceOp rop;
  DataType t;
  int world;
  int rank;  // the rank checking its own output
  int root;
  size_t count;
};
// The value element `index` of `rank`'s receive buffer must hold, in closed
// form (no rank's data is replayed: at most min(world, 11) steps for
// min/max). Integer results wrap like the dtype; kAvg divides the sum.
double expectedValue(const Expectation& e, size_t index);

// Counts the elements of recv that differ from expectedValue (integers
// exactly; floats beyond (world + 1) units of the dtype's rounding, relative
// to the value: sums of many ranks may round in fp16/bf16). `first_bad`
// receives a description of the first difference.
size_t countWrong(const Expectation& e, const void* recv, size_t elems, std::string* first_bad);
// Elements this rank checks: 0 for reduce off the root.
size_t checkedElems(const Expectation& e, const Shape& s);

}  // namespace farlink::colltool
