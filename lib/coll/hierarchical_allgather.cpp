// Hierarchical cross-site allgather. The world's blocks are laid out site
// by site ("site-major": site 0's ranks in local order, then site 1's, ...);
// region s is site s's L_s * count elements.
//   1. the site's adapter allgathers its ranks' blocks into its own region;
//   2. at the same time, each rank sends its own block to every other site,
//      cut along that site's partition of our region (shard_map.h with our
//      site and the other: segment k goes from its owner here to its owner
//      there) — header then payload. Every rank of every site sends count
//      elements per other site and receives about 1/L of each other region,
//      so every NIC carries a share and each byte crosses to a site once;
//   3. each site allgathers every other region with its adapter (a rank's
//      received segments tile its block of that region exactly).
// Step 2 needs only the rank's own block, so it is posted before step 1
// and, for large blocks with CommunicatorOptions::gather_overlap, the
// communicator's driver thread moves it while the adapter runs
// (waitAllWhile); else it is driven after step 1.
// When sites are not runs of consecutive ranks the work happens in a
// site-major staging buffer, copied to world order at the end.
#include <array>
#include <cstring>

#include "coll/communicator_impl.h"
#include "coll/wire_header.h"

namespace farlink::coll {
namespace {

constexpr unsigned kPhase = 12;  // collTag phase of this collective's messages

struct Exchange {
  std::vector<PeerOp> ops;
  std::vector<int> peers;
  // One header per message, sized by plan() before any op points into it.
  std::vector<std::array<uint8_t, kWireHeaderSize>> hdr;
  struct In {  // a received header to check once step 2 is done
    size_t hdr, chunk, count;
    int peer;
  };
  std::vector<In> in;
};

WireHeader header(const OpContext& ctx, DataType t, size_t chunk, size_t count) {
  return WireHeader{WireOp::kAllgather, t, ReduceOp::kSum, count, chunk, uint32_t(ctx.seq)};
}

// The segments between region `from` (site `from`'s blocks) and site `to`:
// owner[0] is the sending local rank of `from`, owner[1] the receiving one of
// `to`. Both sides compute the same map, so chunk k means the same bytes.
std::vector<Segment> regionMap(const SiteLayout& l, int from, int to, size_t count) {
  const int lf = int(l.ranks[size_t(from)].size()), lt = int(l.ranks[size_t(to)].size());
  return shardMap(size_t(lf) * count, {lf, lt});
}

// Lists the peers and the number of messages of step 2 (to size `hdr` once).
void plan(const CommunicatorImpl& c, size_t count, Exchange& x) {
  size_t msgs = 0;
  for (int s = 0; s < int(c.layout.ranks.size()); ++s) {
    if (s == c.site) continue;
    const auto& there = c.layout.ranks[size_t(s)];
    for (const Segment& sg : regionMap(c.layout, c.site, s, count))
      if (sg.owner[0] == c.local_rank) {
        x.peers.push_back(there[size_t(sg.owner[1])]);
        ++msgs;
      }
    for (const Segment& sg : regionMap(c.layout, s, c.site, count))
      if (sg.owner[1] == c.local_rank) {
        x.peers.push_back(there[size_t(sg.owner[0])]);
        ++msgs;
      }
  }
  x.hdr.resize(msgs);
}

// Posts step 2: receives into `work` (site-major), sends from `mine` (my block).
Status post(const CommunicatorImpl& c, OpContext& ctx, const std::vector<size_t>& region,
            const uint8_t* mine, uint8_t* work, size_t count, DataType t, Exchange& x) {
  const size_t es = dataTypeSize(t);
  size_t h = 0;
  auto add = [&](Result<PeerOp> r) -> Status {
    if (!r) return r.status();
    x.ops.push_back(r.value());
    return Status();
  };
  for (int s = 0; s < int(c.layout.ranks.size()); ++s) {
    if (s == c.site) continue;
    const auto& there = c.layout.ranks[size_t(s)];
    // Receives first, so that what arrives early lands in place.
    const auto in = regionMap(c.layout, s, c.site, count);
    for (size_t k = 0; k < in.size(); ++k) {
      if (in[k].owner[1] != c.local_rank) continue;
      const int peer = there[size_t(in[k].owner[0])];
      const uint64_t tag = collTag(ctx.seq, kPhase, k);  // header and payload match in order
      x.in.push_back({h, k, in[k].count, peer});
      if (Status st = add(ctx.mesh.irecv(peer, x.hdr[h++].data(), kWireHeaderSize, tag)); !st)
        return st;
      uint8_t* dst = work + (region[size_t(s)] + in[k].offset) * es;
      if (Status st = add(ctx.mesh.irecv(peer, dst, in[k].count * es, tag)); !st) return st;
    }
    const auto out = regionMap(c.layout, c.site, s, count);
    const size_t first = size_t(c.local_rank) * count;  // my block within our region
    for (size_t k = 0; k < out.size(); ++k) {
      if (out[k].owner[0] != c.local_rank) continue;
      const int peer = there[size_t(out[k].owner[1])];
      const uint64_t tag = collTag(ctx.seq, kPhase, k);
      encodeWireHeader(header(ctx, t, k, out[k].count), x.hdr[h].data());
      if (Status st = add(ctx.mesh.isend(peer, x.hdr[h++].data(), kWireHeaderSize, tag)); !st)
        return st;
      const uint8_t* src = mine + (out[k].offset - first) * es;
      if (Status st = add(ctx.mesh.isend(peer, src, out[k].count * es, tag)); !st) return st;
    }
  }
  return Status();
}

}  // namespace

Status hierarchicalAllgather(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                             size_t count, DataType t) {
  if (count == 0) return Status();
  const size_t es = dataTypeSize(t);
  const auto& sites = c.layout.ranks;
  const int nsites = int(sites.size());
  const int local = int(sites[size_t(c.site)].size());
  const size_t total = size_t(c.size) * count;
  std::vector<size_t> region(size_t(nsites) + 1, 0);  // site-major offsets, in elements
  for (int s = 0; s < nsites; ++s)
    region[size_t(s) + 1] = region[size_t(s)] + sites[size_t(s)].size() * count;

  const bool direct = c.layout.siteMajorIsWorldOrder();
  std::vector<uint8_t> staging(direct ? 0 : total * es);
  uint8_t* work = direct ? static_cast<uint8_t*>(recv) : staging.data();
  // Step 2 reads my block while steps 1 and 3 write into work: when the
  // caller's block lies inside recv (in place), read a copy.
  const auto* mine = static_cast<const uint8_t*>(send);
  std::vector<uint8_t> copy;
  const auto* r0 = static_cast<const uint8_t*>(recv);
  if (mine + count * es > r0 && mine < r0 + total * es) {
    copy.assign(mine, mine + count * es);
    mine = copy.data();
  }

  Exchange x;
  plan(c, count, x);
  if (Status s = ctx.mesh.connect(x.peers, ctx.deadline); !s) return s;
  if (Status s = post(c, ctx, region, mine, work, count, t, x); !s) {
    ctx.mesh.abort(s);  // receives already posted target our buffers
    return s;
  }
  // Step 1 while step 2 moves (when enabled and there is enough to move).
  const std::vector<size_t> own(size_t(local), count);
  const bool overlap =
      c.options.gather_overlap && size_t(nsites - 1) * count * es >= kOverlapMinBytes;
  if (Status s = waitAllWhile(
          ctx.mesh, c.driver, x.ops, ctx.deadline, ctx.what,
          [&] { return c.adapter->allgather(mine, work + region[size_t(c.site)] * es, own, t); },
          overlap);
      !s)
    return s;
  for (const auto& in : x.in)
    if (Status st = checkWireHeader(x.hdr[in.hdr].data(), kWireHeaderSize,
                                    header(ctx, t, in.chunk, in.count), ctx.mesh.name(in.peer));
        !st) {
      Status why(st.code(), ctx.what + ": " + st.message());
      ctx.mesh.abort(why);
      return why;
    }

  // Step 3, in site order (the same on every local rank, as adapters require).
  for (int s = 0; s < nsites; ++s) {
    if (s == c.site) continue;
    const auto blocks = blockPartition(region[size_t(s) + 1] - region[size_t(s)], local);
    std::vector<size_t> counts;
    for (const Block& b : blocks) counts.push_back(b.count);
    uint8_t* base = work + region[size_t(s)] * es;
    if (Status st =
            c.adapter->allgather(base + blocks[size_t(c.local_rank)].offset * es, base, counts, t);
        !st)
      return st;
  }
  if (direct) return Status();
  auto* out = static_cast<uint8_t*>(recv);
  for (int s = 0; s < nsites; ++s)
    for (size_t j = 0; j < sites[size_t(s)].size(); ++j)
      std::memcpy(out + size_t(sites[size_t(s)][j]) * count * es,
                  work + (region[size_t(s)] + j * count) * es, count * es);
  return Status();
}

}  // namespace farlink::coll
