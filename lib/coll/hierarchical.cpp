// Hierarchical cross-site allreduce, pipelined over pieces of the buffer
// (piecePartition, CommunicatorOptions::pipeline_bytes). For each piece:
//   1. the site's adapter reduce-scatters the piece into one block per rank;
//   2. each rank exchanges the segments of its block (shard_map.h) with the
//      segment's owner in every other site — header then payload — and
//      reduces the contributions in site order (the same order everywhere,
//      so every site ends with bit-identical floats);
//   3. the adapter allgathers the piece's blocks.
// Why pieces: the long link is the bottleneck, and without them it idles
// while the site reduce-scatters the whole buffer and again while the site
// allgathers it. Here the calling thread runs every adapter call (step 1 of
// all pieces, then step 3 of each piece as it becomes ready — a fixed order,
// the same on every local rank, as MPI and Gloo require), while the
// communicator's driver thread (driver.h) drives the inter-site channels and
// reduces each piece as it lands.
// Every piece's receives are posted first and its sends as soon as its
// reduce-scatter ends, so the link stays busy from the first piece to the
// last.
#include <array>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "coll/communicator_impl.h"
#include "coll/wire_header.h"

namespace farlink::coll {
namespace {

// Tags and wire indices number segments across pieces: 24 bits of step.
constexpr size_t kMaxSteps = size_t{1} << 24;

// One piece as this rank sees it.
struct Piece {
  Block range;                   // elements of the whole buffer
  std::vector<size_t> counts;    // the site's blocks of this piece
  Block mine;                    // my block (offset within the piece)
  uint8_t* acc = nullptr;        // my block: reduce-scattered, then reduced across sites
  std::vector<Segment> segs;     // my segments, offsets within the piece
  std::vector<size_t> index;     // their step numbers (tag and wire header)
  std::vector<uint8_t> out_hdr;  // one header per segment
  // [k][s]: site s's header and copy of my segment k (mine stays in acc).
  std::vector<std::vector<std::array<uint8_t, kWireHeaderSize>>> in_hdr;
  std::vector<std::vector<uint8_t*>> contrib;
  std::vector<PeerOp> ops;
};

// What the two threads share. posted: pieces whose exchange is posted;
// reduced: pieces reduced across sites (in order).
struct Progress {
  std::mutex mu;
  std::condition_variable cv;
  size_t posted = 0, reduced = 0;
  bool stop = false;  // the adapter side failed: the link side gives up
  Status link;        // the link side's failure
};

class Pipeline {
 public:
  Pipeline(CommunicatorImpl& c, OpContext& ctx, size_t count, DataType t, ReduceOp op)
      : c_(c), ctx_(ctx), t_(t), op_(op), es_(dataTypeSize(t)) {
    const auto ranges = piecePartition(count, es_, c.options.pipeline_bytes, kMaxPieces);
    const int local = int(c.layout.ranks[size_t(c.site)].size());
    size_t step = 0;
    pieces_.resize(ranges.size());
    for (size_t p = 0; p < ranges.size(); ++p) {
      Piece& pc = pieces_[p];
      pc.range = ranges[p];
      auto blocks = blockPartition(pc.range.count, local);
      for (auto& b : blocks) pc.counts.push_back(b.count);
      pc.mine = blocks[size_t(c.local_rank)];
      auto all = shardMap(pc.range.count, c.layout.sizes());
      for (size_t k = 0; k < all.size(); ++k, ++step)
        if (all[k].owner[size_t(c.site)] == c.local_rank) {
          pc.segs.push_back(all[k]);
          pc.index.push_back(step);
        }
    }
    steps_ = step;
    // The other sites' copies live in the communicator's scratch
    // (scratch.h), piece after piece.
    const size_t nsites = c.layout.ranks.size();
    size_t in_bytes = 0;
    for (auto& pc : pieces_)
      for (auto& sg : pc.segs) in_bytes += sg.count * es_ * (nsites - 1);
    uint8_t* in = c.pipeline_in.get(in_bytes);
    for (auto& pc : pieces_) {
      pc.contrib.resize(pc.segs.size());
      for (size_t k = 0; k < pc.segs.size(); ++k) {
        pc.contrib[k].assign(nsites, nullptr);
        for (size_t st = 0; st < nsites; ++st) {
          if (int(st) == c.site) continue;
          pc.contrib[k][st] = in;
          in += pc.segs[k].count * es_;
        }
      }
    }
  }

  Status run(const void* send, void* recv);

 private:
  static constexpr int kMaxPieces = 256;
  int peerOf(const Segment& sg, int site) const {
    return c_.layout.ranks[size_t(site)][size_t(sg.owner[size_t(site)])];
  }
  WireHeader header(const Piece& pc, size_t k) const {
    return WireHeader{WireOp::kAllreduce, t_,          op_,
                      pc.segs[k].count,   pc.index[k], uint32_t(ctx_.seq)};
  }
  Status postReceives(Piece& pc);
  Status postSends(Piece& pc);
  void profile(Clock::time_point t0, Clock::time_point rs_done, Clock::time_point first_ag,
               double ag_wait_ms) const;
  Status reduce(Piece& pc);
  void linkSide();
  Status fail(const Status& why);

  CommunicatorImpl& c_;
  OpContext& ctx_;
  const DataType t_;
  const ReduceOp op_;
  const size_t es_;
  std::vector<Piece> pieces_;
  size_t steps_ = 0;
  Progress pr_;
};

// Posts the receives of piece pc's segments from every other site: all
// pieces' receives go up front, so that whatever arrives early lands in its
// place instead of being buffered as unexpected and copied again.
Status Pipeline::postReceives(Piece& pc) {
  const int nsites = int(c_.layout.ranks.size());
  pc.in_hdr.resize(pc.segs.size());
  for (size_t k = 0; k < pc.segs.size(); ++k) {
    const Segment& sg = pc.segs[k];
    const uint64_t tag = collTag(ctx_.seq, 10, pc.index[k]);
    pc.in_hdr[k].resize(size_t(nsites));
    for (int s = 0; s < nsites; ++s) {
      if (s == c_.site) continue;
      const int peer = peerOf(sg, s);
      // Header, then payload: same tag, matched in send order.
      for (auto r : {ctx_.mesh.irecv(peer, pc.in_hdr[k][size_t(s)].data(), kWireHeaderSize, tag),
                     ctx_.mesh.irecv(peer, pc.contrib[k][size_t(s)], sg.count * es_, tag)}) {
        if (!r) return r.status();
        pc.ops.push_back(r.value());
      }
    }
  }
  return Status();
}

// Sends header and payload of each of piece pc's segments (from acc, once
// reduce-scattered) to the segment's owner in every other site.
Status Pipeline::postSends(Piece& pc) {
  const int nsites = int(c_.layout.ranks.size());
  pc.out_hdr.resize(pc.segs.size() * kWireHeaderSize);
  for (size_t k = 0; k < pc.segs.size(); ++k) {
    const Segment& sg = pc.segs[k];
    const uint64_t tag = collTag(ctx_.seq, 10, pc.index[k]);
    uint8_t* hdr = pc.out_hdr.data() + k * kWireHeaderSize;
    encodeWireHeader(header(pc, k), hdr);
    const uint8_t* payload = pc.acc + (sg.offset - pc.mine.offset) * es_;
    for (int s = 0; s < nsites; ++s) {
      if (s == c_.site) continue;
      const int peer = peerOf(sg, s);
      for (auto r : {ctx_.mesh.isend(peer, hdr, kWireHeaderSize, tag),
                     ctx_.mesh.isend(peer, payload, sg.count * es_, tag)}) {
        if (!r) return r.status();
        pc.ops.push_back(r.value());
      }
    }
  }
  return Status();
}

// Checks the headers and folds the other sites' copies into acc, in site
// order: site 0's copy first, then each next site's.
Status Pipeline::reduce(Piece& pc) {
  const int nsites = int(c_.layout.ranks.size());
  for (size_t k = 0; k < pc.segs.size(); ++k) {
    const Segment& sg = pc.segs[k];
    uint8_t* mine = pc.acc + (sg.offset - pc.mine.offset) * es_;
    for (int s = 0; s < nsites; ++s) {
      if (s == c_.site) continue;
      if (Status st = checkWireHeader(pc.in_hdr[k][size_t(s)].data(), kWireHeaderSize,
                                      header(pc, k), ctx_.mesh.name(peerOf(sg, s)));
          !st)
        return Status(st.code(), ctx_.what + ": " + st.message());
    }
    // Every site computes ((site 0 op site 1) op site 2) ...; the ops are
    // commutative, so "a op b" and "b op a" are bit-identical and sites 0
    // and 1 fold straight into their own copy. Later sites start from site
    // 0's copy and copy the result over theirs.
    if (c_.site <= 1) {
      reduceInto(t_, op_, mine, pc.contrib[k][size_t(1 - c_.site)], sg.count);
      for (int s = 2; s < nsites; ++s) reduceInto(t_, op_, mine, pc.contrib[k][size_t(s)], sg.count);
    } else {
      uint8_t* result = pc.contrib[k][0];
      for (int s = 1; s < nsites; ++s)
        reduceInto(t_, op_, result, s == c_.site ? mine : pc.contrib[k][size_t(s)], sg.count);
      std::memcpy(mine, result, sg.count * es_);
    }
  }
  return Status();
}

// The link side, on the driver thread: waits for each piece's exchange in
// order (waitAll drives the channels, which moves later pieces' bytes too)
// and reduces it.
void Pipeline::linkSide() {
  for (size_t p = 0; p < pieces_.size(); ++p) {
    {
      std::unique_lock<std::mutex> lk(pr_.mu);
      pr_.cv.wait(lk, [&] { return pr_.stop || pr_.posted > p; });
      if (pr_.stop) return;
    }
    Piece& pc = pieces_[p];
    Status s = ctx_.mesh.waitAll(pc.ops, ctx_.deadline, ctx_.what);
    if (s) s = reduce(pc);
    std::lock_guard<std::mutex> lk(pr_.mu);
    if (!s) {
      ctx_.mesh.abort(s);  // peers learn now; waitAll already did on its own failures
      pr_.link = s;
    } else {
      pr_.reduced = p + 1;
    }
    pr_.cv.notify_all();
    if (!s) return;
  }
}

// An adapter-side failure: the link side must stop touching our buffers.
Status Pipeline::fail(const Status& why) {
  ctx_.mesh.abort(why);
  std::lock_guard<std::mutex> lk(pr_.mu);
  pr_.stop = true;
  pr_.cv.notify_all();
  return why;
}

Status Pipeline::run(const void* send, void* recv) {
  if (steps_ > kMaxSteps)
    return Status(StatusCode::kInvalidArgument,
                  ctx_.what + ": " + std::to_string(steps_) +
                      " inter-site segments exceed the tag space; raise pipeline_bytes "
                      "(FARLINK_COLL_PIPELINE_BYTES)");
  std::vector<int> peers;
  for (auto& pc : pieces_)
    for (auto& sg : pc.segs)
      for (int s = 0; s < int(c_.layout.ranks.size()); ++s)
        if (s != c_.site) peers.push_back(peerOf(sg, s));
  if (Status s = ctx_.mesh.connect(peers, ctx_.deadline); !s) return s;
  // Each piece's block is reduce-scattered and reduced where the allgather
  // wants it, in recv (the allgather then runs in place: no copy), unless
  // recv overlaps the input, which later pieces still read; then in scratch.
  const auto* in = static_cast<const uint8_t*>(send);
  auto* out = static_cast<uint8_t*>(recv);
  const size_t total = pieces_.empty() ? 0 : (pieces_.back().range.offset + pieces_.back().range.count) * es_;
  const bool overlaps = out < in + total && in < out + total;
  size_t acc_bytes = 0;
  for (auto& pc : pieces_) acc_bytes += pc.mine.count * es_;
  uint8_t* acc = overlaps ? c_.pipeline_acc.get(acc_bytes) : nullptr;
  for (auto& pc : pieces_) {
    if (overlaps) {
      pc.acc = acc;
      acc += pc.mine.count * es_;
    } else {
      pc.acc = out + (pc.range.offset + pc.mine.offset) * es_;
    }
  }
  for (auto& pc : pieces_)
    if (Status s = postReceives(pc); !s) {
      ctx_.mesh.abort(s);  // receives already posted target our buffers
      return s;
    }

  // The communicator's driver thread runs the link side; joined on every
  // path out of here, because it uses this frame's buffers.
  Driver::Scope link(c_.driver, [this] { linkSide(); });

  const auto t0 = Clock::now();
  for (size_t p = 0; p < pieces_.size(); ++p) {
    Piece& pc = pieces_[p];
    if (Status s = c_.adapter->reduceScatter(in + pc.range.offset * es_, pc.acc, pc.counts,
                                             t_, op_);
        !s)
      return fail(s);
    if (Status s = postSends(pc); !s) return fail(s);
    std::lock_guard<std::mutex> lk(pr_.mu);
    pr_.posted = p + 1;
    pr_.cv.notify_all();
  }
  const auto rs_done = Clock::now();
  Clock::time_point first_ag{};
  double ag_wait_ms = 0;
  for (size_t p = 0; p < pieces_.size(); ++p) {
    const auto w0 = Clock::now();
    {
      std::unique_lock<std::mutex> lk(pr_.mu);
      // The link side ends every wait: a piece reduced, or its failure
      // (waitAll honours the deadline).
      pr_.cv.wait(lk, [&] { return pr_.reduced > p || !pr_.link.isOk(); });
      if (!pr_.link.isOk()) return pr_.link;
    }
    ag_wait_ms += std::chrono::duration<double, std::milli>(Clock::now() - w0).count();
    if (p == 0) first_ag = Clock::now();
    Piece& pc = pieces_[p];
    if (Status s = c_.adapter->allgather(pc.acc, out + pc.range.offset * es_, pc.counts, t_); !s)
      return fail(s);
  }
  if (std::getenv("FARLINK_COLL_PROFILE")) profile(t0, rs_done, first_ag, ag_wait_ms);
  return Status();
}

// FARLINK_COLL_PROFILE: where the time of one allreduce went, for tuning.
// Phases overlap; "waited for the link" is the time the adapter side sat idle.
void Pipeline::profile(Clock::time_point t0, Clock::time_point rs_done, Clock::time_point first_ag,
                       double ag_wait_ms) const {
  auto ms = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - t0).count();
  };
  std::fprintf(stderr,
               "farlink coll profile: rank %d, %s: %zu pieces; reduce-scatters done at %.1f ms, "
               "first piece back at %.1f ms, waited for the link %.1f ms, done at %.1f ms\n",
               c_.rank, ctx_.what.c_str(), pieces_.size(), ms(rs_done), ms(first_ag), ag_wait_ms,
               ms(Clock::now()));
}

}  // namespace

Status hierarchicalAllreduce(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                             size_t count, DataType t, ReduceOp op) {
  Pipeline p(c, ctx, count, t, op);
  return p.run(send, recv);
}

}  // namespace farlink::coll
