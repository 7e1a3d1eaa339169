#include "transport/tcp/resume.h"

#include <unistd.h>

#include <algorithm>

#include "transport/tcp/lane_session.h"
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

// ---------------- mailbox ----------------

void ResumeMailbox::deliver(LaneSession s) {
  std::lock_guard lk(mu_);
  if (closed_) return;  // the lanes close with `s`; the peer sees them drop
  lanes_ = std::move(s);
  uint64_t one = 1;
  ssize_t w = ::write(wake_fd_, &one, sizeof one);
  (void)w;  // a full counter already means "wake up"
}

std::optional<LaneSession> ResumeMailbox::take() {
  std::lock_guard lk(mu_);
  return std::exchange(lanes_, std::nullopt);
}

bool ResumeMailbox::hasLanes() const {
  std::lock_guard lk(mu_);
  return lanes_.has_value();
}

void ResumeMailbox::noteError(Status s, bool fatal) {
  std::lock_guard lk(mu_);
  last_error_ = std::move(s);
  fatal_ = fatal_ || fatal;
  if (fatal && !closed_) {
    uint64_t one = 1;
    ssize_t w = ::write(wake_fd_, &one, sizeof one);
    (void)w;
  }
}

Status ResumeMailbox::lastError() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

bool ResumeMailbox::fatal() const {
  std::lock_guard lk(mu_);
  return fatal_;
}

void ResumeMailbox::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
  lanes_.reset();
}

bool ResumeMailbox::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

// ---------------- hub ----------------

void ResumeHub::add(const wire::SessionId& id, std::weak_ptr<ResumeMailbox> box, int lanes) {
  std::lock_guard lk(mu_);
  std::erase_if(sessions_, [](const auto& kv) {
    auto b = kv.second.box.lock();
    return !b || b->closed();
  });
  sessions_[id] = Entry{std::move(box), lanes};
}

std::shared_ptr<ResumeMailbox> ResumeHub::find(const wire::SessionId& id) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  auto box = it->second.box.lock();
  if (!box || box->closed()) {
    sessions_.erase(it);
    return nullptr;
  }
  return box;
}

Status ResumeHub::check(const wire::Hello& hello, const std::string& peer) {
  auto refuse = [&](const std::string& why) {
    return Status(StatusCode::kProtocolError,
                  "peer " + peer + " tried to resume session " +
                      hexOf(hello.session.data(), hello.session.size()) + ", " + why);
  };
  int lanes = 0;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(hello.session);
    if (it != sessions_.end()) lanes = it->second.lanes;
  }
  if (lanes == 0 || !find(hello.session))
    return refuse(
        "which this listener does not know (never opened here, closed, or its resume "
        "grace period FARLINK_RESUME_TIMEOUT ran out)");
  if (hello.lane_count != lanes)
    return refuse("with " + std::to_string(hello.lane_count) + " lanes; it has " +
                  std::to_string(lanes));
  return Status();
}

void ResumeHub::setPump(std::function<bool(int)> pump) {
  std::lock_guard lk(pump_mu_);  // waits for a pass in progress
  pump_ = std::move(pump);
}

bool ResumeHub::pump(int ms) {
  std::lock_guard lk(pump_mu_);
  return pump_ ? pump_(ms) : false;
}

// ---------------- resumer thread ----------------

bool Resumer::pause(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, d, [&] { return stop_; });
  return !stop_;
}

Resumer::~Resumer() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<Resumer> Resumer::reconnect(Uri uri, ChannelOptions o, int lanes,
                                            wire::SessionId session,
                                            std::shared_ptr<ResumeMailbox> box, Deadline until,
                                            std::chrono::microseconds rtt) {
  std::unique_ptr<Resumer> r(new Resumer);
  Resumer* self = r.get();
  r->thread_ = std::thread([self, uri = std::move(uri), o = std::move(o), lanes, session,
                            box = std::move(box), until, rtt]() mutable {
    using std::chrono::milliseconds;
    milliseconds step(50);
    const auto answer_floor = std::chrono::ceil<milliseconds>(2 * rtt);
    for (;;) {
      const Clock::time_point began = Clock::now();
      auto left = std::chrono::duration_cast<milliseconds>(until - began);
      if (left.count() <= 0) return;
      ChannelOptions attempt = o;
      attempt.connect_timeout = std::min({o.connect_timeout, milliseconds(2000), left});
      // A SYN lost in a blackout is retransmitted by the kernel only 1 s,
      // then 3 s, later: a fresh connect every step finds the link as soon
      // as it is back.
      auto lanes_or = connectLanes(uri, attempt, lanes, 0, &session, std::max(step, answer_floor));
      if (lanes_or) return box->deliver(std::move(lanes_or.value()));
      // A refusal (unknown session, wrong key, protocol) will not change by
      // retrying; a reset, a timeout or a busy listener may.
      StatusCode c = lanes_or.status().code();
      bool fatal = c == StatusCode::kProtocolError || c == StatusCode::kUnauthenticated ||
                   c == StatusCode::kNotSupported || c == StatusCode::kInvalidArgument;
      box->noteError(lanes_or.status(), fatal);
      if (fatal) return;
      // The step counts from the attempt's start: one that timed out has
      // waited its step already.
      const Clock::time_point now = Clock::now();
      auto wait = std::chrono::duration_cast<milliseconds>(began + step - now);
      left = std::chrono::duration_cast<milliseconds>(until - now);
      if (!self->pause(std::clamp(wait, milliseconds(0), std::max(left, milliseconds(0))))) return;
      step = std::min(step * 2, milliseconds(1000));
    }
  });
  return r;
}

std::unique_ptr<Resumer> Resumer::await(std::shared_ptr<ResumeHub> hub,
                                        std::shared_ptr<ResumeMailbox> box, Deadline until) {
  std::unique_ptr<Resumer> r(new Resumer);
  Resumer* self = r.get();
  r->thread_ = std::thread([self, hub = std::move(hub), box = std::move(box), until] {
    while (Clock::now() < until && !box->hasLanes() && !box->closed()) {
      {
        std::lock_guard lk(self->mu_);
        if (self->stop_) return;
      }
      // When accept() runs in another thread it routes the lanes itself.
      if (!hub->pump(50) && !self->pause(std::chrono::milliseconds(20))) return;
    }
  });
  return r;
}

}  // namespace farlink::tcp
