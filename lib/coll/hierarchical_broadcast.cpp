// Hierarchical cross-site broadcast, the allreduce's shape turned around:
//   1. the root's site broadcasts the buffer with its adapter;
//   2. each segment of the shard map (shard_map.h) goes from its owner in
//      the root's site to its owner in every other site — header then
//      payload, all posted at once, so the long link costs one one-way delay
//      and every rank of the root's site sends a share (every NIC carries
//      traffic, the buffer crosses to each site once);
//   3. every other site allgathers its blocks with its adapter (a rank's
//      segments tile its block exactly).
// Against a binomial tree over the world, the buffer no longer crosses the
// long link once per tree edge that happens to span sites, one after the other.
#include <algorithm>
#include <array>

#include "coll/communicator_impl.h"
#include "coll/wire_header.h"

namespace farlink::coll {

Status hierarchicalBroadcast(CommunicatorImpl& c, OpContext& ctx, void* buf, size_t count,
                             DataType t, int root) {
  const size_t es = dataTypeSize(t);
  const auto& site_ranks = c.layout.ranks;
  const int nsites = int(site_ranks.size());
  const int root_site = c.layout.site_of[size_t(root)];
  const auto& rs = site_ranks[size_t(root_site)];
  const int root_local = int(std::find(rs.begin(), rs.end(), root) - rs.begin());
  auto* bytes = static_cast<uint8_t*>(buf);

  if (c.site == root_site)
    if (Status s = c.adapter->broadcast(buf, count, t, root_local); !s) return s;

  // Step 2: as sender (root's site) to every other site, or as receiver from the root's site.
  const auto segs = shardMap(count, c.layout.sizes());
  std::vector<size_t> mine;  // indices of my segments
  std::vector<int> peers;
  for (size_t k = 0; k < segs.size(); ++k) {
    if (segs[k].owner[size_t(c.site)] != c.local_rank) continue;
    mine.push_back(k);
    for (int s = 0; s < nsites; ++s)
      if ((c.site == root_site) != (s == root_site))
        peers.push_back(site_ranks[size_t(s)][size_t(segs[k].owner[size_t(s)])]);
  }
  if (Status s = ctx.mesh.connect(peers, ctx.deadline); !s) return s;
  std::vector<std::array<uint8_t, kWireHeaderSize>> hdr(mine.size());
  std::vector<PeerOp> ops;
  auto post = [&](Result<PeerOp> r) -> Status {
    if (!r) {
      ctx.mesh.abort(r.status());
      return r.status();
    }
    ops.push_back(r.value());
    return Status();
  };
  auto header = [&](size_t k) {
    return WireHeader{WireOp::kBroadcast, t, ReduceOp::kSum, segs[k].count, k, uint32_t(ctx.seq)};
  };
  for (size_t j = 0; j < mine.size(); ++j) {
    const size_t k = mine[j];
    const uint64_t tag = collTag(ctx.seq, 11, k);  // header and payload match in send order
    uint8_t* payload = bytes + segs[k].offset * es;
    const size_t len = segs[k].count * es;
    if (c.site == root_site) {
      encodeWireHeader(header(k), hdr[j].data());
      for (int s = 0; s < nsites; ++s) {
        if (s == root_site) continue;
        int peer = site_ranks[size_t(s)][size_t(segs[k].owner[size_t(s)])];
        if (Status st = post(ctx.mesh.isend(peer, hdr[j].data(), kWireHeaderSize, tag)); !st)
          return st;
        if (Status st = post(ctx.mesh.isend(peer, payload, len, tag)); !st) return st;
      }
    } else {
      int peer = rs[size_t(segs[k].owner[size_t(root_site)])];
      if (Status st = post(ctx.mesh.irecv(peer, hdr[j].data(), kWireHeaderSize, tag)); !st)
        return st;
      if (Status st = post(ctx.mesh.irecv(peer, payload, len, tag)); !st) return st;
    }
  }
  if (Status s = ctx.mesh.waitAll(ops, ctx.deadline, ctx.what); !s) return s;
  if (c.site == root_site) return Status();

  for (size_t j = 0; j < mine.size(); ++j) {
    const size_t k = mine[j];
    int peer = rs[size_t(segs[k].owner[size_t(root_site)])];
    if (Status st = checkWireHeader(hdr[j].data(), kWireHeaderSize, header(k), ctx.mesh.name(peer));
        !st) {
      Status why(st.code(), ctx.what + ": " + st.message());
      ctx.mesh.abort(why);
      return why;
    }
  }
  // Step 3: my block is complete; the site's adapter gathers the rest in place.
  const auto blocks = blockPartition(count, int(site_ranks[size_t(c.site)].size()));
  std::vector<size_t> counts;
  for (const Block& b : blocks) counts.push_back(b.count);
  return c.adapter->allgather(bytes + blocks[size_t(c.local_rank)].offset * es, buf, counts, t);
}

}  // namespace farlink::coll
