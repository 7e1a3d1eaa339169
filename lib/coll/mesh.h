// A group of ranks that reach each other over farlink channels: one channel
// per peer pair, opened lazily (the lower rank connects, the higher one's
// accept thread files the channel by the hello it carries), tags keep
// operations apart. Algorithms post isend/irecv on it and wait for a set of
// requests together (waitAll), which drives every channel involved so that
// a ring cannot deadlock on one blocked direction.
//
// Thread-safe. Any failure in waitAll aborts the whole mesh (every channel is
// closed abortively) so that peers waiting on us fail at once instead of
// timing out, and so that no channel still writes into a buffer the caller
// is about to free.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coll/driver.h"
#include "farlink/channel.h"

namespace farlink::coll {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Tag layout: [op sequence: 32][phase: 8][step: 24]. Point-to-point messages
// set the top bit instead; the hello uses a value no sequence reaches.
inline uint64_t collTag(uint64_t seq, unsigned phase, uint64_t step) {
  return ((seq & 0x7fffffffu) << 32) | (uint64_t(phase & 0xff) << 24) | (step & 0xffffff);
}
inline uint64_t p2pTag(uint32_t tag) { return (uint64_t{1} << 63) | tag; }

struct PeerOp {
  Request req;
  int peer = -1;
  bool is_send = false;
  size_t expect = 0;  // receives: the size the peer must send
};

class Mesh {
 public:
  struct Peer {
    std::string uri;   // where its listener accepts
    std::string name;  // "rank 3 (site b)"
    int lanes = 0;     // lanes of the channel to it; 0: the mesh's ChannelOptions
  };

  // Listens on tcp://host:0. Call start() once the peers are known.
  static Result<std::unique_ptr<Mesh>> listen(const std::string& host, int rank,
                                              const ChannelOptions& options);
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  std::string uri() const;
  // Fixes the peer table (index = rank) and the id every hello must carry.
  void start(std::vector<Peer> peers, uint64_t group_id);

  int rank() const { return rank_; }
  int size() const { return int(peers_.size()); }
  const std::string& name(int peer) const { return peers_[size_t(peer)].name; }

  // Opens the channels to `peers` that are not open yet.
  Status connect(const std::vector<int>& peers, Deadline deadline);
  Result<PeerOp> isend(int peer, const void* data, size_t bytes, uint64_t tag);
  Result<PeerOp> irecv(int peer, void* data, size_t bytes, uint64_t tag);
  // Waits for every op; the first failure aborts the mesh. `what` names the
  // collective for the error message.
  Status waitAll(std::vector<PeerOp>& ops, Deadline deadline, const std::string& what);

  // Closes every channel abortively; later calls fail with `why`.
  void abort(const Status& why);
  Status failed() const;
  // Graceful close of every channel, in parallel (bounded by `timeout`).
  void closeAll(std::chrono::milliseconds timeout);

  Mesh(std::unique_ptr<Listener> listener, int rank, const ChannelOptions& options);

 private:
  void acceptLoop();
  Result<std::shared_ptr<Channel>> channel(int peer);
  Status failure(const PeerOp& op, const Status& s, const std::string& what);
  std::string stalled(const std::vector<PeerOp>& ops, size_t pending, const PeerOp& first);

  std::unique_ptr<Listener> listener_;
  const int rank_;
  ChannelOptions options_;
  std::vector<Peer> peers_;
  uint64_t group_id_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Channel>> channels_;
  Status failed_;
  bool stop_ = false;
  std::thread acceptor_;
};

// Channels move bytes only while someone drives them, so a hierarchical
// collective that wants its inter-site transfer to overlap an adapter call
// runs waitAll(ops) on the communicator's driver thread (driver.h) while
// `work` (the adapter call) runs on this one — when `overlap` is set; else
// `work` first, then waitAll here. A failure of `work` aborts the mesh,
// which ends the wait at once; returns work's failure, else waitAll's.
// Blocks until both are done.
Status waitAllWhile(Mesh& mesh, Driver& driver, std::vector<PeerOp>& ops, Deadline deadline,
                    const std::string& what, const std::function<Status()>& work, bool overlap);

// Below this many bytes crossing sites per rank, handing the transfer to the
// driver thread costs more than it saves: on loopback (4 ranks in 2 sites, 2
// busy cores) a 1 KiB-256 KiB allgather took 1.5-3x as long with the
// second thread, and now and then several ms while it waited for a core.
// CommunicatorOptions::gather_overlap (FARLINK_COLL_GATHER_OVERLAP) turns
// the overlap of the hierarchical allgather and reduce-scatter on (default)
// or off.
// One overlapped reduce-scatter (1+2+2 sites, load 8) once stopped moving
// bytes until the collective timeout, with a fresh thread per collective;
// it was not seen again in some 170,000 overlapped collectives since.
inline constexpr size_t kOverlapMinBytes = size_t{1} << 20;

}  // namespace farlink::coll
