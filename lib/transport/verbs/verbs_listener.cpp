// Server side of the verbs datapath: accepts rdma_cm connection requests
// (one per lane), runs their handshakes concurrently, groups lanes by
// session like the TCP listener and hands out a channel once all of a
// session's lanes have arrived. A bad peer is refused and recorded.
#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>

#include "transport/verbs/verbs_channel.h"
#include "transport/verbs/verbs_connect.h"

namespace farlink::tcp {
std::string hexOf(const uint8_t* p, size_t n);
}

namespace farlink::verbs {
namespace {

constexpr size_t kMaxPendingHandshakes = 1024;
constexpr size_t kMaxPendingSessions = 256;
constexpr size_t kMaxRejectionsKept = 1024;
// How long a refused lane stays up so that the peer can read why.
constexpr auto kRefusalLinger = std::chrono::milliseconds(1000);

struct PendingLane {
  std::unique_ptr<Lane> lane;
  std::unique_ptr<ServerHandshake> hs;
  Deadline deadline;
  bool finished = false;
  bool refusing = false;  // the refusal is on its way; drop once sent
};

struct PendingSession {
  wire::Hello first;
  std::string peer;
  std::vector<std::unique_ptr<Lane>> lanes;
  int have = 0;
  Deadline deadline;
};

class VerbsListener final : public ListenerImpl {
 public:
  VerbsListener(UniqueEventChannel ec, UniqueCmId id, Uri uri, ChannelOptions o)
      : ec_(std::move(ec)), id_(std::move(id)), uri_(std::move(uri)), opts_(std::move(o)) {
    uri_.port = ntohs(rdma_get_src_port(id_.get()));
  }
  ~VerbsListener() override {
    pending_.clear();
    sessions_.clear();
  }

  uint16_t port() const override { return uri_.port; }
  std::string uri() const override { return "verbs://" + uri_.hostPort(); }
  std::vector<Status> rejections() override {
    std::lock_guard lk(rej_mu_);
    return std::exchange(rejections_, {});
  }

  Result<std::shared_ptr<ChannelImpl>> accept(Deadline deadline) override {
    std::lock_guard lk(mu_);
    for (;;) {
      expire();
      handleEvents();
      for (auto& p : pending_) advance(p);
      std::erase_if(pending_, [](const auto& p) { return !p; });
      if (auto ch = takeReadySession()) return ch;
      if (Clock::now() >= deadline)
        return Status(StatusCode::kTimedOut, "no channel arrived on " + uri() + " in time");
      std::vector<Lane*> lanes;
      for (auto& p : pending_) lanes.push_back(p->lane.get());
      waitForLanes(ec_.get(), lanes, deadline);
    }
  }

 private:
  void reject(Status s) {
    std::lock_guard lk(rej_mu_);
    if (rejections_.size() < kMaxRejectionsKept) rejections_.push_back(std::move(s));
  }

  PendingLane* findPending(Lane* lane) {
    for (auto& p : pending_)
      if (p && p->lane.get() == lane) return p.get();
    return nullptr;
  }

  void handleEvents() {
    rdma_cm_event* ev = nullptr;
    while (rdma_get_cm_event(ec_.get(), &ev) == 0) {
      rdma_cm_event_type type = ev->event;
      rdma_cm_id* id = ev->id;
      auto* lane = static_cast<Lane*>(id->context);
      uint32_t peer_rtt_us = type == RDMA_CM_EVENT_CONNECT_REQUEST
                                 ? decodeConnectData(ev->param.conn.private_data,
                                                     ev->param.conn.private_data_len)
                                 : 0;
      rdma_ack_cm_event(ev);  // before any rdma_destroy_id of this id
      if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
        onConnectRequest(id, peer_rtt_us);
      } else if (type == RDMA_CM_EVENT_ESTABLISHED) {
        if (lane) lane->established = true;
      } else if (lane != nullptr) {
        // Disconnect or error of a lane not yet in a channel.
        lane->disconnected = true;
        lane->stats.up = false;
        if (PendingLane* p = findPending(lane); p && !p->refusing) {
          reject(Status(StatusCode::kPeerClosed, "peer " + lane->peer + " left during the handshake (" +
                                                     rdma_event_str(type) + ")"));
          dropPending(p);
        }
      }
    }
  }

  void dropPending(PendingLane* p) {
    for (auto& q : pending_)
      if (q.get() == p) q.reset();
  }

  // `peer_rtt_us`: the RTT the connecting side measured on its lane 0, from
  // the request's private data (0: none; a first lane or an older peer).
  void onConnectRequest(rdma_cm_id* id, uint32_t peer_rtt_us) {
    auto lane = std::make_unique<Lane>();
    lane->index = 0;
    lane->peer = peerOf(id);
    id->context = nullptr;
    if (pending_.size() >= kMaxPendingHandshakes) {
      rdma_reject(id, nullptr, 0);
      rdma_destroy_id(id);
      return reject(Status(StatusCode::kResourceExhausted, "refused " + lane->peer + ": " +
                                                               std::to_string(kMaxPendingHandshakes) +
                                                               " handshakes already in progress"));
    }
    Status s = setupLane(*lane, id);
    // Our QP reaches RTS inside rdma_accept, before this side could time a
    // round trip of its own; both directions share the path, so the peer's
    // measurement sizes our timeout too. A lie only hurts the liar's own
    // channel (spurious retransmissions), and the result stays within
    // [kMinAckTimeout, kMaxAckTimeout].
    if (s.isOk()) setAckTimeout(*lane, ackTimeoutForRtt(peer_rtt_us));
    rdma_conn_param p = connParam(*lane);
    if (s.isOk() && rdma_accept(id, &p) != 0)
      s = verbsError(StatusCode::kIoError, "rdma_accept from " + lane->peer, errno);
    if (!s) {
      if (!lane->id) rdma_destroy_id(id);
      else rdma_reject(id, nullptr, 0);
      return reject(s);
    }
    auto pl = std::make_unique<PendingLane>();
    pl->hs = std::make_unique<ServerHandshake>(lane->peer, &opts_.psk, localChunk());
    pl->lane = std::move(lane);
    pl->deadline = Clock::now() + opts_.connect_timeout;
    pending_.push_back(std::move(pl));
  }

  uint32_t localChunk() const {
    return static_cast<uint32_t>(std::min<size_t>(opts_.chunk_size, kSlotPayload));
  }

  void advance(std::unique_ptr<PendingLane>& p) {
    if (!p) return;
    Lane& lane = *p->lane;
    if (p->refusing) {  // wait for the refusal to leave, then drop the lane
      ibv_wc wc;
      while (ibv_poll_cq(lane.cq.get(), 1, &wc) > 0)
        if (!(wc.wr_id & kRecvBit)) lane.sends_in_flight--;
      if (lane.sends_in_flight == 0 || Clock::now() >= p->deadline) p.reset();
      return;
    }
    Status s = pollHandshakeCq(lane, [&](const uint8_t* d, size_t n) { return p->hs->onMessage(d, n); },
                               &p->finished);
    if (!s) {
      reject(s);
      p.reset();
      return;
    }
    if (!p->finished) return;
    if (p->hs->failed()) return refuse(p, p->hs->error());
    addLane(p);
  }

  void refuse(std::unique_ptr<PendingLane>& p, Status why) {
    reject(why);
    p->refusing = true;
    p->deadline = Clock::now() + kRefusalLinger;
    if (p->lane->sends_in_flight == 0) p.reset();
  }

  void addLane(std::unique_ptr<PendingLane>& p) {
    const wire::Hello& hello = p->hs->hello();
    auto refuseWith = [&](wire::HandshakeStatus st, Status why) {
      HsStep step = p->hs->refuse(st, why);
      (void)sendMessage(*p->lane, step.reply);
      refuse(p, why);
    };
    if (hello.max_chunk > kSlotPayload)
      return refuseWith(wire::HandshakeStatus::kBadHello,
                        Status(StatusCode::kProtocolError,
                               "peer " + p->lane->peer + " announced chunks of " +
                                   std::to_string(hello.max_chunk) + " bytes; verbs lanes carry at most " +
                                   std::to_string(kSlotPayload)));
    auto it = sessions_.find(hello.session);
    if (it == sessions_.end()) {
      if (sessions_.size() >= kMaxPendingSessions)
        return refuseWith(wire::HandshakeStatus::kBusy,
                          Status(StatusCode::kResourceExhausted,
                                 "too many half-open sessions; refused " + p->lane->peer));
      PendingSession s;
      s.first = hello;
      s.peer = p->lane->peer;
      s.lanes.resize(hello.lane_count);
      // A client connects lane 0 first and the others only after lane 0's
      // handshake (its RTT sizes their ACK timeouts): two handshakes' time.
      s.deadline = p->deadline + opts_.connect_timeout;
      it = sessions_.emplace(hello.session, std::move(s)).first;
    }
    PendingSession& s = it->second;
    if (hello.lane_count != s.first.lane_count || hello.max_chunk != s.first.max_chunk ||
        s.lanes[hello.lane_index]) {
      reject(Status(StatusCode::kProtocolError,
                    "peer " + p->lane->peer + " sent lane " + std::to_string(hello.lane_index) +
                        " that does not fit its session (duplicate or different lane count)"));
      p.reset();
      return;
    }
    p->lane->index = hello.lane_index;
    p->lane->peer = s.peer;
    s.lanes[hello.lane_index] = std::move(p->lane);
    s.have++;
    p.reset();
  }

  void expire() {
    Deadline now = Clock::now();
    for (auto& p : pending_) {
      if (!p || p->deadline > now) continue;
      if (!p->refusing)
        reject(Status(StatusCode::kTimedOut, "peer " + p->lane->peer +
                                                 " did not finish the handshake within " +
                                                 std::to_string(opts_.connect_timeout.count()) + " ms"));
      p.reset();
    }
    std::erase_if(pending_, [](const auto& p) { return !p; });
    std::erase_if(sessions_, [&](const auto& kv) {
      if (kv.second.deadline > now) return false;
      reject(Status(StatusCode::kTimedOut,
                    "peer " + kv.second.peer + ": only " + std::to_string(kv.second.have) + " of " +
                        std::to_string(kv.second.first.lane_count) + " lanes arrived in time"));
      return true;
    });
  }

  std::shared_ptr<ChannelImpl> takeReadySession() {
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      PendingSession& s = it->second;
      if (s.have != s.first.lane_count) continue;
      VerbsChannel::Setup setup;
      setup.events.reset(rdma_create_event_channel());
      if (!setup.events) {
        reject(verbsError(StatusCode::kIoError, "rdma_create_event_channel", errno));
        sessions_.erase(it);
        return nullptr;
      }
      // The channel hears its lanes' disconnects on its own event channel.
      for (auto& l : s.lanes) {
        if (rdma_migrate_id(l->id.get(), setup.events.get()) != 0) {
          reject(verbsError(StatusCode::kIoError, "rdma_migrate_id for " + s.peer, errno));
          sessions_.erase(it);
          return nullptr;
        }
      }
      setup.peer = s.peer;
      setup.session_hex = tcp::hexOf(s.first.session.data(), s.first.session.size());
      setup.local_chunk = localChunk();
      setup.peer_chunk = s.first.max_chunk;
      setup.authenticated = !opts_.psk.empty();
      setup.options = opts_;
      setup.lanes = std::move(s.lanes);
      sessions_.erase(it);
      auto ch = VerbsChannel::create(std::move(setup));
      if (!ch) {
        reject(ch.status());
        return nullptr;
      }
      return ch.value();
    }
    return nullptr;
  }

  std::mutex mu_;
  std::mutex rej_mu_;
  UniqueEventChannel ec_;
  UniqueCmId id_;
  Uri uri_;
  ChannelOptions opts_;
  std::map<wire::SessionId, PendingSession> sessions_;
  std::vector<std::unique_ptr<PendingLane>> pending_;
  std::vector<Status> rejections_;
};

}  // namespace

Result<std::unique_ptr<ListenerImpl>> listenVerbs(const Uri& uri, const ChannelOptions& o) {
  auto addr = resolveHost(uri, true);
  if (!addr) return addr.status();
  UniqueEventChannel ec(rdma_create_event_channel());
  if (!ec) return verbsError(StatusCode::kNotSupported, "rdma_create_event_channel (is rdma_ucm loaded?)", errno);
  fcntl(ec->fd, F_SETFL, fcntl(ec->fd, F_GETFL) | O_NONBLOCK);
  rdma_cm_id* raw = nullptr;
  if (rdma_create_id(ec.get(), &raw, nullptr, RDMA_PS_TCP) != 0)
    return verbsError(StatusCode::kIoError, "rdma_create_id", errno);
  UniqueCmId id(raw);
  if (rdma_bind_addr(raw, reinterpret_cast<sockaddr*>(&addr.value())) != 0)
    return verbsError(StatusCode::kIoError, "cannot listen on verbs://" + uri.hostPort() + " (rdma_bind_addr)", errno);
  if (rdma_listen(raw, 1024) != 0)
    return verbsError(StatusCode::kIoError, "rdma_listen on verbs://" + uri.hostPort(), errno);
  return std::unique_ptr<ListenerImpl>(
      std::make_unique<VerbsListener>(std::move(ec), std::move(id), uri, o));
}

}  // namespace farlink::verbs
