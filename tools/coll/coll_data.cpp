#include "coll/coll_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "coll/element.h"

namespace farlink::colltool {
namespace {

bool isFloat(DataType t) {
  return t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat32 ||
         t == DataType::kFloat64;
}
// uint8 has no negatives; every other dtype gets values around zero so that
// sign handling is exercised too.
int64_t bias(DataType t, int64_t amount) { return t == DataType::kUInt8 ? 0 : amount; }

// Two's-complement wrap to the dtype's width (C++20 conversions are modular).
int64_t wrap(DataType t, int64_t v) {
  switch (t) {
    case DataType::kInt8:
      return int8_t(v);
    case DataType::kUInt8:
      return uint8_t(v);
    case DataType::kInt32:
      return int32_t(v);
    default:
      return v;
  }
}

using coll::loadElement;
using coll::storeElement;

// A double rounded to what the dtype can hold (the form a correct result has).
double representable(DataType t, double v) {
  uint8_t tmp[8];
  storeElement(t, tmp, 0, v);
  return loadElement(t, tmp, 0);
}

// Per-rank patterns. Data movement: distinct for ranks less than 113 apart,
// so a block from the wrong rank or offset shows. Reductions: period 4
// (sum), 5 (prod: a 2 where r+i is a multiple of 5, else 1) and 11 (min/max).
int64_t movement(DataType t, int rank, size_t index) {
  return int64_t((uint64_t(rank) * 31 + index) % 113) - bias(t, 56);
}
int64_t sumInput(DataType t, int rank, size_t index) {
  return int64_t((uint64_t(rank) + index) % 4) - bias(t, 1);
}
int64_t prodInput(int rank, size_t index) { return (uint64_t(rank) + index) % 5 == 0 ? 2 : 1; }
int64_t minMaxInput(DataType t, int rank, size_t index) {
  return int64_t((uint64_t(rank) * 7 + index) % 11) - bias(t, 5);
}

// Sum over ranks 0..world-1 of sumInput: whole periods of 0+1+2+3, then the
// first world%4 terms of the next one.
int64_t sumOverRanks(DataType t, int world, size_t index) {
  int64_t s = int64_t(world / 4) * 6;
  for (int k = 0; k < world % 4; ++k) s += int64_t((index + size_t(k)) % 4);
  return s - int64_t(world) * bias(t, 1);
}

// How many ranks r < world have (r + index) % 5 == 0.
int twosInProduct(int world, size_t index) {
  int r0 = int((5 - index % 5) % 5);
  return r0 >= world ? 0 : (world - 1 - r0) / 5 + 1;
}

double reducedValue(const Expectation& e, size_t index) {
  switch (e.rop) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: {
      int64_t s = sumOverRanks(e.t, e.world, index);
      if (e.rop == ReduceOp::kSum) return double(wrap(e.t, s));
      // Integers sum in the dtype (wrapping), then divide truncating.
      if (!isFloat(e.t)) return double(wrap(e.t, s) / e.world);
      return double(s) / e.world;
    }
    case ReduceOp::kProd: {
      int k = twosInProduct(e.world, index);
      if (isFloat(e.t)) return std::ldexp(1.0, k);
      return double(wrap(e.t, k < 64 ? int64_t(uint64_t(1) << k) : 0));
    }
    case ReduceOp::kMin:
    case ReduceOp::kMax: {
      // The pattern repeats every 11 ranks.
      int64_t best = minMaxInput(e.t, 0, index);
      for (int r = 1; r < std::min(e.world, 11); ++r) {
        int64_t v = minMaxInput(e.t, r, index);
        best = e.rop == ReduceOp::kMin ? std::min(best, v) : std::max(best, v);
      }
      return double(best);
    }
  }
  return 0;
}

}  // namespace

std::string_view collOpName(CollOp op) {
  switch (op) {
    case CollOp::kAllreduce:
      return "allreduce";
    case CollOp::kAllgather:
      return "allgather";
    case CollOp::kReduceScatter:
      return "reduce_scatter";
    case CollOp::kBroadcast:
      return "broadcast";
    case CollOp::kReduce:
      return "reduce";
    case CollOp::kAlltoall:
      return "alltoall";
  }
  return "?";
}

std::optional<CollOp> parseCollOp(std::string_view name) {
  for (CollOp op : kAllCollOps)
    if (collOpName(op) == name) return op;
  if (name == "reducescatter" || name == "reduce-scatter") return CollOp::kReduceScatter;
  return std::nullopt;
}

bool reduces(CollOp op) {
  return op == CollOp::kAllreduce || op == CollOp::kReduceScatter || op == CollOp::kReduce;
}
bool rooted(CollOp op) { return op == CollOp::kBroadcast || op == CollOp::kReduce; }

Shape shapeFor(CollOp op, uint64_t size, DataType t, int world) {
  const size_t es = dataTypeSize(t), n = size_t(world);
  Shape s;
  switch (op) {
    case CollOp::kAllreduce:
    case CollOp::kBroadcast:
    case CollOp::kReduce:
      s.count = std::max<size_t>(1, size / es);
      s.send_elems = s.recv_elems = s.count;
      s.bytes = s.count * es;
      break;
    case CollOp::kAllgather:
    case CollOp::kReduceScatter:
    case CollOp::kAlltoall:
      s.count = std::max<size_t>(1, size / (es * n));
      s.send_elems = op == CollOp::kAllgather ? s.count : n * s.count;
      s.recv_elems = op == CollOp::kReduceScatter ? s.count : n * s.count;
      s.bytes = n * s.count * es;
      break;
  }
  return s;
}

double busBwFactor(CollOp op, int world) {
  const double n = world;
  switch (op) {
    case CollOp::kAllreduce:
      return 2 * (n - 1) / n;
    case CollOp::kAllgather:
    case CollOp::kReduceScatter:
    case CollOp::kAlltoall:
      return (n - 1) / n;
    case CollOp::kBroadcast:
    case CollOp::kReduce:
      return 1;
  }
  return 1;
}

std::vector<uint64_t> sweepSizes(uint64_t begin, uint64_t end, uint64_t factor) {
  std::vector<uint64_t> out;
  if (begin == 0 || factor < 2) {
    if (begin <= end) out.push_back(begin);
    return out;
  }
  for (uint64_t s = begin; s <= end; s *= factor) {
    out.push_back(s);
    if (s > end / factor) break;  // the next step would pass end (or overflow)
  }
  return out;
}

double inputValue(CollOp op, ReduceOp rop, DataType t, int rank, size_t index) {
  if (!reduces(op)) return double(movement(t, rank, index));
  switch (rop) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return double(sumInput(t, rank, index));
    case ReduceOp::kProd:
      return double(prodInput(rank, index));
    case ReduceOp::kMin:
    case ReduceOp::kMax:
      return double(minMaxInput(t, rank, index));
  }
  return 0;
}

void fillInput(CollOp op, ReduceOp rop, DataType t, int rank, void* buf, size_t elems) {
  for (size_t i = 0; i < elems; ++i) storeElement(t, buf, i, inputValue(op, rop, t, rank, i));
}

double expectedValue(const Expectation& e, size_t index) {
  const size_t n = std::max<size_t>(1, e.count);
  switch (e.op) {
    case CollOp::kAllreduce:
    case CollOp::kReduce:
      return reducedValue(e, index);
    case CollOp::kReduceScatter:
      return reducedValue(e, size_t(e.rank) * e.count + index);
    case CollOp::kAllgather:
      return double(movement(e.t, int(index / n), index % n));
    case CollOp::kBroadcast:
      return double(movement(e.t, e.root, index));
    case CollOp::kAlltoall:
      // Block s came from rank s, which sent me its block number `rank`.
      return double(movement(e.t, int(index / n), size_t(e.rank) * n + index % n));
  }
  return 0;
}

size_t checkedElems(const Expectation& e, const Shape& s) {
  if (e.op == CollOp::kReduce && e.rank != e.root) return 0;
  return s.recv_elems;
}

size_t countWrong(const Expectation& e, const void* recv, size_t elems, std::string* first_bad) {
  const double unit = coll::unitRoundoff(e.t);
  size_t wrong = 0;
  for (size_t i = 0; i < elems; ++i) {
    const double want = representable(e.t, expectedValue(e, i));
    const double got = loadElement(e.t, recv, i);
    bool ok = got == want;
    if (!ok && unit > 0 && std::isfinite(want) && std::isfinite(got))
      ok = std::fabs(got - want) <= (e.world + 1) * unit * std::max(1.0, std::fabs(want));
    if (ok) continue;
    if (wrong++ == 0 && first_bad)
      *first_bad = "element " + std::to_string(i) + " is " + std::to_string(got) + ", expected " +
                   std::to_string(want);
  }
  return wrong;
}

}  // namespace farlink::colltool
