// Session resume outside the datapath (control path): the mailbox through
// which reconnected lanes reach a channel, the listener's table that routes
// reconnecting lanes to live sessions, and the helper thread that reconnects
// (connecting side) or keeps the listener accepting (accepting side) while a
// channel waits. The datapath's side (acks, retention, re-sending) is in
// tcp_resume.cpp; the protocol in man/farlink.7, "Session resume".
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/channel_impl.h"
#include "core/lane_session.h"
#include "core/wire.h"

namespace farlink::tcp {

// Where a resuming channel receives its new lanes. Shared by the channel,
// its Resumer and the listener's hub; thread-safe.
class ResumeMailbox {
 public:
  // `wake_fd`: the channel's eventfd; written on delivery until close().
  explicit ResumeMailbox(int wake_fd) : wake_fd_(wake_fd) {}

  // A complete set of reconnected lanes: kept for the channel (replacing a
  // set it has not taken yet) and its driver woken. Dropped once closed.
  void deliver(LaneSession s);
  std::optional<LaneSession> take();
  bool hasLanes() const;
  // The last failed attempt, said in the final error; `fatal`: retrying
  // cannot help (the peer refused the session), give up now.
  void noteError(Status s, bool fatal);
  Status lastError() const;
  bool fatal() const;
  // The channel failed or is gone: refuse reconnects, never touch wake_fd.
  void close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  int wake_fd_;
  std::optional<LaneSession> lanes_;
  Status last_error_;
  bool fatal_ = false;
  bool closed_ = false;
};

// Accepting side: the sessions of one listener that may resume, and a way
// for a waiting channel to run that listener's accept loop when no caller
// of accept() does. Thread-safe.
class ResumeHub {
 public:
  void add(const wire::SessionId& id, std::weak_ptr<ResumeMailbox> box, int lanes);
  // OK when `hello` may reconnect the session it names; else why not.
  Status check(const wire::Hello& hello, const std::string& peer);
  // The mailbox of a live session, else null (dead entries are dropped).
  std::shared_ptr<ResumeMailbox> find(const wire::SessionId& id);
  // The listener's accept loop for up to `ms`; returns false when it is
  // busy in another thread (which then routes lanes itself) or gone.
  void setPump(std::function<bool(int ms)> pump);
  bool pump(int ms);

 private:
  struct Entry {
    std::weak_ptr<ResumeMailbox> box;
    int lanes = 0;
  };
  std::mutex mu_;
  std::map<wire::SessionId, Entry> sessions_;
  std::mutex pump_mu_;
  std::function<bool(int)> pump_;
};

// A thread that works for one resume attempt of one channel and stops (and
// is joined) when destroyed; it touches nothing of the channel but the
// mailbox, so the channel's lock is never held across its waits.
class Resumer {
 public:
  // Connecting side: reconnects `lanes` lanes of `session` to `uri` until
  // `until`, an attempt starting every back-off step (50 ms doubling to
  // 1 s). Each attempt is bounded by min(connect_timeout, 2 s), which bounds
  // how long destruction waits, and gives up on an unanswered SYN after
  // max(step, 2 x `rtt`) (the lanes' RTT before the cut), so a link that
  // comes back is tried within a step, not after the kernel's next SYN
  // retransmission (1 s, 3 s, ... after the first).
  static std::unique_ptr<Resumer> reconnect(Uri uri, ChannelOptions o, int lanes,
                                            wire::SessionId session,
                                            std::shared_ptr<ResumeMailbox> box, Deadline until,
                                            std::chrono::microseconds rtt);
  // Accepting side: keeps the listener accepting until lanes arrive or `until`.
  static std::unique_ptr<Resumer> await(std::shared_ptr<ResumeHub> hub,
                                        std::shared_ptr<ResumeMailbox> box, Deadline until);
  ~Resumer();

 private:
  Resumer() = default;
  // Sleeps up to `d`; false once stopped.
  bool pause(std::chrono::milliseconds d);

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace farlink::tcp
