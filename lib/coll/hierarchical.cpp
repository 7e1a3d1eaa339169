// Hierarchical cross-site allreduce:
//   1. the site's adapter reduce-scatters the buffer into one block per rank;
//   2. each rank exchanges the segments of its block (shard_map.h) with the
//      segment's owner in every other site — header then payload, all posted
//      at once, so the long link costs one one-way delay — and reduces the
//      contributions in site order (the same order everywhere, so every site
//      ends with bit-identical floats);
//   3. the adapter allgathers the blocks.
#include <array>
#include <cstring>

#include "coll/communicator_impl.h"
#include "coll/wire_header.h"

namespace farlink::coll {

Status hierarchicalAllreduce(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                             size_t count, DataType t, ReduceOp op) {
  size_t es = dataTypeSize(t);
  const auto& site_ranks = c.layout.ranks;
  int nsites = int(site_ranks.size());
  auto blocks = blockPartition(count, int(site_ranks[size_t(c.site)].size()));
  std::vector<size_t> counts;
  for (auto& b : blocks) counts.push_back(b.count);
  const Block mine = blocks[size_t(c.local_rank)];
  std::vector<uint8_t> acc(mine.count * es);
  if (Status s = c.adapter->reduceScatter(send, acc.data(), counts, t, op); !s) return s;

  // My segments and their owners in the other sites.
  std::vector<Segment> segs;
  std::vector<size_t> seg_index;
  auto all = shardMap(count, c.layout.sizes());
  for (size_t k = 0; k < all.size(); ++k)
    if (all[k].owner[size_t(c.site)] == c.local_rank) {
      segs.push_back(all[k]);
      seg_index.push_back(k);
    }
  std::vector<int> peers;
  for (auto& sg : segs)
    for (int s = 0; s < nsites; ++s)
      if (s != c.site) peers.push_back(site_ranks[size_t(s)][size_t(sg.owner[size_t(s)])]);
  if (Status s = ctx.mesh.connect(peers, ctx.deadline); !s) return s;

  // contrib[k][s]: site s's copy of my segment k (mine stays in acc).
  std::vector<std::vector<std::vector<uint8_t>>> contrib(segs.size());
  std::vector<uint8_t> out_hdr(segs.size() * kWireHeaderSize);
  std::vector<std::vector<std::array<uint8_t, kWireHeaderSize>>> in_hdr(segs.size());
  std::vector<PeerOp> ops;
  auto post = [&](Result<PeerOp> r) -> Status {
    if (!r) {
      ctx.mesh.abort(r.status());
      return r.status();
    }
    ops.push_back(r.value());
    return Status();
  };
  for (size_t k = 0; k < segs.size(); ++k) {
    const Segment& sg = segs[k];
    uint64_t tag = collTag(ctx.seq, 10, seg_index[k]);
    WireHeader h{WireOp::kAllreduce, t, op, sg.count, seg_index[k], uint32_t(ctx.seq)};
    encodeWireHeader(h, out_hdr.data() + k * kWireHeaderSize);
    contrib[k].resize(size_t(nsites));
    in_hdr[k].resize(size_t(nsites));
    const uint8_t* payload = acc.data() + (sg.offset - mine.offset) * es;
    for (int s = 0; s < nsites; ++s) {
      if (s == c.site) continue;
      int peer = site_ranks[size_t(s)][size_t(sg.owner[size_t(s)])];
      contrib[k][size_t(s)].resize(sg.count * es);
      // Same tag: header and payload match in send order.
      if (Status st = post(ctx.mesh.irecv(peer, in_hdr[k][size_t(s)].data(), kWireHeaderSize, tag));
          !st)
        return st;
      if (Status st = post(ctx.mesh.irecv(peer, contrib[k][size_t(s)].data(), sg.count * es, tag));
          !st)
        return st;
      if (Status st = post(ctx.mesh.isend(peer, out_hdr.data() + k * kWireHeaderSize,
                                          kWireHeaderSize, tag));
          !st)
        return st;
      if (Status st = post(ctx.mesh.isend(peer, payload, sg.count * es, tag)); !st) return st;
    }
  }
  if (Status s = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !s) return s;

  for (size_t k = 0; k < segs.size(); ++k) {
    const Segment& sg = segs[k];
    WireHeader expect{WireOp::kAllreduce, t, op, sg.count, seg_index[k], uint32_t(ctx.seq)};
    uint8_t* mine_seg = acc.data() + (sg.offset - mine.offset) * es;
    // Site order: start from site 0's contribution.
    std::vector<uint8_t> result(sg.count * es);
    for (int s = 0; s < nsites; ++s) {
      const uint8_t* part = mine_seg;
      if (s != c.site) {
        int peer = site_ranks[size_t(s)][size_t(sg.owner[size_t(s)])];
        if (Status st = checkWireHeader(in_hdr[k][size_t(s)].data(), kWireHeaderSize, expect,
                                        ctx.mesh.name(peer));
            !st) {
          Status why(st.code(), ctx.what + ": " + st.message());
          ctx.mesh.abort(why);
          return why;
        }
        part = contrib[k][size_t(s)].data();
      }
      if (s == 0) std::memcpy(result.data(), part, result.size());
      else reduceInto(t, op, result.data(), part, sg.count);
    }
    std::memcpy(mine_seg, result.data(), result.size());
  }
  return c.adapter->allgather(acc.data(), recv, counts, t);
}

}  // namespace farlink::coll
