// VerbsChannel setup, public operations and the driver loop (one caller
// thread drives, others wait on cv_ and wake it through an eventfd).
#include "transport/verbs/verbs_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace farlink::verbs {

VerbsChannel::VerbsChannel(Setup setup)
    : FramedChannel(setup.peer, setup.local_chunk, setup.peer_chunk,
                    setup.options.max_unexpected_bytes),
      setup_(std::move(setup)),
      lanes_(setup_.lanes) {}

Result<std::shared_ptr<VerbsChannel>> VerbsChannel::create(Setup setup) {
  auto ch = std::make_shared<VerbsChannel>(std::move(setup));
  ch->wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ch->wake_fd_.valid()) return verbsError(StatusCode::kIoError, "eventfd", errno);
  int fl = fcntl(ch->setup_.events->fd, F_GETFL);
  fcntl(ch->setup_.events->fd, F_SETFL, fl | O_NONBLOCK);
  ch->busy_poll_ = ch->setup_.options.busy_poll;
  for (auto& l : ch->lanes_) l->stats.up = true;
  return ch;
}

VerbsChannel::~VerbsChannel() {
  Lock lk(mu_);
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "channel to " + setup_.peer + " was destroyed"));
  finishFailure();
  // Lanes are destroyed with setup_: QP to error, then QP, CQ, MR, PD, id.
}

void VerbsChannel::driveOnce(Lock& lk, Deadline deadline, bool block) {
  // Spinning, the CM event check (a read() syscall) runs every 64th round:
  // syscalls cost microseconds under emulation and disconnects are rare.
  if (!busy_poll_ || ++spins_ % 64 == 0) handleCmEvents();
  bool progressed = step();
  if (!failed_.isOk() || !block || progressed || deadline <= Clock::now()) return;
  if (busy_poll_) return spin(lk);
  sleep(lk, deadline);
}

// Busy-poll: up to kSpinPasses passes between two looks at the clock (the
// caller's): where the kernel does not trust the TSC, as in the TCG guest,
// reading the clock is a syscall and an HPET read (3-4 us, longer than a
// pass), and a spin that read it twice per pass noticed arrivals later.
// Only a pass can complete a request, so returning on progress loses none.
void VerbsChannel::spin(Lock& lk) {
  constexpr int kSpinPasses = 32;
  for (int i = 0; i < kSpinPasses; ++i) {
    // The lock is released so other threads can post; yielding now and
    // then lets rxe's kernel work run on this vCPU.
    lk.unlock();
    if (++spins_ % 16 == 0) std::this_thread::yield();
    else __builtin_ia32_pause();
    lk.lock();
    if (spins_ % 64 == 0) handleCmEvents();
    if (step() || !failed_.isOk()) return;
  }
}

// Completions in, then everything they allow out: a caller whose wait ends
// here never drives again, so whatever a completion requires of us (such as
// answering the peer's goodbye) must be posted in the same pass.
bool VerbsChannel::step() {
  bool progressed = pollAll();
  uint64_t before = matcher_.generation();
  retryStalled();
  progressed |= matcher_.generation() != before;
  for (auto& l : lanes_) {
    // A lane whose peer left without CLOSE, once its last frames are used up.
    if (l->disconnected && l->rxq.empty() && !l->peer_closed && failed_.isOk())
      fail(Status(StatusCode::kPeerClosed,
                  "peer " + setup_.peer + " disconnected lane " + std::to_string(l->index) +
                      " without a goodbye (its process exited or the link failed)"));
  }
  armAll();
  if (!failed_.isOk()) finishFailure();
  return progressed;
}

void VerbsChannel::sleep(Lock& lk, Deadline deadline) {
  for (auto& l : lanes_) armCq(*l);
  if (step()) return;  // arrived between the last poll and arming
  std::vector<pollfd> pfds{{wake_fd_.get(), POLLIN, 0}, {setup_.events->fd, POLLIN, 0}};
  for (auto& l : lanes_) pfds.push_back({l->comp->fd, POLLIN, 0});
  pollUnlocked(lk, pfds, deadline);
  for (size_t i = 0; i < lanes_.size(); ++i)
    if (pfds[i + 2].revents & POLLIN) drainCqEvents(*lanes_[i]);
}

void VerbsChannel::handleCmEvents() {
  rdma_cm_event* ev = nullptr;
  while (rdma_get_cm_event(setup_.events.get(), &ev) == 0) {
    auto* lane = static_cast<Lane*>(ev->id->context);
    switch (ev->event) {
      case RDMA_CM_EVENT_ESTABLISHED:  // a server lane may finish its handshake first
        if (lane != nullptr) lane->established = true;
        break;
      case RDMA_CM_EVENT_DISCONNECTED:
      case RDMA_CM_EVENT_DEVICE_REMOVAL:
      case RDMA_CM_EVENT_UNREACHABLE:
      case RDMA_CM_EVENT_CONNECT_ERROR:
        if (lane != nullptr) {
          lane->disconnected = true;
          lane->stats.up = false;
        }
        break;
      default: break;
    }
    rdma_ack_cm_event(ev);
  }
}

void VerbsChannel::wakeDriver() {
  uint64_t one = 1;
  ssize_t w = ::write(wake_fd_.get(), &one, sizeof one);
  (void)w;  // a full counter already means "wake up"
}

void VerbsChannel::abandon(RequestState& req, const Status& why) {
  Lock lk(mu_);
  if (req.done()) return;
  if (req.kind() == RequestState::Kind::kRecv && matcher_.withdraw(req, why)) return;
  // A message in flight cannot be taken back without breaking the stream.
  fail(Status(why.code(), why.message() + "; the operation could not be withdrawn, so the "
                                          "channel to " + setup_.peer + " was closed"));
  finishFailure();  // the NIC only ever touches our slots, never req's buffer
}

Status VerbsChannel::close(Deadline deadline) {
  Lock lk(mu_);
  if (closed_) return Status();
  // Disconnecting waits for both sides' CLOSEs on every lane.
  Status s = exchangeGoodbyes(lk, deadline, lanes_);
  if (s.code() == StatusCode::kTimedOut) s = Status(s.code(), s.message() + " (" + laneStates() + ")");
  Status result = failed_.isOk() ? s : failed_;
  if (failed_.isOk())
    fail(Status(StatusCode::kCancelled, "the channel to " + setup_.peer + " was closed locally"));
  finishFailure();
  closed_ = true;
  // A close that found the peer already gone is still a clean close.
  if (result.code() == StatusCode::kPeerClosed) return Status();
  return result;
}

// For timeouts in close(): which lanes are still waiting, and on what.
std::string VerbsChannel::laneStates() const {
  std::string out;
  for (const auto& l : lanes_) {
    if (l->close_frame_sent && l->peer_closed) continue;
    if (!out.empty()) out += "; ";
    out += "lane " + std::to_string(l->index) + ": ";
    out += l->close_frame_sent ? "goodbye sent" : l->close_queued ? "goodbye posted" : "goodbye not posted";
    out += l->peer_closed ? ", peer's goodbye received" : ", no goodbye from the peer";
    out += ", credits " + std::to_string(l->credits) + ", free send slots " +
           std::to_string(l->free_send.size()) + ", frames waiting " + std::to_string(l->rxq.size());
    if (l->stalled) out += ", stalled";
    if (l->disconnected) out += ", disconnected";
  }
  return out;
}

ChannelStats VerbsChannel::stats() const {
  Lock lk(mu_);
  ChannelStats st = commonStats("verbs");
  st.transport_reason = setup_.fallback_reason;
  st.session_id = setup_.session_hex;
  st.lanes = static_cast<int>(lanes_.size());
  st.authenticated = setup_.authenticated;
  for (const auto& l : lanes_) {
    st.lane.push_back(l->stats);
    st.lane.back().ack_timeout = queryAckTimeout(*l);
  }
  return st;
}

void VerbsChannel::fail(Status why) {
  if (!failed_.isOk()) return;
  failed_ = std::move(why);
  // QPs to the error state: the peer sees a disconnect, our posted work
  // requests flush. Nothing the NIC touches belongs to the application.
  for (auto& l : lanes_) {
    if (l->established && !l->disconnected) rdma_disconnect(l->id.get());
    l->disconnected = true;
    l->stats.up = false;
  }
}

void VerbsChannel::finishFailure() {
  if (failure_reported_ || failed_.isOk()) return;
  failure_reported_ = true;
  failQueues();
  for (auto& l : lanes_) l->slot_chunk.assign(kSendSlots, std::nullopt);
}

}  // namespace farlink::verbs
