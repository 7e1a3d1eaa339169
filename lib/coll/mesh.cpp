#include "coll/mesh.h"

#include <algorithm>
#include <cstdio>
#include <future>

#include "core/byte_order.h"

namespace farlink::coll {
namespace {

constexpr uint64_t kHelloTag = ~uint64_t{0} - 1;
constexpr size_t kHelloSize = 12;  // [u64 group id][u32 rank]

std::chrono::milliseconds until(Deadline d) {
  if (d == Deadline::max()) return std::chrono::milliseconds(-1);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

Result<std::unique_ptr<Mesh>> Mesh::listen(const std::string& host, int rank,
                                           const ChannelOptions& options) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  auto l = Listener::listen("tcp://" + h + ":0", options);
  if (!l)
    return Status(l.status().code(),
                  "rank " + std::to_string(rank) + " cannot listen on " + host +
                      " for collective traffic: " + l.status().toString() +
                      "; set FARLINK_COLL_HOST to an address of this host",
                  l.status().sysErrno());
  return std::make_unique<Mesh>(std::move(l.value()), rank, options);
}

Mesh::Mesh(std::unique_ptr<Listener> listener, int rank, const ChannelOptions& options)
    : listener_(std::move(listener)), rank_(rank), options_(options) {}

Mesh::~Mesh() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  if (acceptor_.joinable()) acceptor_.join();
}

std::string Mesh::uri() const {
  // The listener reports the bound address; replace a wildcard by nothing
  // here: the caller binds a concrete host.
  return listener_->uri();
}

void Mesh::start(std::vector<Peer> peers, uint64_t group_id) {
  peers_ = std::move(peers);
  group_id_ = group_id;
  channels_.assign(peers_.size(), nullptr);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

void Mesh::acceptLoop() {
  while (true) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
    }
    auto ch = listener_->accept(std::chrono::milliseconds(100));
    if (!ch) continue;
    std::shared_ptr<Channel> c(std::move(ch.value()));
    uint8_t hello[kHelloSize];
    auto n = c->recv(hello, sizeof hello, kHelloTag, std::chrono::seconds(10));
    if (!n || n.value() != kHelloSize || get64(hello) != group_id_) {
      std::fprintf(stderr, "farlink coll: rank %d dropped a channel from %s: %s\n", rank_,
                   c->peer().c_str(),
                   n ? "it is not a member of this communicator" : n.status().toString().c_str());
      continue;
    }
    int32_t peer = int32_t(get32(hello + 8));
    std::lock_guard<std::mutex> lk(mu_);
    if (peer < 0 || peer >= rank_ || channels_[size_t(peer)] || !failed_.isOk()) {
      std::fprintf(stderr, "farlink coll: rank %d dropped a channel claiming rank %d from %s\n",
                   rank_, peer, c->peer().c_str());
      continue;
    }
    channels_[size_t(peer)] = std::move(c);
    cv_.notify_all();
  }
}

Status Mesh::connect(const std::vector<int>& peers, Deadline deadline) {
  for (int p : peers) {
    if (p == rank_) continue;
    if (p < 0 || p >= size())
      return Status(StatusCode::kInvalidArgument, "no rank " + std::to_string(p) + " in a group of " +
                                                      std::to_string(size()));
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (!failed_.isOk()) return failed_;
      if (channels_[size_t(p)]) continue;
      if (p < rank_) {
        // The lower rank connects; our accept thread files its channel.
        bool ok = cv_.wait_until(lk, deadline, [&] {
          return channels_[size_t(p)] != nullptr || !failed_.isOk();
        });
        if (!failed_.isOk()) return failed_;
        if (!ok)
          return Status(StatusCode::kTimedOut,
                        "rank " + std::to_string(rank_) + " waited in vain for " + name(p) +
                            " to connect; is it alive and in the same collective?");
        continue;
      }
    }
    // Higher peer: connect, retrying while its listener is busy or not yet up.
    Status last;
    while (true) {
      ChannelOptions o = options_;
      // The connecting side's lane count is the channel's (the acceptor follows).
      if (peers_[size_t(p)].lanes > 0) o.lanes = peers_[size_t(p)].lanes;
      auto left = until(deadline);
      if (left.count() >= 0) o.connect_timeout = std::max(std::chrono::milliseconds(100),
                                                          std::min(left, o.connect_timeout));
      auto ch = Channel::connect(peers_[size_t(p)].uri, o);
      if (ch) {
        uint8_t hello[kHelloSize];
        put64(hello, group_id_);
        put32(hello + 8, uint32_t(rank_));
        std::shared_ptr<Channel> c(std::move(ch.value()));
        last = c->send(hello, sizeof hello, kHelloTag, std::chrono::seconds(10));
        if (last) {
          std::lock_guard<std::mutex> lk(mu_);
          if (!failed_.isOk()) return failed_;
          channels_[size_t(p)] = std::move(c);
          break;
        }
      } else {
        last = ch.status();
      }
      if (Clock::now() + std::chrono::milliseconds(50) >= deadline)
        return Status(last.code(), "rank " + std::to_string(rank_) + " cannot open a channel to " +
                                       name(p) + " at " + peers_[size_t(p)].uri + ": " +
                                       last.toString());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status();
}

Result<std::shared_ptr<Channel>> Mesh::channel(int peer) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!failed_.isOk()) return failed_;
  if (peer < 0 || peer >= size() || !channels_[size_t(peer)])
    return Status(StatusCode::kInvalidArgument,
                  "no open channel from rank " + std::to_string(rank_) + " to rank " +
                      std::to_string(peer) + " (connect() first)");
  return channels_[size_t(peer)];
}

Result<PeerOp> Mesh::isend(int peer, const void* data, size_t bytes, uint64_t tag) {
  auto c = channel(peer);
  if (!c) return c.status();
  auto r = c.value()->isend(data, bytes, tag);
  if (!r)
    return Status(r.status().code(), "send to " + name(peer) + ": " + r.status().toString(),
                  r.status().sysErrno());
  return PeerOp{r.value(), peer, true, bytes};
}

Result<PeerOp> Mesh::irecv(int peer, void* data, size_t bytes, uint64_t tag) {
  auto c = channel(peer);
  if (!c) return c.status();
  auto r = c.value()->irecv(data, bytes, tag);
  if (!r)
    return Status(r.status().code(), "receive from " + name(peer) + ": " + r.status().toString(),
                  r.status().sysErrno());
  return PeerOp{r.value(), peer, false, bytes};
}

Status Mesh::failure(const PeerOp& op, const Status& s, const std::string& what) {
  Status why(s.code(), what + ": " + (op.is_send ? "send to " : "receive from ") + name(op.peer) +
                           " failed: " + s.toString(),
             s.sysErrno());
  abort(why);
  return why;
}

// What a timed-out wait still lacked and what the channel of the first such
// operation moved so far, so that a stall can be told from a slow link.
std::string Mesh::stalled(const std::vector<PeerOp>& ops, size_t pending, const PeerOp& first) {
  size_t sends = 0;
  for (const auto& op : ops)
    if (!op.req.done() && op.is_send) ++sends;
  std::string s = std::to_string(pending) + " of " + std::to_string(ops.size()) +
                  " operations pending (" + std::to_string(sends) + " sends); this " +
                  (first.is_send ? "send of " : "receive of ") + std::to_string(first.expect) +
                  " bytes";
  auto c = channel(first.peer);
  if (!c) return s;
  const ChannelStats st = c.value()->stats();
  int up = 0;
  for (const auto& l : st.lane) up += l.up ? 1 : 0;
  return s + "; the channel to " + name(first.peer) + " moved " + std::to_string(st.bytes_sent) +
         " bytes out and " + std::to_string(st.bytes_received) + " in (" +
         std::to_string(st.unexpected_bytes) + " buffered for receives not posted yet), " +
         std::to_string(up) + " of " + std::to_string(st.lanes) + " lanes up";
}

Status Mesh::waitAll(std::vector<PeerOp>& ops, Deadline deadline, const std::string& what) {
  while (true) {
    PeerOp* first = nullptr;
    size_t pending = 0;
    for (auto& op : ops) {
      if (!op.req.done()) (void)op.req.test();
      if (op.req.done()) {
        if (Status s = op.req.status(); !s) return failure(op, s, what);
        // A shorter message means the peer runs a different collective or count.
        if (!op.is_send && op.req.bytes() != op.expect)
          return failure(op,
                         Status(StatusCode::kProtocolError,
                                "got " + std::to_string(op.req.bytes()) + " bytes, expected " +
                                    std::to_string(op.expect) +
                                    "; do all ranks call the same collective with the same count?"),
                         what);
        continue;
      }
      ++pending;
      if (!first) first = &op;
    }
    if (pending == 0) return Status();
    if (Status f = failed(); !f) return f;
    if (Clock::now() >= deadline)
      return failure(*first,
                     Status(StatusCode::kTimedOut,
                            "not finished before the collective timeout (FARLINK_COLL_TIMEOUT_MS); " +
                                stalled(ops, pending, *first)),
                     what);
    // One pending op: sleep in its channel. Several: visit each briefly, so
    // that every channel involved keeps moving bytes.
    auto slice = pending == 1 ? std::min(until(deadline), std::chrono::milliseconds(100))
                              : std::chrono::milliseconds(1);
    (void)first->req.wait(slice);
  }
}

void Mesh::abort(const Status& why) {
  std::vector<std::shared_ptr<Channel>> doomed;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (failed_.isOk()) failed_ = why;
    doomed.swap(channels_);
    channels_.assign(doomed.size(), nullptr);
    cv_.notify_all();
  }
  // Destroying a channel without close() resets its lanes: peers see it now.
  doomed.clear();
}

Status Mesh::failed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_;
}

void Mesh::closeAll(std::chrono::milliseconds timeout) {
  std::vector<std::shared_ptr<Channel>> open;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& c : channels_)
      if (c) open.push_back(c);
  }
  // In parallel: a close waits for the peer's goodbye, and sequential closes
  // around a ring would wait on each other.
  std::vector<std::future<void>> done;
  for (auto& c : open)
    done.push_back(std::async(std::launch::async, [c, timeout] { (void)c->close(timeout); }));
  for (auto& f : done) f.wait();
}

Status waitAllWhile(Mesh& mesh, Driver& driver, std::vector<PeerOp>& ops, Deadline deadline,
                    const std::string& what, const std::function<Status()>& work, bool overlap) {
  if (!overlap) {
    Status local = work();
    if (!local) {
      mesh.abort(local);  // posted receives target the caller's buffers
      return local;
    }
    return mesh.waitAll(ops, deadline, what);
  }
  Status link;
  Status local;
  {
    // Joined at the end of the scope: the driver must stop touching the
    // buffers before the caller frees them.
    Driver::Scope scope(driver, [&] { link = mesh.waitAll(ops, deadline, what); });
    local = work();
    if (!local) mesh.abort(local);  // ends the driver's wait at once
  }
  return local ? link : local;
}

}  // namespace farlink::coll
