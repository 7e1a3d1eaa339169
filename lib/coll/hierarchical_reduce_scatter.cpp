// Hierarchical cross-site reduce-scatter, the allgather's mirror. The input
// is read site by site ("site-major": the blocks of site 0's ranks, then
// site 1's, ...); region s holds the L_s * recv_count elements whose final
// owners are site s's ranks.
//   1. for every other site s (in site order, the same on every local rank as
//      adapters require), the site's adapter reduce-scatters region s into one
//      partial result per local rank, and each rank sends the segments of its
//      partial to their owners in site s (shard_map.h with that site and ours)
//      — header then payload. Every rank sends about 1/L of each other region
//      and receives recv_count elements from each other site: every NIC
//      carries a share and each partial crosses the long link once;
//   2. the adapter reduce-scatters our own region (one block per rank);
//      with CommunicatorOptions::gather_overlap the driver thread moves step
//      1's transfers meanwhile (waitAllWhile; for large blocks only: on
//      small ones the thread costs more than it saves), else they are
//      driven afterwards;
//   3. each rank reduces its block's partials in site order — site 0's,
//      then site 1's, ... — whichever site it belongs to, so a block's
//      result depends only on the sites' partials, never on which site or
//      rank computes it.
// When sites are not runs of consecutive ranks the input is first copied
// into site-major order.
#include <array>
#include <cstring>

#include "coll/communicator_impl.h"
#include "coll/wire_header.h"

namespace farlink::coll {
namespace {

constexpr unsigned kPhase = 13;  // collTag phase of this collective's messages

WireHeader header(const OpContext& ctx, DataType t, ReduceOp op, size_t chunk, size_t count) {
  return WireHeader{WireOp::kReduceScatter, t, op, count, chunk, uint32_t(ctx.seq)};
}

// The segments between region `owner` (site `owner`'s blocks) and site
// `holder`, which computes partials of it: owner[0] is the receiving local
// rank of `owner`, owner[1] the sending one of `holder`. Both sides compute
// the same map, so chunk k means the same bytes.
std::vector<Segment> regionMap(const SiteLayout& l, int owner, int holder, size_t count) {
  const int lo = int(l.ranks[size_t(owner)].size()), lh = int(l.ranks[size_t(holder)].size());
  return shardMap(size_t(lo) * count, {lo, lh});
}

class ReduceScatter {
 public:
  ReduceScatter(CommunicatorImpl& c, OpContext& ctx, size_t count, DataType t, ReduceOp op)
      : c_(c),
        ctx_(ctx),
        count_(count),
        t_(t),
        op_(op),
        es_(dataTypeSize(t)),
        nsites_(int(c.layout.ranks.size())),
        local_(int(c.layout.ranks[size_t(c.site)].size())) {
    region_.assign(size_t(nsites_) + 1, 0);
    for (int s = 0; s < nsites_; ++s)
      region_[size_t(s) + 1] = region_[size_t(s)] + c.layout.ranks[size_t(s)].size() * count;
  }

  Status run(const void* send, void* recv);

 private:
  struct In {  // a received header, checked once the transfers are done
    size_t hdr, chunk, count;
    int peer;
  };
  Status add(Result<PeerOp> r) {
    if (!r) return r.status();
    ops_.push_back(r.value());
    return Status();
  }
  void plan();
  Status postReceives();
  Status reduceRegion(int s, const uint8_t* in);
  Status fold(void* recv);

  CommunicatorImpl& c_;
  OpContext& ctx_;
  const size_t count_;
  const DataType t_;
  const ReduceOp op_;
  const size_t es_;
  const int nsites_, local_;
  std::vector<size_t> region_;              // site-major offsets, in elements
  std::vector<std::vector<uint8_t>> part_;  // [s]: my partial of region s (mine: my block)
  std::vector<std::vector<uint8_t>> from_;  // [s]: site s's partial of my block
  std::vector<std::array<uint8_t, kWireHeaderSize>> hdr_;
  std::vector<In> in_;
  std::vector<PeerOp> ops_;
  std::vector<int> peers_;
  size_t next_hdr_ = 0;
};

// Sizes the buffers and lists the peers before any op points into them.
void ReduceScatter::plan() {
  size_t msgs = 0;
  part_.resize(size_t(nsites_));
  from_.resize(size_t(nsites_));
  for (int s = 0; s < nsites_; ++s) {
    if (s == c_.site) continue;
    const auto& there = c_.layout.ranks[size_t(s)];
    for (const Segment& sg : regionMap(c_.layout, c_.site, s, count_))
      if (sg.owner[0] == c_.local_rank) {
        peers_.push_back(there[size_t(sg.owner[1])]);
        ++msgs;  // one header per message received ...
      }
    for (const Segment& sg : regionMap(c_.layout, s, c_.site, count_))
      if (sg.owner[1] == c_.local_rank) {
        peers_.push_back(there[size_t(sg.owner[0])]);
        ++msgs;  // ... and per message sent
      }
    from_[size_t(s)].resize(count_ * es_);
  }
  hdr_.resize(msgs);
}

// My block's partials from every other site land in from_[s].
Status ReduceScatter::postReceives() {
  const size_t first = size_t(c_.local_rank) * count_;
  for (int s = 0; s < nsites_; ++s) {
    if (s == c_.site) continue;
    const auto& there = c_.layout.ranks[size_t(s)];
    const auto segs = regionMap(c_.layout, c_.site, s, count_);
    for (size_t k = 0; k < segs.size(); ++k) {
      if (segs[k].owner[0] != c_.local_rank) continue;
      const int peer = there[size_t(segs[k].owner[1])];
      const uint64_t tag = collTag(ctx_.seq, kPhase, k);  // header and payload match in order
      in_.push_back({next_hdr_, k, segs[k].count, peer});
      if (Status st = add(ctx_.mesh.irecv(peer, hdr_[next_hdr_++].data(), kWireHeaderSize, tag));
          !st)
        return st;
      uint8_t* dst = from_[size_t(s)].data() + (segs[k].offset - first) * es_;
      if (Status st = add(ctx_.mesh.irecv(peer, dst, segs[k].count * es_, tag)); !st) return st;
    }
  }
  return Status();
}

// Step 1 for region s: the adapter's reduce-scatter, then my partial's
// segments go to their owners in site s.
Status ReduceScatter::reduceRegion(int s, const uint8_t* in) {
  const auto blocks = blockPartition(region_[size_t(s) + 1] - region_[size_t(s)], local_);
  std::vector<size_t> counts;
  for (const Block& b : blocks) counts.push_back(b.count);
  const Block mine = blocks[size_t(c_.local_rank)];
  auto& part = part_[size_t(s)];
  part.resize(mine.count * es_);
  if (Status st =
          c_.adapter->reduceScatter(in + region_[size_t(s)] * es_, part.data(), counts, t_, op_);
      !st)
    return st;
  const auto& there = c_.layout.ranks[size_t(s)];
  const auto segs = regionMap(c_.layout, s, c_.site, count_);
  for (size_t k = 0; k < segs.size(); ++k) {
    if (segs[k].owner[1] != c_.local_rank) continue;
    const int peer = there[size_t(segs[k].owner[0])];
    const uint64_t tag = collTag(ctx_.seq, kPhase, k);
    uint8_t* h = hdr_[next_hdr_++].data();
    encodeWireHeader(header(ctx_, t_, op_, k, segs[k].count), h);
    if (Status st = add(ctx_.mesh.isend(peer, h, kWireHeaderSize, tag)); !st) return st;
    const uint8_t* src = part.data() + (segs[k].offset - mine.offset) * es_;
    if (Status st = add(ctx_.mesh.isend(peer, src, segs[k].count * es_, tag)); !st) return st;
  }
  return Status();
}

// Step 3: recv = partial of site 0, then op each next site's, in site order.
Status ReduceScatter::fold(void* recv) {
  for (const In& in : in_)
    if (Status st =
            checkWireHeader(hdr_[in.hdr].data(), kWireHeaderSize,
                            header(ctx_, t_, op_, in.chunk, in.count), ctx_.mesh.name(in.peer));
        !st)
      return Status(st.code(), ctx_.what + ": " + st.message());
  auto partial = [&](int s) {
    return s == c_.site ? part_[size_t(s)].data() : from_[size_t(s)].data();
  };
  std::memcpy(recv, partial(0), count_ * es_);
  for (int s = 1; s < nsites_; ++s) reduceInto(t_, op_, recv, partial(s), count_);
  return Status();
}

Status ReduceScatter::run(const void* send, void* recv) {
  plan();
  // Site-major input: the caller's buffer when sites are runs of ranks.
  const auto* in = static_cast<const uint8_t*>(send);
  std::vector<uint8_t> staging;
  if (!c_.layout.siteMajorIsWorldOrder()) {
    staging.resize(size_t(c_.size) * count_ * es_);
    for (int s = 0; s < nsites_; ++s)
      for (size_t j = 0; j < c_.layout.ranks[size_t(s)].size(); ++j)
        std::memcpy(staging.data() + (region_[size_t(s)] + j * count_) * es_,
                    in + size_t(c_.layout.ranks[size_t(s)][j]) * count_ * es_, count_ * es_);
    in = staging.data();
  }
  if (Status s = ctx_.mesh.connect(peers_, ctx_.deadline); !s) return s;
  Status posted = postReceives();
  for (int s = 0; posted && s < nsites_; ++s)
    if (s != c_.site) posted = reduceRegion(s, in);
  if (!posted) {
    ctx_.mesh.abort(posted);  // posted receives target our buffers
    return posted;
  }
  // Step 2 while step 1's partials travel (when enabled and there is enough to move).
  auto& own = part_[size_t(c_.site)];
  own.resize(count_ * es_);
  const std::vector<size_t> counts(size_t(local_), count_);
  const bool overlap =
      c_.options.gather_overlap && size_t(nsites_ - 1) * count_ * es_ >= kOverlapMinBytes;
  if (Status s = waitAllWhile(
          ctx_.mesh, c_.driver, ops_, ctx_.deadline, ctx_.what,
          [&] {
            return c_.adapter->reduceScatter(in + region_[size_t(c_.site)] * es_, own.data(),
                                             counts, t_, op_);
          },
          overlap);
      !s)
    return s;
  if (Status s = fold(recv); !s) {
    ctx_.mesh.abort(s);
    return s;
  }
  return Status();
}

}  // namespace

Status hierarchicalReduceScatter(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                                 size_t recv_count, DataType t, ReduceOp op) {
  if (recv_count == 0) return Status();
  ReduceScatter rs(c, ctx, recv_count, t, op);
  return rs.run(send, recv);
}

}  // namespace farlink::coll
