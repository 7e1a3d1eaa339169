// Recursive halving/doubling allreduce (Rabenseifner). With n not a power of
// two, p = 2^floor(log2 n): the first 2(n-p) ranks pair up, the even one of
// each pair hands its vector to the odd one and waits for the result.
#include <cstring>

#include "coll/algorithms.h"

namespace farlink::coll {

Status halvingDoublingAllreduce(OpContext& ctx, const Group& g, void* buf, size_t count,
                                DataType t, ReduceOp op) {
  int n = g.size();
  if (n == 1) return Status();
  int p = 1;
  while (p * 2 <= n) p *= 2;
  int extra = n - p;
  size_t es = dataTypeSize(t);
  auto* b = static_cast<uint8_t*>(buf);
  int me = g.me;
  auto peer = [&](int idx) { return g.ranks[size_t(idx)]; };
  auto exchange = [&](int partner, const uint8_t* out, size_t out_bytes, uint8_t* in,
                      size_t in_bytes, unsigned phase, size_t step) -> Status {
    std::vector<PeerOp> ops;
    if (in_bytes || out_bytes) {
      if (in) {
        auto r = ctx.mesh.irecv(peer(partner), in, in_bytes, collTag(ctx.seq, phase, step));
        if (!r) return r.status();
        ops.push_back(r.value());
      }
      if (out) {
        auto w = ctx.mesh.isend(peer(partner), out, out_bytes, collTag(ctx.seq, phase, step));
        if (!w) {
          ctx.mesh.abort(w.status());
          return w.status();
        }
        ops.push_back(w.value());
      }
    }
    return ctx.mesh.waitAll(ops, ctx.deadline, ctx.what);
  };

  // Fold: members below 2*extra pair (even sends to odd).
  std::vector<uint8_t> tmp(count * es);
  int newrank;
  if (me < 2 * extra) {
    int partner = me ^ 1;
    if (Status s = ctx.mesh.connect({peer(partner)}, ctx.deadline); !s) return s;
    if (me % 2 == 0) {
      if (Status s = exchange(partner, b, count * es, nullptr, 0, 3, 0); !s) return s;
      // Wait for the finished vector.
      return exchange(partner, nullptr, 0, b, count * es, 6, 0);
    }
    if (Status s = exchange(partner, nullptr, 0, tmp.data(), count * es, 3, 0); !s) return s;
    reduceInto(t, op, b, tmp.data(), count);
    newrank = me / 2;
  } else {
    newrank = me - extra;
  }
  auto realIndex = [&](int nr) { return nr < extra ? nr * 2 + 1 : nr + extra; };

  std::vector<int> peers;
  for (int mask = 1; mask < p; mask <<= 1) peers.push_back(peer(realIndex(newrank ^ mask)));
  if (Status s = ctx.mesh.connect(peers, ctx.deadline); !s) return s;

  // Halving: keep one half of the current range, send the other, fold in the
  // partner's copy of the kept half.
  size_t lo = 0, hi = count;
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t step = 0;
  for (int mask = p / 2; mask >= 1; mask >>= 1, ++step) {
    int partner = realIndex(newrank ^ mask);
    size_t mid = lo + (hi - lo) / 2;
    bool upper = (newrank & mask) != 0;
    size_t keep_lo = upper ? mid : lo, keep_hi = upper ? hi : mid;
    size_t give_lo = upper ? lo : mid, give_hi = upper ? mid : hi;
    ranges.push_back({lo, hi});
    if (Status s = exchange(partner, b + give_lo * es, (give_hi - give_lo) * es, tmp.data(),
                            (keep_hi - keep_lo) * es, 4, step);
        !s)
      return s;
    reduceInto(t, op, b + keep_lo * es, tmp.data(), keep_hi - keep_lo);
    lo = keep_lo;
    hi = keep_hi;
  }
  // Doubling: swap finished ranges with the same partners in reverse order.
  for (int mask = 1; mask < p; mask <<= 1, ++step) {
    int partner = realIndex(newrank ^ mask);
    auto [plo, phi] = ranges.back();
    ranges.pop_back();
    size_t other_lo = (lo == plo) ? hi : plo, other_hi = (lo == plo) ? phi : lo;
    if (Status s = exchange(partner, b + lo * es, (hi - lo) * es, b + other_lo * es,
                            (other_hi - other_lo) * es, 5, step);
        !s)
      return s;
    lo = plo;
    hi = phi;
  }
  if (me < 2 * extra) return exchange(me ^ 1, b, count * es, nullptr, 0, 6, 0);
  return Status();
}

}  // namespace farlink::coll
