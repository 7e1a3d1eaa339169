// What the tcp, verbs and ucx channels share: farlink frames over lanes.
// The public operations (isend/irecv/iwrite/iread/wait/progress/flush), the
// driver protocol (one caller thread drives the datapath, others wait on
// cv_ and wake it), and the frame-level state every datapath keeps: send
// queues, the receive matcher, the RMA books and the goodbye flags.
// A datapath implements driveOnce() (one pass of its I/O) and wakeDriver(),
// and the lane-level work (posting frames, consuming them).
#pragma once

#include <poll.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/channel_impl.h"
#include "core/receive_matcher.h"
#include "core/request_pool.h"
#include "core/request_state.h"
#include "core/rma_book.h"
#include "core/send_queue.h"
#include "core/wire.h"

namespace farlink {

class FramedChannel : public ChannelImpl {
 public:
  FramedChannel(std::string peer, uint32_t local_chunk, uint32_t peer_chunk, size_t max_unexpected);

  Result<Request> isend(const void* data, size_t size, uint64_t tag) override;
  Result<Request> irecv(void* data, size_t capacity, uint64_t tag) override;
  Result<Request> iwrite(const void* local, size_t size, const RemoteKey& key,
                         uint64_t offset) override;
  Result<Request> iread(void* local, size_t size, const RemoteKey& key, uint64_t offset) override;
  Status wait(RequestState& req, Deadline deadline) override;
  Status progress(Deadline deadline) override;
  Status flush(Deadline deadline) override;
  std::string peer() const override { return peer_; }

 protected:
  using Lock = std::unique_lock<std::mutex>;

  // One pass of the datapath's I/O, called with lk held and driving_ set;
  // may drop lk while it sleeps (up to the deadline, only if `block`).
  virtual void driveOnce(Lock& lk, Deadline deadline, bool block) = 0;
  // Makes a driver sleeping in driveOnce look again (called with lk held).
  virtual void wakeDriver() = 0;
  // isend's shortcut for a message of one chunk when no frame is queued
  // ahead: a datapath that can hand `h` and its payload to the wire and
  // finish the send at once, without a driver pass, does so and returns
  // true. False: nothing happened, the message goes through the send queue.
  virtual bool sendWholeNow(const wire::FrameHeader& h, const uint8_t* payload) {
    (void)h;
    (void)payload;
    return false;
  }

  // Frames of any kind wait for a lane: data or RMA chunks, control
  // frames, or the goodbye exchange. Datapaths add their own extras.
  bool framesQueued() const {
    return goodbye_ || !ctrlq_.empty() || sendq_.hasChunks() || rmaq_.hasChunks();
  }
  // Drives (or waits for the driver) until done() or the deadline.
  template <typename Pred>
  Status driveUntil(Lock& lk, Deadline deadline, Pred done, const char* what) {
    while (!done()) {
      if (!driving_) {
        driving_ = true;
        driveOnce(lk, deadline, true);
        driving_ = false;
        notifyWaiters();
      } else {
        ++waiters_;
        if (deadline == Deadline::max()) cv_.wait(lk);
        else cv_.wait_until(lk, deadline);
        --waiters_;
      }
      if (!done() && deadline != Deadline::max() && Clock::now() >= deadline)
        return Status(StatusCode::kTimedOut,
                      std::string("timed out waiting for ") + what + " on the channel to " + peer_);
    }
    return Status();
  }
  // The first half of a graceful close: remaining data, then a CLOSE frame
  // on every lane (each lane's close_frame_sent), then the peer's own CLOSEs
  // (peer_closed), so that tearing down cannot cut off anything either side
  // still sends. `lanes`: the datapath's lanes (pointers).
  template <typename Lanes>
  Status exchangeGoodbyes(Lock& lk, Deadline deadline, const Lanes& lanes) {
    goodbye_ = true;
    auto all = [&](auto flag) {
      for (const auto& l : lanes)
        if (!((*l).*flag)) return false;
      return true;
    };
    using Lane = std::remove_cvref_t<decltype(*lanes.front())>;
    Status s = driveUntil(
        lk, deadline, [&] { return !failed_.isOk() || all(&Lane::close_frame_sent); },
        "pending sends and goodbye frames");
    if (s.isOk())
      s = driveUntil(
          lk, deadline, [&] { return !failed_.isOk() || all(&Lane::peer_closed); },
          "the peer to close its side");
    return s;
  }
  // Lanes stalled on a frame the matcher could not place get another try
  // whenever the matcher moved on (a receive posted, a message finished):
  // `retry(lane)` re-runs one lane's consumer; repeats while that moves it.
  template <typename Lanes, typename Retry>
  void retryStalledLanes(Lanes& lanes, Retry retry) {
    while (matcher_.generation() != stalled_gen_ && failed_.isOk()) {
      stalled_gen_ = matcher_.generation();
      for (auto& l : lanes) retry(*l);
    }
  }
  // The peer's CLOSE arrived on `lane`, announcing `total` messages. Once
  // every lane has one, checks that they agree and answers (peerGoodbye).
  // Returns an error to fail the channel with, or OK.
  template <typename Lanes, typename Lane>
  [[nodiscard]] Status closeFrameOn(const Lanes& lanes, Lane& lane, uint64_t total) {
    lane.peer_closed = true;
    lane.peer_total = total;
    for (const auto& l : lanes)
      if (!(*l).peer_closed) return Status();
    for (const auto& l : lanes)
      if ((*l).peer_total != total) return protocolError("", "announced different message totals on its lanes");
    return peerGoodbye(total);
  }
  // A driver's pass ended: threads waiting for it look again. Most
  // channels have one thread, and a broadcast nobody hears still costs.
  void notifyWaiters() {
    if (waiters_ > 0) cv_.notify_all();
  }
  // Whether a receive just posted may let a stalled lane go on, so that
  // irecv has to drive a pass (or wake the driver) rather than leave the
  // lanes to the next wait. Datapaths that track stalls say so.
  virtual bool anyLaneStalled() const { return true; }
  // Sleeps in poll(2) on `fds` (fds[0]: the eventfd other threads wake the
  // driver with; drained here) until an event or the deadline, lk dropped.
  void pollUnlocked(Lock& lk, std::vector<pollfd>& fds, Deadline deadline);
  // The statistics every datapath reports the same way (caller holds mu_).
  ChannelStats commonStats(std::string transport) const;
  // New work: lets the driver (if any) notice, or drives one non-blocking pass.
  void kick(Lock& lk);
  bool sendQueuesDrained() const;
  // What a lane carries next, for datapaths that send a frame at a time:
  // a control frame first, then a chunk, messages and one-sided payloads
  // taking turns going first by lane parity so neither starves the other.
  // The frame is taken off its queue; nullopt when nothing waits.
  struct OutFrame {
    wire::FrameHeader h;
    const uint8_t* payload = nullptr;  // null for header-only frames
    SendQueue* from = nullptr;         // the queue the chunk came from
    std::optional<ChunkRef> chunk;
  };
  std::optional<OutFrame> takeFrame(size_t lane_index);
  // Goodbye said and nothing left to send: the lanes' CLOSE frames may go.
  bool closeDue() const;
  wire::FrameHeader closeFrame() const;
  // The peer's CLOSE arrived on every lane, announcing `total` messages:
  // checks the count (an error to fail the channel with), then stops sends
  // and answers with our own goodbye.
  [[nodiscard]] Status peerGoodbye(uint64_t total);
  // Once the peer said goodbye, what was not handed to the datapath yet can
  // never go; fails it (once no chunk is in flight: those finish normally).
  void failUnsentIfPeerGone(bool chunks_in_flight);
  // Fails every queued operation and pending receive with failed_.
  void failQueues();
  Status protocolError(const std::string& where, const std::string& what) const;

  const std::string peer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool driving_ = false;
  int waiters_ = 0;  // threads in cv_.wait for the driver's pass (under mu_)
  // Set while isend/irecv drive their pass: a datapath may leave its
  // re-armed receives for the next submission (the wait or the send that
  // follows) instead of entering the kernel for them, as long as the pass
  // left nothing else waiting to be submitted.
  bool lazy_kick_ = false;
  RequestPool requests_;  // isend/irecv states, recycled
  SendQueue sendq_;
  ReceiveMatcher matcher_;
  // One-sided operations: their payload queue, header-only control frames,
  // and what each side still waits for.
  SendQueue rmaq_;
  std::deque<wire::FrameHeader> ctrlq_;
  RmaBook rma_;
  uint64_t stalled_gen_ = 0;  // matcher generation the stalled lanes last tried
  Status failed_;             // first fatal error
  bool failure_reported_ = false;
  bool goodbye_ = false;  // no new sends; CLOSE frames go out when data is done
  bool sendq_failed_ = false;
  bool closed_ = false;
  bool peer_gone_ = false;
  uint64_t messages_sent_ = 0;
  uint64_t bytes_sent_ = 0;

 private:
  Status admitRma(const char* op);
};

}  // namespace farlink
