// Communicator: the public API, the worker thread that runs collectives in
// call order, and the choice of algorithm for each.
#include <cstring>

#include "coll/communicator_impl.h"

namespace farlink {

using coll::Clock;
using coll::OpContext;

// ---- CollRequest ----

CollRequest::CollRequest(std::shared_ptr<CollState> state) : state_(std::move(state)) {}

namespace {
Status finishP2p(CollState& s, Status st) {
  if (st && s.p2p.bytes() != s.expect && s.p2p.status().isOk())
    st = Status(StatusCode::kInvalidArgument, s.what + ": the message has " +
                                                  std::to_string(s.p2p.bytes()) +
                                                  " bytes, expected " + std::to_string(s.expect));
  else if (!st)
    st = Status(st.code(), s.what + ": " + st.toString(), st.sysErrno());
  return st;
}
}  // namespace

bool CollRequest::test() {
  if (!state_) return true;
  if (state_->is_p2p) return state_->p2p.test();
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->done;
}

Status CollRequest::wait(std::chrono::milliseconds timeout) {
  if (!state_) return Status(StatusCode::kInvalidArgument, "wait on an empty CollRequest");
  if (state_->is_p2p) {
    Status s = state_->p2p.wait(timeout);
    if (s.code() == StatusCode::kTimedOut && !state_->p2p.done()) return s;
    return finishP2p(*state_, s);
  }
  std::unique_lock<std::mutex> lk(state_->mu);
  auto done = [&] { return state_->done; };
  if (timeout.count() < 0) state_->cv.wait(lk, done);
  else if (!state_->cv.wait_for(lk, timeout, done))
    return Status(StatusCode::kTimedOut, state_->what + " is still running");
  return state_->status;
}

// ---- CommunicatorImpl ----

CommunicatorImpl::~CommunicatorImpl() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  adapter.reset();
  if (mesh && mesh->failed().isOk()) mesh->closeAll(std::chrono::seconds(5));
}

void CommunicatorImpl::startWorker() { worker_ = std::thread([this] { run(); }); }

CollRequest CommunicatorImpl::submit(std::string what, Task task) {
  auto st = std::make_shared<CollState>();
  st->what = std::move(what);
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.emplace_back(st, std::move(task));
  }
  cv_.notify_all();
  return CollRequest(st);
}

void CommunicatorImpl::run() {
  while (true) {
    std::shared_ptr<CollState> st;
    Task task;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ with nothing left to run
      st = std::move(queue_.front().first);
      task = std::move(queue_.front().second);
      queue_.pop_front();
    }
    Status s;
    if (!broken_.isOk()) {
      s = Status(broken_.code(), st->what + ": the communicator failed earlier (" +
                                     broken_.toString() + "); create a new one");
    } else {
      OpContext ctx{*mesh, seq_++, Clock::now() + options.timeout, st->what};
      s = task(ctx);
      if (!s) {
        if (s.message().find(st->what) == std::string::npos)
          s = Status(s.code(), st->what + ": " + s.message(), s.sysErrno());
        broken_ = s;
        // Peers blocked on us must learn now, not at their timeout.
        mesh->abort(s);
      }
    }
    std::lock_guard<std::mutex> lk(st->mu);
    st->status = std::move(s);
    st->done = true;
    st->cv.notify_all();
  }
}

// ---- Communicator ----

Result<std::unique_ptr<Communicator>> Communicator::create(const CommunicatorOptions& options) {
  if (Status s = options.validate(); !s) return s;
  auto impl = std::make_unique<CommunicatorImpl>();
  impl->options = options;
  if (Status s = coll::bootstrap(*impl); !s) return s;
  impl->startWorker();
  return std::make_unique<Communicator>(std::move(impl));
}

Communicator::Communicator(std::unique_ptr<CommunicatorImpl> impl) : impl_(std::move(impl)) {}
Communicator::~Communicator() = default;

int Communicator::rank() const { return impl_->rank; }
int Communicator::size() const { return impl_->size; }
int Communicator::siteId() const { return impl_->site; }
int Communicator::siteCount() const { return int(impl_->layout.names.size()); }
int Communicator::localRank() const { return impl_->local_rank; }
int Communicator::localSize() const {
  return int(impl_->layout.ranks[size_t(impl_->site)].size());
}
std::string_view Communicator::siteName() const { return impl_->layout.names[size_t(impl_->site)]; }
std::string_view Communicator::adapterName() const { return impl_->adapter->name(); }

namespace {

std::string describe(const char* op, const char* algo, DataType t, ReduceOp r, size_t count,
                     bool with_op = true) {
  std::string s = std::string(op) + " (" + algo + ", " + std::string(dataTypeName(t));
  if (with_op) s += " " + std::string(reduceOpName(r));
  return s + ", " + std::to_string(count) + " elements)";
}

CollRequest failed(Status s) {
  auto st = std::make_shared<CollState>();
  st->done = true;
  st->status = std::move(s);
  return CollRequest(st);
}

}  // namespace

CollRequest Communicator::iallreduce(const void* send, void* recv, size_t count, DataType t,
                                     ReduceOp op, CollAlgorithm algo) {
  CommunicatorImpl* c = impl_.get();
  if (algo == CollAlgorithm::kAuto) algo = c->options.allreduce_algorithm;
  if (algo == CollAlgorithm::kAuto) algo = CollAlgorithm::kHierarchical;
  const char* name = algo == CollAlgorithm::kRing              ? "ring"
                     : algo == CollAlgorithm::kHalvingDoubling ? "halving-doubling"
                     : c->singleSite()                         ? "adapter"
                                                               : "hierarchical";
  return c->submit(describe("allreduce", name, t, op, count), [=](OpContext& ctx) -> Status {
    size_t bytes = count * dataTypeSize(t);
    if (algo == CollAlgorithm::kHierarchical) {
      Status s = c->singleSite()
                     ? c->adapter->allreduce(send, recv, count, t, op)
                     : coll::hierarchicalAllreduce(*c, ctx, send, recv, count, t, op);
      if (!s) return s;
    } else {
      if (send != recv) std::memcpy(recv, send, bytes);
      Status s = algo == CollAlgorithm::kRing
                     ? coll::ringAllreduce(ctx, c->ring, recv, count, t, op)
                     : coll::halvingDoublingAllreduce(ctx, c->ring, recv, count, t, op);
      if (!s) return s;
    }
    if (op == ReduceOp::kAvg) divideBy(t, recv, count, c->size);
    return Status();
  });
}

namespace {
// Reduce-scatter and allgather. kAuto: the site's adapter within one site;
// across sites the flat ring, because on loopback (no long link) the
// hierarchical forms were mostly slower (time ratios 0.63-1.45, farlink
// coll, 4 and 5 ranks in 2 sites, 64 KiB-16 MiB; see farlink-coll(1)):
// their gain is time on a long link, which loopback cannot show (across
// farlink-wanem, 15 ms one-way, they took 0.75-1.08 of the ring's time). kHierarchical: the
// adapter within one site, the hierarchical form across sites. kRing: the
// flat ring over every rank. kHalvingDoubling is not offered (kAuto back).
CollAlgorithm resolveGather(const CommunicatorImpl& c, CollAlgorithm algo) {
  if (algo == CollAlgorithm::kAuto)
    return c.singleSite() ? CollAlgorithm::kHierarchical : CollAlgorithm::kRing;
  return algo;
}

const char* gatherName(const CommunicatorImpl& c, CollAlgorithm resolved) {
  if (resolved == CollAlgorithm::kRing) return "ring";
  return c.singleSite() ? "adapter" : "hierarchical";
}

Status notOffered(const char* op) {
  return Status(StatusCode::kInvalidArgument,
                std::string(op) +
                    ": halving-doubling is an allreduce algorithm; use auto, ring "
                    "or hierarchical");
}
}  // namespace

CollRequest Communicator::ireduceScatter(const void* send, void* recv, size_t recv_count,
                                         DataType t, ReduceOp op, CollAlgorithm algo) {
  CommunicatorImpl* c = impl_.get();
  if (algo == CollAlgorithm::kHalvingDoubling) return failed(notOffered("reduce-scatter"));
  algo = resolveGather(*c, algo);
  const char* name = gatherName(*c, algo);
  return c->submit(
      describe("reduce-scatter", name, t, op, recv_count), [=](OpContext& ctx) -> Status {
        size_t es = dataTypeSize(t);
        Status s;
        if (algo != CollAlgorithm::kRing && c->singleSite()) {
          s = c->adapter->reduceScatter(send, recv,
                                        std::vector<size_t>(size_t(c->size), recv_count), t, op);
        } else if (algo != CollAlgorithm::kRing) {
          s = coll::hierarchicalReduceScatter(*c, ctx, send, recv, recv_count, t, op);
        } else {
          std::vector<uint8_t> work(size_t(c->size) * recv_count * es);
          std::memcpy(work.data(), send, work.size());
          // Block of ring member g is the block of its world rank.
          std::vector<coll::Block> blocks;
          for (int r : c->ring.ranks) blocks.push_back({size_t(r) * recv_count, recv_count});
          s = coll::ringReduceScatter(ctx, c->ring, work.data(), blocks, t, op, 1);
          if (s)
            std::memcpy(recv, work.data() + size_t(c->rank) * recv_count * es, recv_count * es);
        }
        if (s && op == ReduceOp::kAvg) divideBy(t, recv, recv_count, c->size);
        return s;
      });
}

CollRequest Communicator::iallgather(const void* send, void* recv, size_t count, DataType t,
                                     CollAlgorithm algo) {
  CommunicatorImpl* c = impl_.get();
  if (algo == CollAlgorithm::kHalvingDoubling) return failed(notOffered("allgather"));
  algo = resolveGather(*c, algo);
  const char* name = gatherName(*c, algo);
  return c->submit(
      describe("allgather", name, t, ReduceOp::kSum, count, false), [=](OpContext& ctx) -> Status {
        if (algo != CollAlgorithm::kRing && c->singleSite())
          return c->adapter->allgather(send, recv, std::vector<size_t>(size_t(c->size), count), t);
        if (algo != CollAlgorithm::kRing)
          return coll::hierarchicalAllgather(*c, ctx, send, recv, count, t);
        size_t es = dataTypeSize(t);
        auto* r = static_cast<uint8_t*>(recv);
        std::memmove(r + size_t(c->rank) * count * es, send, count * es);
        std::vector<coll::Block> blocks;
        for (int w : c->ring.ranks) blocks.push_back({size_t(w) * count, count});
        return coll::ringAllgather(ctx, c->ring, recv, blocks, t, 2);
      });
}

CollRequest Communicator::ibroadcast(void* buf, size_t count, DataType t, int root) {
  CommunicatorImpl* c = impl_.get();
  if (root < 0 || root >= c->size)
    return failed(Status(StatusCode::kInvalidArgument, "broadcast: root " + std::to_string(root) +
                                                           " is not a rank"));
  return c->submit(describe("broadcast", c->singleSite() ? "adapter" : "hierarchical", t,
                            ReduceOp::kSum, count, false) +
                       " from " + std::to_string(root),
                   [=](OpContext& ctx) {
                     if (c->singleSite()) return c->adapter->broadcast(buf, count, t, root);
                     return coll::hierarchicalBroadcast(*c, ctx, buf, count, t, root);
                   });
}

CollRequest Communicator::ireduce(const void* send, void* recv, size_t count, DataType t,
                                  ReduceOp op, int root) {
  CommunicatorImpl* c = impl_.get();
  if (root < 0 || root >= c->size)
    return failed(Status(StatusCode::kInvalidArgument, "reduce: root " + std::to_string(root) +
                                                           " is not a rank"));
  return c->submit(describe("reduce", "binomial", t, op, count) + " to " + std::to_string(root),
                   [=](OpContext& ctx) -> Status {
    size_t bytes = count * dataTypeSize(t);
    std::vector<uint8_t> acc(static_cast<const uint8_t*>(send),
                             static_cast<const uint8_t*>(send) + bytes);
    if (Status s = coll::binomialReduce(ctx, c->world, acc.data(), count, t, op, root); !s)
      return s;
    if (c->rank == root) {
      std::memcpy(recv, acc.data(), bytes);
      if (op == ReduceOp::kAvg) divideBy(t, recv, count, c->size);
    }
    return Status();
  });
}

CollRequest Communicator::ibarrier() {
  CommunicatorImpl* c = impl_.get();
  return c->submit("barrier", [=](OpContext& ctx) {
    return c->singleSite() ? c->adapter->barrier() : coll::disseminationBarrier(ctx, c->world);
  });
}

CollRequest Communicator::ialltoall(const void* send, void* recv, size_t count, DataType t) {
  CommunicatorImpl* c = impl_.get();
  if (send == recv)
    return failed(Status(StatusCode::kInvalidArgument, "alltoall: send and recv must differ"));
  return c->submit(describe("alltoall", "pairwise", t, ReduceOp::kSum, count, false),
                   [=](OpContext& ctx) {
                     return coll::pairwiseAlltoall(ctx, c->world, send, recv,
                                                   count * dataTypeSize(t));
                   });
}

namespace {
CollRequest p2p(CommunicatorImpl* c, bool is_send, void* buf, size_t bytes, int peer,
                uint32_t tag) {
  std::string what = std::string(is_send ? "send to " : "receive from ") +
                     (peer >= 0 && peer < c->size ? c->mesh->name(peer) : std::to_string(peer)) +
                     " (tag " + std::to_string(tag) + ")";
  if (peer < 0 || peer >= c->size || peer == c->rank)
    return failed(Status(StatusCode::kInvalidArgument, what + ": not another rank"));
  if (Status s = c->mesh->connect({peer}, Clock::now() + c->options.timeout); !s)
    return failed(Status(s.code(), what + ": " + s.message()));
  auto r = is_send ? c->mesh->isend(peer, buf, bytes, coll::p2pTag(tag))
                   : c->mesh->irecv(peer, buf, bytes, coll::p2pTag(tag));
  if (!r) return failed(Status(r.status().code(), what + ": " + r.status().message()));
  auto st = std::make_shared<CollState>();
  st->is_p2p = true;
  st->p2p = r->req;
  st->expect = bytes;
  st->what = what;
  return CollRequest(st);
}
}  // namespace

CollRequest Communicator::isend(const void* buf, size_t bytes, int peer, uint32_t tag) {
  return p2p(impl_.get(), true, const_cast<void*>(buf), bytes, peer, tag);
}
CollRequest Communicator::irecv(void* buf, size_t bytes, int peer, uint32_t tag) {
  return p2p(impl_.get(), false, buf, bytes, peer, tag);
}

Status Communicator::allreduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op,
                               CollAlgorithm algo) {
  return iallreduce(send, recv, count, t, op, algo).wait();
}
Status Communicator::reduceScatter(const void* send, void* recv, size_t recv_count, DataType t,
                                   ReduceOp op, CollAlgorithm algo) {
  return ireduceScatter(send, recv, recv_count, t, op, algo).wait();
}
Status Communicator::allgather(const void* send, void* recv, size_t count, DataType t,
                               CollAlgorithm algo) {
  return iallgather(send, recv, count, t, algo).wait();
}
Status Communicator::broadcast(void* buf, size_t count, DataType t, int root) {
  return ibroadcast(buf, count, t, root).wait();
}
Status Communicator::reduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op,
                            int root) {
  return ireduce(send, recv, count, t, op, root).wait();
}
Status Communicator::barrier() { return ibarrier().wait(); }
Status Communicator::alltoall(const void* send, void* recv, size_t count, DataType t) {
  return ialltoall(send, recv, count, t).wait();
}
Status Communicator::send(const void* buf, size_t bytes, int peer, uint32_t tag) {
  return isend(buf, bytes, peer, tag).wait();
}
Status Communicator::recv(void* buf, size_t bytes, int peer, uint32_t tag) {
  return irecv(buf, bytes, peer, tag).wait();
}

}  // namespace farlink
