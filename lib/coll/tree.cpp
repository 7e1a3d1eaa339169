// Binomial-tree broadcast and reduce, dissemination barrier, pairwise
// all-to-all. log2(n) rounds for the trees and the barrier.
#include <cstring>

#include "coll/algorithms.h"

namespace farlink::coll {
namespace {

Status one(OpContext& ctx, Result<PeerOp> op) {
  if (!op) {
    ctx.mesh.abort(op.status());
    return op.status();
  }
  std::vector<PeerOp> ops{op.value()};
  return ctx.mesh.waitAll(ops, ctx.deadline, ctx.what);
}

}  // namespace

Status binomialBroadcast(OpContext& ctx, const Group& g, void* buf, size_t bytes, int root,
                         unsigned phase) {
  int n = g.size();
  int vr = (g.me - root + n) % n;
  auto real = [&](int v) { return g.ranks[size_t((v + root) % n)]; };
  std::vector<int> peers;
  int mask = 1;
  while (mask <= vr) mask <<= 1;  // first mask above my highest bit
  if (vr != 0) peers.push_back(real(vr - mask / 2));
  for (int m = (vr == 0 ? 1 : mask); m < n; m <<= 1)
    if (vr + m < n) peers.push_back(real(vr + m));
  if (Status s = ctx.mesh.connect(peers, ctx.deadline); !s) return s;
  if (vr != 0)
    if (Status s = one(ctx, ctx.mesh.irecv(real(vr - mask / 2), buf, bytes,
                                           collTag(ctx.seq, phase, 0)));
        !s)
      return s;
  for (int m = (vr == 0 ? 1 : mask); m < n; m <<= 1)
    if (vr + m < n)
      if (Status s = one(ctx, ctx.mesh.isend(real(vr + m), buf, bytes, collTag(ctx.seq, phase, 0)));
          !s)
        return s;
  return Status();
}

Status binomialReduce(OpContext& ctx, const Group& g, void* buf, size_t count, DataType t,
                      ReduceOp op, int root) {
  int n = g.size();
  int vr = (g.me - root + n) % n;
  auto real = [&](int v) { return g.ranks[size_t((v + root) % n)]; };
  size_t bytes = count * dataTypeSize(t);
  std::vector<uint8_t> tmp(bytes);
  for (int mask = 1; mask < n; mask <<= 1) {
    if (vr & mask) {
      if (Status s = ctx.mesh.connect({real(vr - mask)}, ctx.deadline); !s) return s;
      return one(ctx, ctx.mesh.isend(real(vr - mask), buf, bytes, collTag(ctx.seq, 7, 0)));
    }
    if (vr + mask < n) {
      if (Status s = ctx.mesh.connect({real(vr + mask)}, ctx.deadline); !s) return s;
      if (Status s = one(ctx, ctx.mesh.irecv(real(vr + mask), tmp.data(), bytes,
                                             collTag(ctx.seq, 7, 0)));
          !s)
        return s;
      reduceInto(t, op, buf, tmp.data(), count);
    }
  }
  return Status();
}

Status disseminationBarrier(OpContext& ctx, const Group& g) {
  int n = g.size();
  uint8_t out = 1, in = 0;
  for (int k = 1, step = 0; k < n; k <<= 1, ++step) {
    int to = g.ranks[size_t((g.me + k) % n)], from = g.ranks[size_t((g.me - k + n) % n)];
    if (Status s = ctx.mesh.connect({to, from}, ctx.deadline); !s) return s;
    std::vector<PeerOp> ops;
    auto r = ctx.mesh.irecv(from, &in, 1, collTag(ctx.seq, 8, size_t(step)));
    if (!r) return r.status();
    ops.push_back(r.value());
    auto w = ctx.mesh.isend(to, &out, 1, collTag(ctx.seq, 8, size_t(step)));
    if (!w) {
      ctx.mesh.abort(w.status());
      return w.status();
    }
    ops.push_back(w.value());
    if (Status s = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !s) return s;
  }
  return Status();
}

Status pairwiseAlltoall(OpContext& ctx, const Group& g, const void* send, void* recv,
                        size_t block_bytes) {
  int n = g.size();
  auto* s = static_cast<const uint8_t*>(send);
  auto* r = static_cast<uint8_t*>(recv);
  std::memcpy(r + size_t(g.me) * block_bytes, s + size_t(g.me) * block_bytes, block_bytes);
  std::vector<int> peers;
  for (int i = 0; i < n; ++i)
    if (i != g.me) peers.push_back(g.ranks[size_t(i)]);
  if (Status st = ctx.mesh.connect(peers, ctx.deadline); !st) return st;
  std::vector<PeerOp> ops;
  // Post everything at once; the receive side buffers what arrives early.
  for (int k = 1; k < n; ++k) {
    int from = (g.me - k + n) % n, to = (g.me + k) % n;
    auto rr = ctx.mesh.irecv(g.ranks[size_t(from)], r + size_t(from) * block_bytes, block_bytes,
                             collTag(ctx.seq, 9, 0));
    if (!rr) {
      ctx.mesh.abort(rr.status());
      return rr.status();
    }
    ops.push_back(rr.value());
    auto w = ctx.mesh.isend(g.ranks[size_t(to)], s + size_t(to) * block_bytes, block_bytes,
                            collTag(ctx.seq, 9, 0));
    if (!w) {
      ctx.mesh.abort(w.status());
      return w.status();
    }
    ops.push_back(w.value());
  }
  return ctx.mesh.waitAll(ops, ctx.deadline, ctx.what);
}

}  // namespace farlink::coll
