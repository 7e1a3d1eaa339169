// A farlink channel over N TCP connections ("lanes") driven by one io_uring.
// Setup, API and the driver loop live in tcp_channel.cpp; the per-byte path
// (batching sends, parsing frames, CQE handling) in tcp_datapath.cpp.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/framed_channel.h"
#include "core/receive_matcher.h"
#include "core/send_queue.h"
#include "core/unique_fd.h"
#include "core/wire.h"
#include "transport/tcp/lane_session.h"
#include "transport/tcp/liveness.h"
#include "transport/tcp/resume.h"
#include "transport/tcp/tcp_flow.h"
#include "transport/tcp/tls_lane.h"

namespace farlink::tcp {

// Frames per sendmsg batch; each frame takes a header iovec and a payload iovec.
inline constexpr size_t kMaxBatchFrames = 32;
// Stop adding frames to a batch past this many bytes.
inline constexpr size_t kBatchBytes = 256 * 1024;
inline constexpr size_t kStagingBytes = 256 * 1024;
// Payload remainders at least this large are received straight into the
// destination buffer instead of through the staging buffer.
inline constexpr size_t kDirectMin = 32 * 1024;
// Send batches up to this size try a plain sendmsg before io_uring.
inline constexpr size_t kInlineSendMax = 16 * 1024;

struct Lane {
  int index = 0;
  UniqueFd fd;
  LaneStats stats;

  // --- send: one sendmsg in flight at a time keeps stream order ---
  bool send_busy = false;
  // Chunks in the sendmsg in flight, with the queue each came from.
  std::vector<std::pair<SendQueue*, ChunkRef>> batch;
  std::array<std::array<uint8_t, wire::kFrameHeaderSize>, kMaxBatchFrames + 1> hdr{};
  std::array<iovec, 2 * kMaxBatchFrames + 1> iov{};
  msghdr mh{};
  size_t batch_left = 0;  // bytes of the batch not yet accepted by the kernel
  bool close_in_batch = false;
  bool close_frame_sent = false;

  // --- receive ---
  enum class RxState { kHeader, kPayload, kStalled, kDone };
  RxState rx = RxState::kHeader;
  bool recv_busy = false;
  bool recv_direct = false;    // the recv in flight targets `dest`
  std::unique_ptr<uint8_t[]> staging;
  std::array<iovec, 2> rx_iov{};  // direct receive: payload rest + next header
  msghdr rx_mh{};
  size_t rpos = 0, rend = 0;   // unparsed bytes in staging
  wire::FrameHeader cur{};     // header being delivered or stalled
  InMessage* msg = nullptr;
  uint8_t* dest = nullptr;     // null: drop payload
  uint64_t remaining = 0;
  bool last_was_large = false; // next header likely precedes a large payload
  bool peer_closed = false;    // CLOSE frame seen
  uint64_t peer_total = 0;     // messages the peer says it sent

  // --- session resume (tcp_resume.cpp); used only when it was agreed ---
  struct Sent {  // a frame kept until the peer acknowledges it (no copy)
    wire::FrameHeader h;
    const uint8_t* payload = nullptr;
    SendQueue* q = nullptr;  // null: a header-only control frame
    ChunkRef c{};
  };
  std::deque<Sent> unacked;  // sent on this lane, oldest first
  uint64_t tx_acked = 0;     // frames of this lane the peer acknowledged
  uint64_t resend_next = 0, resend_end = 0;  // frames to send again, before new ones
  uint64_t rx_frames = 0;    // frames of this lane consumed here
  uint64_t rx_acked = 0;     // the count our last ACK or RESUME carried
  size_t retained_in_batch = 0;   // new chunks kept in the sendmsg in flight
  bool resume_frame_due = false;  // a reconnected lane says RESUME first
  bool awaiting_resume = false;   // the peer's RESUME has not arrived yet

  // --- liveness (TcpChannel::checkLiveness, see liveness.h) ---
  LivenessWatch watch;
  std::chrono::milliseconds silence_bound{0};  // as of the last look
  uint32_t rtt_us = 0;                         // as of the last look
  bool keepalive_due = false;  // send a KEEPALIVE with the next batch

  // --- TLS (tcp_tls_path.cpp); null: a plaintext lane ---
  std::shared_ptr<TlsLane> tls;
  // OpenSSL seals and opens this lane's records (not the kernel, kTLS).
  bool userTls() const { return tls && !tls->kernel(); }
  std::vector<uint8_t> sealed;           // records of the sendmsg in flight
  std::unique_ptr<uint8_t[]> cipher_in;  // records received, not yet decrypted
};

class TcpChannel final : public FramedChannel {
 public:
  using Setup = LaneSession;
  static Result<std::shared_ptr<TcpChannel>> create(Setup setup);
  ~TcpChannel() override;

  void abandon(RequestState& req, const Status& why) override;
  Status close(Deadline deadline) override;
  ChannelStats stats() const override;

  explicit TcpChannel(Setup setup);

 private:
  // One pass of the driver: arm work, enter the kernel (blocking up to the
  // deadline only if `block`), handle completions. Called with lk held and
  // driving_ set; drops lk while in the kernel.
  void driveOnce(Lock& lk, Deadline deadline, bool block) override;
  void wakeDriver() override;
  bool anyLaneStalled() const override {
    for (const auto& l : lanes_)
      if (l->rx == Lane::RxState::kStalled) return true;
    return false;
  }

  // tcp_datapath.cpp
  void armAll();
  void armSend(Lane& lane);
  void submitSend(Lane& lane);
  void armRecv(Lane& lane);
  void onCompletion(uint64_t data, int res);
  void onSent(Lane& lane, int res);
  // Accounts `sent` bytes of the lane's batch: true when all of it is sent
  // (its chunks are done), false after a short send (iovecs advanced).
  bool batchTook(Lane& lane, size_t sent);
  void onReceived(Lane& lane, int res);
  Status silentPeer(const Lane& lane) const;
  // While a caller drives: looks at every lane (liveness.h), queues a
  // KEEPALIVE on quiet ones and loses the lanes when one's bytes went
  // unacknowledged for its bound; schedules the next look.
  void checkLiveness(Clock::time_point now);
  void parse(Lane& lane);
  bool routeCurrent(Lane& lane);
  void onCloseFrame(Lane& lane);
  void retryStalled();
  void payloadDone(Lane& lane);
  bool goodbyePending() const;
  // Anything for some lane to send, keepalives aside.
  bool sendWork() const {
    return resume_ || framesQueued();
  }
  // one-sided frames (tcp_datapath.cpp)
  bool routeRma(Lane& lane);
  void rmaPayloadDone(Lane& lane);
  // TLS lanes (tcp_tls_path.cpp): encrypt the batch just built in lane.mh
  // (false: the channel failed); decrypt what TLS holds into staging and
  // parse it, until TLS needs more bytes or the lane stalls.
  bool sealBatch(Lane& lane);
  void openTls(Lane& lane);
  // A kTLS lane's recv failed with EIO (a non-data record) or EBADMSG.
  Status kernelTlsError(const Lane& lane, int err) const;
  void fail(Status why);
  void finishFailure();
  // Session resume (tcp_resume.cpp). lost(): a lane broke without a
  // goodbye; resumes when agreed, else fail(). stepResume(): the resume's
  // state machine, run at the top of each driver pass.
  void lost(Status why);
  void beginResume(Status why);
  void stepResume();
  void installLanes(LaneSession s);
  bool retaining() const { return resume_ && !goodbye_; }
  bool ackPending() const;
  // An ACK or RESUME frame on `lane` (lane.cur).
  void onResumeCount(Lane& lane);
  // The peer consumed the first `count` frames sent on `lane`.
  void ackUpTo(Lane& lane, uint64_t count);
  // Closing: nothing will be resumed, so sends complete as without resume.
  void releaseRetained();
  Status resumeGaveUp() const;
  io_uring_sqe* sqe();

  Setup setup_;
  io_uring ring_{};
  bool ring_ok_ = false;
  UniqueFd wake_fd_;   // eventfd: other threads wake a blocked driver
  uint64_t wake_buf_ = 0;
  bool wake_armed_ = false;
  std::vector<std::unique_ptr<Lane>> lanes_;
  unsigned next_lane_ = 0;  // rotates which lane pulls chunks first
  int ops_in_flight_ = 0;   // lane SQEs, not counting the wake read
  uint64_t sends_prepared_ = 0;  // sendmsg SQEs prepared, ever (submitSend)
  unsigned unsubmitted_ = 0;
  // Channel-wide pacing and in-flight cap; null when flow control is off.
  std::unique_ptr<TcpFlow> flow_;
  flow::FlowTime now_{};  // this driver pass's time, for flow decisions
  void pollFlow();
  Clock::time_point next_liveness_{};

  // Session resume: kLive (lanes up), kDraining (lanes shut down, kernel ops
  // finishing), kWaiting (old sockets closed, resumer_ at work).
  enum class Phase { kLive, kDraining, kWaiting };
  bool resume_ = false;
  Phase phase_ = Phase::kLive;
  Status resume_cause_;
  Clock::time_point resume_since_{};
  Deadline resume_deadline_{};
  std::shared_ptr<ResumeMailbox> mailbox_;
  std::unique_ptr<Resumer> resumer_;
  uint64_t resumes_ = 0;
};

}  // namespace farlink::tcp
