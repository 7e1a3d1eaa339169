// What a Communicator holds: the world mesh, the site layout, this site's
// adapter, the worker thread that runs collectives in call order and the
// driver thread that moves inter-site bytes beside it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coll/adapter.h"
#include "coll/algorithms.h"
#include "coll/driver.h"
#include "coll/scratch.h"
#include "coll/store.h"
#include "farlink/collective.h"

namespace farlink {

class CollState {
 public:
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  // Point-to-point operations wrap a channel request instead.
  Request p2p;
  bool is_p2p = false;
  size_t expect = 0;
  std::string what;
};

struct SiteLayout {
  std::vector<std::string> names;             // by site id
  std::vector<std::vector<int>> ranks;        // world ranks of each site, local-rank order
  std::vector<int> site_of;                   // by world rank
  std::vector<int> sizes() const {
    std::vector<int> s;
    for (auto& r : ranks) s.push_back(int(r.size()));
    return s;
  }
  // Site-major order (site 0's ranks, then site 1's, ...) is world-rank
  // order when every site's ranks are consecutive; hierarchical allgather and
  // reduce-scatter then work in the caller's buffers without a copy.
  bool siteMajorIsWorldOrder() const {
    int next = 0;
    for (auto& site : ranks)
      for (int r : site)
        if (r != next++) return false;
    return true;
  }
};

class CommunicatorImpl {
 public:
  using Task = std::function<Status(coll::OpContext&)>;

  ~CommunicatorImpl();
  // Queues `task` behind earlier collectives; `what` names it in errors.
  CollRequest submit(std::string what, Task task);
  void startWorker();

  CommunicatorOptions options;
  int rank = 0, size = 0;
  int site = 0, local_rank = 0;
  SiteLayout layout;
  std::unique_ptr<coll::Mesh> mesh;
  std::unique_ptr<coll::AdapterComm> adapter;
  // One site: the site's own library runs every collective it offers (its
  // local ranks are the world ranks, in order).
  bool singleSite() const { return layout.names.size() == 1; }

  // Drives inter-site transfers beside the worker (overlap, allreduce
  // pipeline); outlives every collective, so its io_uring reads stay armed.
  coll::Driver driver;

  // The allreduce pipeline's incoming copies and, in place, its blocks
  // (hierarchical.cpp), reused from one collective to the next (the worker
  // runs one at a time).
  coll::Scratch pipeline_acc, pipeline_in;

  coll::Group world;  // world ranks in rank order
  coll::Group ring;   // world ranks ordered by site, so a ring crosses sites only siteCount times

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_ptr<CollState>, Task>> queue_;
  bool stop_ = false;
  Status broken_;
  uint64_t seq_ = 0;
  std::thread worker_;
};

namespace coll {
// Joins the rendezvous, builds the layout and mesh, starts the adapter.
Status bootstrap(CommunicatorImpl& c);
// adapter reduce-scatter → inter-site exchange of each shard → adapter allgather.
Status hierarchicalAllreduce(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                             size_t count, DataType t, ReduceOp op);
// adapter allgather within the site → each rank's block crosses to every
// other site (spread over their ranks) → adapter allgather of each other
// site's blocks. recv gets size() * count elements in world-rank order.
Status hierarchicalAllgather(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                             size_t count, DataType t);
// adapter reduce-scatter of each site's blocks → partial results cross to
// the blocks' owners → reduced there in site order. kAvg sums (the caller
// divides). recv gets this rank's block.
Status hierarchicalReduceScatter(CommunicatorImpl& c, OpContext& ctx, const void* send, void* recv,
                                 size_t recv_count, DataType t, ReduceOp op);
// root's site broadcasts (adapter) → shards cross to every other site →
// each other site allgathers (adapter). In place in buf.
Status hierarchicalBroadcast(CommunicatorImpl& c, OpContext& ctx, void* buf, size_t count,
                             DataType t, int root);
}  // namespace coll

}  // namespace farlink
