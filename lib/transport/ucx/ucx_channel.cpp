// UcxChannel setup, public operations and the driver loop: one caller thread
// drives the worker (ucp_worker_progress), others wait on cv_ and wake it
// through an eventfd. A sleeping driver waits on the worker's event fd
// (ucp_worker_arm), so no thread spins unless busy_poll asks for it.
#include "transport/ucx/ucx_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace farlink::ucx {
namespace {

// After the bootstrap connection ends or UCX reports an endpoint error,
// frames the peer sent before leaving may still be on their way through UCX;
// the peer counts as vanished (no goodbye) only after this long.
constexpr auto kVanishGrace = std::chrono::milliseconds(500);
// How often a sleeping driver progresses UCX while close() flushes.
constexpr auto kFlushPoll = std::chrono::milliseconds(1);
// How long close() waits for that flush.
constexpr auto kFlushLimit = std::chrono::milliseconds(200);
// Bound on waiting for UCX to hand back buffers when a channel fails.
constexpr auto kReleaseLimit = std::chrono::seconds(5);

}  // namespace

UcxChannel::UcxChannel(Setup setup)
    : FramedChannel(setup.peer, setup.local_chunk, setup.peer_chunk,
                    setup.options.max_unexpected_bytes),
      setup_(std::move(setup)) {}

Result<std::shared_ptr<UcxChannel>> UcxChannel::create(Setup setup) {
  auto ch = std::make_shared<UcxChannel>(std::move(setup));
  ucp_worker_h w = ch->setup_.worker->get();
  // Handlers first: the peer may send as soon as its endpoints exist.
  for (auto [id, cb] :
       {std::pair{kAmFrame, &UcxChannel::onFrame}, std::pair{kAmCredit, &UcxChannel::onCredit}}) {
    ucp_am_handler_param_t p{};
    p.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                   UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    p.id = id;
    // Eager data may be held until a receive is posted (consume() releases it).
    p.flags = UCP_AM_FLAG_WHOLE_MSG | UCP_AM_FLAG_PERSISTENT_DATA;
    p.cb = cb;
    p.arg = ch.get();
    if (ucs_status_t st = ucp_worker_set_am_recv_handler(w, &p); st != UCS_OK)
      return ucxError(StatusCode::kNotSupported, "ucp_worker_set_am_recv_handler", st);
  }
  if (ucs_status_t st = ucp_worker_get_efd(w, &ch->efd_); st != UCS_OK)
    return ucxError(StatusCode::kNotSupported, "ucp_worker_get_efd", st);
  ch->wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ch->wake_fd_.valid())
    return Status(StatusCode::kIoError, "eventfd for the channel to " + ch->setup_.peer, errno);
  ch->busy_poll_ = ch->setup_.options.busy_poll;
  for (int i = 0; i < ch->setup_.lanes; ++i) {
    auto lane = std::make_unique<Lane>();
    lane->channel = ch.get();
    lane->index = i;
    if (Status s = lane->ep.connect(w, ch->setup_.peer_address, &UcxChannel::onEndpointError,
                                    lane.get(), ch->setup_.peer);
        !s)
      return s;
    lane->stats.up = true;
    ch->lanes_.push_back(std::move(lane));
  }
  if (Status s = ch->awaitWireup(Clock::now() + ch->setup_.options.connect_timeout); !s) return s;
  return ch;
}

// A flush completes once an endpoint is wired up. Waiting for it here
// means a transport that cannot reach the peer fails connect/accept with a
// clear error, and no endpoint is ever closed mid-wireup (UCX 1.13 asserts
// when a forced close purges a pending wireup request).
Status UcxChannel::awaitWireup(Deadline deadline) {
  Lock lk(mu_);
  startFlush();
  ucp_worker_h w = setup_.worker->get();
  while (flushes_pending_ > 0 && failed_.isOk() && Clock::now() < deadline) {
    if (ucp_worker_progress(w) != 0) continue;
    if (ucp_worker_arm(w) != UCS_OK) continue;  // BUSY: events arrived meanwhile
    pollfd p{efd_, POLLIN, 0};
    ::poll(&p, 1, 1);  // a short sleep: wireup also moves on timers
  }
  if (!failed_.isOk()) return failed_;
  wired_up_ = flushes_pending_ == 0;
  for (const auto& l : lanes_)
    if (l->failed)
      return Status(StatusCode::kIoError,
                    "UCX could not connect lane " + std::to_string(l->index) + " to " +
                        setup_.peer +
                        "; check that UCX_TLS (`ucx_info -d`) offers a transport "
                        "both hosts share");
  if (flushes_pending_ > 0)
    return Status(
        StatusCode::kTimedOut,
        "UCX endpoints to " + setup_.peer + " did not finish wireup within " +
            std::to_string(setup_.options.connect_timeout.count()) +
            " ms; check that UCX_TLS (`ucx_info -d`) offers a transport both hosts share");
  return Status();
}

UcxChannel::~UcxChannel() {
  Lock lk(mu_);
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "channel to " + setup_.peer + " was destroyed"));
  finishFailure();
  // Endpoints close with lanes_, then the worker (setup_), then the context.
}

void UcxChannel::wakeDriver() {
  uint64_t one = 1;
  ssize_t w = ::write(wake_fd_.get(), &one, sizeof one);
  (void)w;  // a full counter already means "wake up"
}

void UcxChannel::driveOnce(Lock& lk, Deadline deadline, bool block) {
  // Spinning, the bootstrap check (a recv() syscall) runs every 256th round.
  if (bootstrap_readable_ || (busy_poll_ && ++spins_ % 256 == 0)) checkBootstrap();
  // isend/irecv's pass (lazy_kick_) only posts: the wait that follows
  // polls the worker, so a ping-pong enters the kernel once per message.
  bool progressed = pump(!lazy_kick_);
  checkPeerVanished();
  if (!failed_.isOk()) {
    finishFailure();
    return;
  }
  if (!block || progressed) return;
  // A spinning driver comes straight back; the caller's loop (driveUntil)
  // checks the deadline then, so one clock read per spin is enough.
  if (busy_poll_ && vanished_at_ == Deadline::max() && flushes_pending_ == 0)
    return sleep(lk, deadline);
  if (deadline <= Clock::now()) return;
  Deadline wake = deadline;
  if (vanished_at_ != Deadline::max()) wake = std::min(wake, vanished_at_ + kVanishGrace);
  // An endpoint flush moves on UCX's internal state (wireup, keepalive),
  // which does not always signal the event fd: look again soon.
  if (flushes_pending_ > 0) wake = std::min(wake, Clock::now() + kFlushPoll);
  sleep(lk, wake);
}

void UcxChannel::sleep(Lock& lk, Deadline deadline) {
  if (busy_poll_) {
    // Unlocked for a moment so other threads can post; a yield (a syscall,
    // costly next to a UCX poll) only now and then, for a crowded host.
    lk.unlock();
    if (spins_++ % 256 == 0)
      std::this_thread::yield();
    else
      __builtin_ia32_pause();
    lk.lock();
    return;
  }
  // Arm, then sleep: BUSY means events arrived since the last progress.
  ucs_status_t st = ucp_worker_arm(setup_.worker->get());
  if (st == UCS_ERR_BUSY) return;
  if (st != UCS_OK) {
    fail(ucxError(StatusCode::kIoError, "ucp_worker_arm on the channel to " + setup_.peer, st));
    return;
  }
  std::vector<pollfd> pfds{{wake_fd_.get(), POLLIN, 0}, {efd_, POLLIN, 0}};
  if (!bootstrap_eof_) pfds.push_back({setup_.bootstrap.get(), POLLIN, 0});
  pollUnlocked(lk, pfds, deadline);
  if (pfds.size() > 2 && pfds[2].revents != 0) bootstrap_readable_ = true;
}

// The peer sends nothing on the bootstrap connection after wireup; its end
// (EOF or reset) means the peer's channel is gone.
void UcxChannel::checkBootstrap() {
  bootstrap_readable_ = false;
  if (bootstrap_eof_) return;
  uint8_t b;
  ssize_t r = ::recv(setup_.bootstrap.get(), &b, 1, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (r > 0) return failProtocol(nullptr, "sent bytes on the bootstrap connection after wireup");
  bootstrap_eof_ = true;
  vanished_at_ = std::min(vanished_at_, Clock::now());
}

void UcxChannel::checkPeerVanished() {
  if (vanished_at_ == Deadline::max() || !failed_.isOk() || peer_gone_) return;
  if (Clock::now() < vanished_at_ + kVanishGrace) return;
  fail(Status(StatusCode::kPeerClosed,
              "peer " + setup_.peer +
                  " left without a goodbye (its process exited, or UCX lost "
                  "the connection)"));
}

void UcxChannel::abandon(RequestState& req, const Status& why) {
  Lock lk(mu_);
  if (req.done()) return;
  if (req.kind() == RequestState::Kind::kRecv && matcher_.withdraw(req, why)) return;
  // A message in flight cannot be taken back without breaking the stream.
  fail(Status(why.code(), why.message() +
                              "; the operation could not be withdrawn, so the "
                              "channel to " +
                              setup_.peer + " was closed"));
  finishFailure();  // returns once UCX no longer touches any request's buffer
}

Status UcxChannel::close(Deadline deadline) {
  Lock lk(mu_);
  if (closed_) return Status();
  Status s = exchangeGoodbyes(lk, deadline, lanes_);
  // A sent CLOSE may still sit in UCX (a completed eager send is only
  // copied out); flush so it reaches the peer before the endpoints go. In
  // PEER error mode a flush needs the peer's worker to answer, and a peer
  // that already has our goodbye may have stopped driving it: wait briefly,
  // never fail close() for it.
  if (s.isOk() && failed_.isOk()) {
    startFlush();
    (void)driveUntil(
        lk, std::min(deadline, Clock::now() + kFlushLimit),
        [&] { return !failed_.isOk() || flushes_pending_ == 0; },
        "goodbye frames to reach the peer");
  }
  Status result = failed_.isOk() ? s : failed_;
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "the channel to " + setup_.peer + " was closed locally"));
  finishFailure();
  closed_ = true;
  // A close that found the peer already gone is still a clean close.
  if (result.code() == StatusCode::kPeerClosed) return Status();
  return result;
}

ChannelStats UcxChannel::stats() const {
  Lock lk(mu_);
  ChannelStats st = commonStats("ucx");
  st.transport_reason = setup_.reason;
  st.session_id = setup_.session_hex;
  st.lanes = static_cast<int>(lanes_.size());
  st.authenticated = setup_.authenticated;
  for (const auto& l : lanes_) {
    st.lane.push_back(l->stats);
    if (st.transport_detail.empty()) st.transport_detail = l->ep.transports();
  }
  if (!st.transport_detail.empty()) st.transport_detail = "ucx: " + st.transport_detail;
  return st;
}

std::vector<Endpoint*> UcxChannel::endpoints() {
  std::vector<Endpoint*> eps;
  for (auto& l : lanes_) eps.push_back(&l->ep);
  return eps;
}

void UcxChannel::fail(Status why) {
  if (!failed_.isOk()) return;
  failed_ = std::move(why);
  for (auto& l : lanes_) l->stats.up = false;
}

void UcxChannel::failProtocol(const Lane* lane, const std::string& what) {
  fail(protocolError(lane ? " on lane " + std::to_string(lane->index) : std::string(), what));
}

// Runs outside UCX callbacks. Requests complete only after UCX has given
// back every buffer it was sending from or fetching into.
void UcxChannel::finishFailure() {
  if (failure_reported_ || failed_.isOk()) return;
  failure_reported_ = true;
  ucp_worker_h w = setup_.worker->get();
  if (!wired_up_) {
    for (auto& l : lanes_) l->ep.abandon();
    setup_.worker->abandon();
    failQueues();
    books_closed_ = true;
    return;
  }
  Endpoint::closeAll(endpoints(), true, std::chrono::milliseconds(100));  // cancels sends
  Deadline limit = Clock::now() + kReleaseLimit;
  while ((!sends_.empty() || !fetches_.empty() || flushes_pending_ > 0) && Clock::now() < limit)
    ucp_worker_progress(w);
  for (auto& l : lanes_) {
    for (auto& f : l->rxq) releaseFrame(f);
    for (auto& [seq, f] : l->early) releaseFrame(f);
    l->rxq.clear();
    l->early.clear();
  }
  failQueues();
  books_closed_ = true;
}

}  // namespace farlink::ucx
