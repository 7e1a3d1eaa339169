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

#include "core/channel_impl.h"
#include "core/receive_matcher.h"
#include "core/region_table.h"
#include "core/rma_book.h"
#include "core/send_queue.h"
#include "core/unique_fd.h"
#include "core/wire.h"
#include "transport/tcp/lane_session.h"

namespace farlink::tcp {

// Frames per sendmsg batch; each frame takes a header iovec and a payload iovec.
inline constexpr size_t kMaxBatchFrames = 32;
// Stop adding frames to a batch past this many bytes.
inline constexpr size_t kBatchBytes = 256 * 1024;
inline constexpr size_t kStagingBytes = 256 * 1024;
// Payload remainders at least this large are received straight into the
// destination buffer instead of through the staging buffer.
inline constexpr size_t kDirectMin = 32 * 1024;

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
};

class TcpChannel final : public ChannelImpl {
 public:
  using Setup = LaneSession;
  static Result<std::shared_ptr<TcpChannel>> create(Setup setup);
  ~TcpChannel() override;

  Result<Request> isend(const void* data, size_t size, uint64_t tag) override;
  Result<Request> irecv(void* data, size_t capacity, uint64_t tag) override;
  Result<Request> iwrite(const void* local, size_t size, const RemoteKey& key,
                         uint64_t offset) override;
  Result<Request> iread(void* local, size_t size, const RemoteKey& key, uint64_t offset) override;
  Status wait(RequestState& req, Deadline deadline) override;
  Status progress(Deadline deadline) override;
  void abandon(RequestState& req, const Status& why) override;
  Status flush(Deadline deadline) override;
  Status close(Deadline deadline) override;
  ChannelStats stats() const override;
  std::string peer() const override { return setup_.peer; }

  explicit TcpChannel(Setup setup);

 private:
  using Lock = std::unique_lock<std::mutex>;
  template <typename Pred>
  Status driveUntil(Lock& lk, Deadline deadline, Pred done, const char* what);
  // One pass of the driver: arm work, enter the kernel (blocking up to the
  // deadline only if `block`), handle completions. Called with lk held and
  // driving_ set; drops lk while in the kernel.
  void driveOnce(Lock& lk, Deadline deadline, bool block);
  // Lets the driver (if any) notice new work, or drives one non-blocking pass.
  void kick(Lock& lk);

  // tcp_datapath.cpp
  void armAll();
  void armSend(Lane& lane);
  void submitSend(Lane& lane);
  void armRecv(Lane& lane);
  void onCompletion(uint64_t data, int res);
  void onSent(Lane& lane, int res);
  void onReceived(Lane& lane, int res);
  void parse(Lane& lane);
  bool routeCurrent(Lane& lane);
  void onCloseFrame(Lane& lane);
  void retryStalled();
  void payloadDone(Lane& lane);
  bool sendQueuesDrained() const;
  bool goodbyePending() const;
  // tcp_rma.cpp: one-sided operations
  Status admitRma(const char* op);
  bool routeRma(Lane& lane);
  void rmaPayloadDone(Lane& lane);
  void failRma(const Status& why);
  void fail(Status why);
  void finishFailure();
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
  unsigned unsubmitted_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool driving_ = false;
  SendQueue sendq_;
  ReceiveMatcher matcher_;

  // One-sided operations: their payload queue, header-only control frames,
  // and what each side still waits for.
  SendQueue rmaq_{0};
  std::deque<wire::FrameHeader> ctrlq_;
  RmaBook rma_;
  uint64_t stalled_gen_ = 0;  // matcher generation the stalled lanes last tried
  Status failed_;             // first fatal error; lanes shut down
  bool failure_reported_ = false;
  bool goodbye_ = false;     // no new sends; CLOSE frames go out when data is done
  bool sendq_failed_ = false;
  bool closed_ = false;
  bool peer_gone_ = false;
  uint64_t messages_sent_ = 0;
  uint64_t bytes_sent_ = 0;
};

}  // namespace farlink::tcp
