// Server side of the TCP datapath: accepts lanes, runs their handshakes
// concurrently under per-connection deadlines, groups lanes by session and
// hands out a channel once all of a session's lanes have arrived. A bad
// peer is refused and recorded; it never ends accept() for the others.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>

#include "transport/tcp/handshake.h"
#include "transport/tcp/lane_session.h"
#include "transport/tcp/resume.h"
#include "transport/tcp/socket_util.h"
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

Result<std::shared_ptr<ChannelImpl>> connectTcp(const Uri& uri, const ChannelOptions& o);

namespace {

constexpr size_t kMaxPendingHandshakes = 1024;
constexpr size_t kMaxPendingSessions = 256;
constexpr size_t kMaxRejectionsKept = 1024;

struct PendingSession {
  wire::Hello first;
  std::string peer;
  std::vector<UniqueFd> lanes;
  std::vector<std::shared_ptr<TlsLane>> tls;  // per lane when TLS was agreed
  int have = 0;
  Deadline deadline;
};

class TcpListener final : public ListenerImpl {
 public:
  TcpListener(UniqueFd fd, Uri uri, ChannelOptions o, std::string scheme, SessionToChannel make)
      : fd_(std::move(fd)), uri_(std::move(uri)), opts_(std::move(o)),
        cfg_{opts_.psk, static_cast<uint32_t>(opts_.chunk_size), opts_.tls, false, {}, opts_.ktls}, scheme_(std::move(scheme)),
        make_(std::move(make)) {
    uri_.port = localPort(fd_.get());
    if (opts_.resume_timeout.count() > 0) {
      hub_ = std::make_shared<ResumeHub>();
      cfg_.resume = true;
      cfg_.check_resume = [hub = hub_.get()](const wire::Hello& h, const std::string& peer) {
        return hub->check(h, peer);
      };
      // A channel waiting for its lanes runs this when no accept() does.
      hub_->setPump([this](int ms) {
        std::unique_lock lk(mu_, std::try_to_lock);
        if (!lk.owns_lock()) return false;
        (void)pumpOnce(Clock::now() + std::chrono::milliseconds(ms));
        return true;
      });
    }
  }

  uint16_t port() const override { return uri_.port; }
  std::string uri() const override { return scheme_ + "://" + uri_.hostPort(); }
  std::vector<Status> rejections() override {
    std::lock_guard lk(rej_mu_);
    return std::exchange(rejections_, {});
  }

  ~TcpListener() override {
    if (hub_) hub_->setPump(nullptr);  // waits for a pass a resuming channel runs
  }

  // One caller at a time runs the accept loop; concurrent callers queue.
  Result<std::shared_ptr<ChannelImpl>> accept(Deadline deadline) override {
    std::lock_guard lk(mu_);
    for (;;) {
      if (auto ch = takeReadySession()) return ch;
      if (Status s = pumpOnce(deadline); !s) return s;
      if (auto ch = takeReadySession()) return ch;
      if (Clock::now() >= deadline)
        return Status(StatusCode::kTimedOut, "no channel arrived on " + uri() + " in time");
    }
  }

 private:
  // One pass of the accept loop (mu_ held): waits up to `deadline` (or an
  // earlier handshake or session deadline) for connections and handshake
  // bytes, advances handshakes, groups finished lanes by session and hands
  // reconnected lanes to the sessions they resume.
  Status pumpOnce(Deadline deadline) {
    expire();
    Deadline wake = deadline;
    for (auto& h : pending_) wake = std::min(wake, h->deadline());
    for (auto& [id, s] : sessions_) wake = std::min(wake, s.deadline);
    std::vector<pollfd> pfds{{fd_.get(), POLLIN, 0}};
    for (auto& h : pending_) pfds.push_back({h->fd(), h->events(), 0});
    int ms = -1;
    if (wake != Deadline::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now());
      ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, INT32_MAX));
    }
    int rc = ::poll(pfds.data(), pfds.size(), ms);
    if (rc < 0 && errno != EINTR) return errnoStatus(StatusCode::kIoError, "poll on " + uri(), errno);
    if (pfds[0].revents & POLLIN) acceptNew();
    // Advance handshakes that are ready; finished ones leave the list.
    // acceptNew() only appends or empties slots, so pfds[i + 1] still
    // belongs to pending_[i].
    for (size_t i = 0; i + 1 < pfds.size(); ++i) {
      auto& h = pending_[i];
      if (!h || pfds[i + 1].revents == 0 || !h->advance()) continue;
      if (h->ok()) addLane(*h);
      else reject(h->error());
      h.reset();
    }
    std::erase_if(pending_, [](const auto& h) { return !h; });
    return Status();
  }

  void reject(Status s) {
    std::lock_guard lk(rej_mu_);
    if (rejections_.size() < kMaxRejectionsKept) rejections_.push_back(std::move(s));
  }

  // When the table is full the oldest handshake makes room: refusing the
  // newcomer instead would let 1024 silent connections lock everyone out
  // until their deadlines, while an honest handshake finishes in one RTT.
  void acceptNew() {
    for (;;) {
      UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!c.valid()) return;  // EAGAIN, or a connection that died in the backlog
      std::string peer = peerName(c.get());
      if (std::count_if(pending_.begin(), pending_.end(), [](const auto& h) { return !!h; }) >=
          static_cast<std::ptrdiff_t>(kMaxPendingHandshakes)) {
        // Slots are reset, not erased: accept()'s pollfd indexes stay valid.
        auto oldest = std::find_if(pending_.begin(), pending_.end(), [](const auto& h) { return !!h; });
        reject(Status(StatusCode::kResourceExhausted,
                      "dropped " + (*oldest)->peer() + ": its handshake was the oldest of " +
                          std::to_string(kMaxPendingHandshakes) + " in progress when " + peer +
                          " arrived"));
        oldest->reset();
      }
      pending_.push_back(std::make_unique<ServerHandshake>(std::move(c), peer, &cfg_,
                                                           Clock::now() + opts_.connect_timeout));
    }
  }

  void expire() {
    Deadline now = Clock::now();
    std::erase_if(pending_, [&](const auto& h) {
      if (!h) return true;
      if (h->deadline() > now) return false;
      reject(Status(StatusCode::kTimedOut, "peer " + h->peer() + " did not finish the handshake within " +
                                               std::to_string(opts_.connect_timeout.count()) + " ms"));
      return true;
    });
    std::erase_if(sessions_, [&](const auto& kv) {
      if (kv.second.deadline > now) return false;
      reject(Status(StatusCode::kTimedOut,
                    "peer " + kv.second.peer + ": only " + std::to_string(kv.second.have) + " of " +
                        std::to_string(kv.second.first.lane_count) + " lanes arrived in time"));
      return true;
    });
  }

  // Same policy as for handshakes: a session whose lanes never all arrive
  // gives way to a newer one rather than blocking it.
  void dropOldestSession(const std::string& newcomer) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.deadline < b.second.deadline;
    });
    reject(Status(StatusCode::kResourceExhausted,
                  "dropped " + oldest->second.peer + ": its session was the oldest of " +
                      std::to_string(kMaxPendingSessions) + " waiting for lanes when " + newcomer +
                      " arrived"));
    sessions_.erase(oldest);
  }

  void addLane(ServerHandshake& h) {
    const wire::Hello& hello = h.hello();
    auto it = sessions_.find(hello.session);
    if (it == sessions_.end()) {
      if (sessions_.size() >= kMaxPendingSessions) dropOldestSession(h.peer());
      PendingSession s;
      s.first = hello;
      s.peer = h.peer();
      s.lanes.resize(hello.lane_count);
      s.tls.resize(hello.lane_count);
      s.deadline = h.deadline();
      it = sessions_.emplace(hello.session, std::move(s)).first;
    }
    PendingSession& s = it->second;
    if ((hello.capabilities & wire::kCapResuming) != 0 && s.lanes[hello.lane_index].valid() &&
        (s.first.capabilities & wire::kCapResuming) != 0) {
      // An earlier reconnection of this session broke before all its lanes
      // came; this lane starts a newer one, which replaces it.
      reject(Status(StatusCode::kPeerClosed,
                    "peer " + h.peer() + " reconnected session " + hexOf(hello.session.data(), 16) +
                        " again; dropped the " + std::to_string(s.have) +
                        " lanes of its unfinished earlier attempt"));
      sessions_.erase(it);
      return addLane(h);
    }
    if ((hello.capabilities & wire::kCapResuming) != (s.first.capabilities & wire::kCapResuming))
      return reject(Status(StatusCode::kProtocolError,
                           "peer " + h.peer() + " sent lane " + std::to_string(hello.lane_index) +
                               " of session " + hexOf(hello.session.data(), 16) +
                               " both as new and as resuming"));
    if (hello.lane_count != s.first.lane_count || hello.max_chunk != s.first.max_chunk ||
        hello.capabilities != s.first.capabilities || s.lanes[hello.lane_index].valid()) {
      return reject(Status(StatusCode::kProtocolError,
                           "peer " + h.peer() + " sent lane " + std::to_string(hello.lane_index) +
                               " that does not fit its session (duplicate, or different lane "
                               "count or capabilities)"));
    }
    s.tls[hello.lane_index] = h.takeTls();
    UniqueFd fd = h.takeFd();
    if (Status st = tuneLane(fd.get(), opts_, h.peer()); !st) return reject(st);
    s.lanes[hello.lane_index] = std::move(fd);
    s.have++;
    if ((s.first.capabilities & wire::kCapResuming) != 0 && s.have == s.first.lane_count)
      deliverResumed(it);
  }

  // Every lane of a reconnecting session arrived: to the live channel.
  void deliverResumed(std::map<wire::SessionId, PendingSession>::iterator it) {
    PendingSession s = std::move(it->second);
    sessions_.erase(it);
    auto box = hub_ ? hub_->find(s.first.session) : nullptr;
    if (!box)
      return reject(Status(StatusCode::kTimedOut,
                           "peer " + s.peer + " reconnected session " +
                               hexOf(s.first.session.data(), 16) +
                               " after it ended here (FARLINK_RESUME_TIMEOUT ran out)"));
    box->deliver(sessionOf(s));
  }

  LaneSession sessionOf(PendingSession& s) {
    LaneSession setup;
    setup.peer = s.peer;
    setup.session_hex = hexOf(s.first.session.data(), s.first.session.size());
    setup.local_chunk = cfg_.max_chunk;
    setup.peer_chunk = s.first.max_chunk;
    setup.capabilities = s.first.capabilities;
    setup.authenticated = !opts_.psk.empty();
    setup.options = opts_;
    setup.lanes = std::move(s.lanes);
    if (s.tls.front()) setup.tls = std::move(s.tls);
    setup.session = s.first.session;
    setup.resumable = hub_ && (s.first.capabilities & wire::kCapResume) != 0 &&
                      (s.first.capabilities & wire::kCapUcx) == 0;
    if (setup.resumable) setup.hub = hub_;
    setup.keepalive = (s.first.capabilities & wire::kCapKeepalive) != 0 &&
                      (s.first.capabilities & wire::kCapUcx) == 0;
    return setup;
  }

  std::shared_ptr<ChannelImpl> takeReadySession() {
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      PendingSession& s = it->second;
      if (s.have != s.first.lane_count) continue;
      LaneSession setup = sessionOf(s);
      sessions_.erase(it);
      auto ch = make_(std::move(setup));
      if (!ch) {
        reject(ch.status());
        return nullptr;
      }
      return ch.value();
    }
    return nullptr;
  }

  std::mutex mu_;      // the accept loop's state
  std::mutex rej_mu_;  // rejections_, readable while accept() waits
  UniqueFd fd_;
  Uri uri_;
  ChannelOptions opts_;
  ServerHandshake::Config cfg_;
  std::vector<std::unique_ptr<ServerHandshake>> pending_;
  std::map<wire::SessionId, PendingSession> sessions_;
  std::vector<Status> rejections_;
  std::string scheme_;
  SessionToChannel make_;
  std::shared_ptr<ResumeHub> hub_;  // null with resume off
};

}  // namespace

Result<std::unique_ptr<ListenerImpl>> listenSessions(const Uri& uri, const ChannelOptions& o,
                                                     std::string scheme, SessionToChannel make) {
  auto fd = listenOn(uri, 1024);
  if (!fd) return fd.status();
  return std::unique_ptr<ListenerImpl>(
      std::make_unique<TcpListener>(std::move(fd.value()), uri, o, std::move(scheme), std::move(make)));
}

Result<std::shared_ptr<ChannelImpl>> adoptTcp(LaneSession s) {
  if ((s.capabilities & ~wire::kSessionCaps) != 0)
    return Status(StatusCode::kProtocolError,
                  "peer " + s.peer + " asked for another datapath's bootstrap (HELLO capability bits " +
                      std::to_string(s.capabilities) +
                      ") on a tcp:// listener; connect with tcp://, or listen with that scheme or auto://");
  auto ch = TcpChannel::create(std::move(s));
  if (!ch) return ch.status();
  return std::shared_ptr<ChannelImpl>(std::move(ch.value()));
}

TransportFactory tcpTransport() {
  TransportFactory f;
  f.scheme = "tcp";
  f.connect = connectTcp;
  f.listen = [](const Uri& uri, const ChannelOptions& o) {
    return listenSessions(uri, o, "tcp", adoptTcp);
  };
  f.adopt = adoptTcp;
  return f;
}

}  // namespace farlink::tcp

namespace farlink {
TransportFactory tcpTransport() { return tcp::tcpTransport(); }
}  // namespace farlink
