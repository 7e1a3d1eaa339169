// Flat ring: reduce-scatter then allgather, n-1 steps each, every step
// sending one block right while receiving one from the left.
#include <algorithm>
#include <cstring>

#include "coll/algorithms.h"

namespace farlink::coll {
namespace {

int mod(int a, int n) { return ((a % n) + n) % n; }

}  // namespace

Status ringReduceScatter(OpContext& ctx, const Group& g, void* work,
                         const std::vector<Block>& blocks, DataType t, ReduceOp op,
                         unsigned phase) {
  int n = g.size();
  if (n == 1) return Status();
  int right = g.ranks[size_t(mod(g.me + 1, n))], left = g.ranks[size_t(mod(g.me - 1, n))];
  if (Status s = ctx.mesh.connect({right, left}, ctx.deadline); !s) return s;
  size_t es = dataTypeSize(t), biggest = 0;
  for (const Block& b : blocks) biggest = std::max(biggest, b.count);
  std::vector<uint8_t> tmp(biggest * es);
  auto* w = static_cast<uint8_t*>(work);
  // Step s: send block me-s-1 (accumulated so far), receive block me-s-2 and
  // fold it in; after n-1 steps block `me` holds everyone's contribution.
  for (int s = 0; s < n - 1; ++s) {
    const Block& out = blocks[size_t(mod(g.me - s - 1, n))];
    const Block& in = blocks[size_t(mod(g.me - s - 2, n))];
    std::vector<PeerOp> ops;
    auto r = ctx.mesh.irecv(left, tmp.data(), in.count * es, collTag(ctx.seq, phase, size_t(s)));
    if (!r) return r.status();
    ops.push_back(r.value());
    auto w1 = ctx.mesh.isend(right, w + out.offset * es, out.count * es,
                             collTag(ctx.seq, phase, size_t(s)));
    if (!w1) {
      ctx.mesh.abort(w1.status());
      return w1.status();
    }
    ops.push_back(w1.value());
    if (Status st = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !st) return st;
    reduceInto(t, op, w + in.offset * es, tmp.data(), in.count);
  }
  return Status();
}

Status ringReduceScatterFrom(OpContext& ctx, const Group& g, const void* send, void* recv,
                             const std::vector<Block>& blocks, DataType t, ReduceOp op,
                             unsigned phase, Scratch& scratch) {
  const int n = g.size();
  const size_t es = dataTypeSize(t);
  const auto* in_buf = static_cast<const uint8_t*>(send);
  const Block& mine = blocks[size_t(g.me)];
  if (n == 1) {
    std::memmove(recv, in_buf + mine.offset * es, mine.count * es);
    return Status();
  }
  int right = g.ranks[size_t(mod(g.me + 1, n))], left = g.ranks[size_t(mod(g.me - 1, n))];
  if (Status s = ctx.mesh.connect({right, left}, ctx.deadline); !s) return s;
  size_t biggest = 0, total = 0;
  for (const Block& b : blocks) {
    biggest = std::max(biggest, b.count);
    total += b.count;
  }
  // The same steps as ringReduceScatter, but the block folded in step s is
  // the one sent in step s+1: two accumulators take turns, step 0 sends
  // straight from `send`, and the last step lands in `recv`. Each step
  // receives the left neighbour's partial straight into its destination and
  // folds our own input block into it (commutative ops: the same bits as the
  // other way round). No copy of the whole input, none out; the last step
  // goes through tmp only when recv overlaps the input (in place).
  auto* out_buf = static_cast<uint8_t*>(recv);
  const bool overlaps = out_buf < in_buf + total * es && in_buf < out_buf + mine.count * es;
  uint8_t* base = scratch.get((n > 2 ? 3 : 1) * biggest * es);
  uint8_t* tmp = base;
  uint8_t* acc[2] = {base + biggest * es, base + 2 * biggest * es};
  for (int s = 0; s < n - 1; ++s) {
    const Block& out = blocks[size_t(mod(g.me - s - 1, n))];
    const Block& in = blocks[size_t(mod(g.me - s - 2, n))];
    const uint8_t* src = s == 0 ? in_buf + out.offset * es : acc[(s - 1) % 2];
    const bool last = s == n - 2;
    uint8_t* land = last ? (overlaps ? tmp : out_buf) : acc[s % 2];
    std::vector<PeerOp> ops;
    auto r = ctx.mesh.irecv(left, land, in.count * es, collTag(ctx.seq, phase, size_t(s)));
    if (!r) return r.status();
    ops.push_back(r.value());
    auto w1 = ctx.mesh.isend(right, src, out.count * es, collTag(ctx.seq, phase, size_t(s)));
    if (!w1) {
      ctx.mesh.abort(w1.status());
      return w1.status();
    }
    ops.push_back(w1.value());
    if (Status st = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !st) return st;
    if (land == tmp) {
      // In place: recv is our own input block, which is the last one folded.
      reduceInto(t, op, out_buf, tmp, in.count);
    } else {
      reduceInto(t, op, land, in_buf + in.offset * es, in.count);
    }
  }
  return Status();
}

Status ringAllgather(OpContext& ctx, const Group& g, void* buf, const std::vector<Block>& blocks,
                     DataType t, unsigned phase) {
  int n = g.size();
  if (n == 1) return Status();
  int right = g.ranks[size_t(mod(g.me + 1, n))], left = g.ranks[size_t(mod(g.me - 1, n))];
  if (Status s = ctx.mesh.connect({right, left}, ctx.deadline); !s) return s;
  size_t es = dataTypeSize(t);
  auto* b = static_cast<uint8_t*>(buf);
  for (int s = 0; s < n - 1; ++s) {
    const Block& out = blocks[size_t(mod(g.me - s, n))];
    const Block& in = blocks[size_t(mod(g.me - s - 1, n))];
    std::vector<PeerOp> ops;
    auto r =
        ctx.mesh.irecv(left, b + in.offset * es, in.count * es, collTag(ctx.seq, phase, size_t(s)));
    if (!r) return r.status();
    ops.push_back(r.value());
    auto w = ctx.mesh.isend(right, b + out.offset * es, out.count * es,
                            collTag(ctx.seq, phase, size_t(s)));
    if (!w) {
      ctx.mesh.abort(w.status());
      return w.status();
    }
    ops.push_back(w.value());
    if (Status st = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !st) return st;
  }
  return Status();
}

Status ringAllreduce(OpContext& ctx, const Group& g, void* buf, size_t count, DataType t,
                     ReduceOp op) {
  auto blocks = blockPartition(count, g.size());
  if (Status s = ringReduceScatter(ctx, g, buf, blocks, t, op, 1); !s) return s;
  return ringAllgather(ctx, g, buf, blocks, t, 2);
}

}  // namespace farlink::coll
