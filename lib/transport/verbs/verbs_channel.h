// A farlink channel over N RC QPs ("lanes"). Frames are the TCP datapath's
// (40-byte header + payload), one frame per SEND, copied through registered
// slots. Flow control is receiver-credited: every lane keeps kRecvSlots
// receives posted, the peer starts with that many credits and each SEND
// carries, as immediate data, the slots this side has re-posted since.
// Setup, API and the driver loop live in verbs_channel.cpp; the per-frame
// path in verbs_datapath.cpp; one-sided operations in verbs_rma.cpp.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/channel_impl.h"
#include "core/receive_matcher.h"
#include "core/region_table.h"
#include "core/rma_book.h"
#include "core/send_queue.h"
#include "core/unique_fd.h"
#include "transport/verbs/verbs_lane.h"

namespace farlink::verbs {

class VerbsChannel final : public ChannelImpl {
 public:
  struct Setup {
    UniqueEventChannel events;  // every lane's cm id reports here
    std::vector<std::unique_ptr<Lane>> lanes;
    std::string peer;
    std::string session_hex;
    uint32_t local_chunk = 0;
    uint32_t peer_chunk = 0;
    bool authenticated = false;
    std::string fallback_reason;  // auto://: why this transport was chosen
    ChannelOptions options;
  };
  static Result<std::shared_ptr<VerbsChannel>> create(Setup setup);
  ~VerbsChannel() override;

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

  explicit VerbsChannel(Setup setup);

 private:
  using Lock = std::unique_lock<std::mutex>;
  template <typename Pred>
  Status driveUntil(Lock& lk, Deadline deadline, Pred done, const char* what);
  // One pass: reap completions, consume frames, post sends; then, if
  // nothing moved and `block`, sleep on the completion channels (or spin in
  // busy-poll mode) up to the deadline. Drops lk while sleeping.
  void driveOnce(Lock& lk, Deadline deadline, bool block);
  void kick(Lock& lk);
  void sleep(Lock& lk, Deadline deadline);
  void handleCmEvents();

  // verbs_datapath.cpp
  bool pollAll();  // true if any completion was handled
  void onCompletion(Lane& lane, const ibv_wc& wc);
  void consume(Lane& lane);
  bool routeCurrent(Lane& lane);
  void deliverPayload(Lane& lane, const uint8_t* payload, uint8_t* dest);
  void onCloseFrame(Lane& lane);
  void retryStalled();
  void armAll();
  void armSend(Lane& lane);
  bool sendFrame(Lane& lane, const wire::FrameHeader& h, const uint8_t* payload);
  bool sendQueuesDrained() const;
  // verbs_rma.cpp
  Status admitRma(const char* op);
  bool routeRma(Lane& lane, uint8_t** dest);
  void rmaPayloadDone(Lane& lane);
  void failRma(const Status& why);

  void fail(Status why);
  void finishFailure();

  Setup setup_;
  std::vector<std::unique_ptr<Lane>>& lanes_;
  UniqueFd wake_fd_;  // other threads wake a sleeping driver
  bool busy_poll_ = false;
  uint32_t spins_ = 0;  // busy-poll iterations, to space out the syscalls
  unsigned next_lane_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool driving_ = false;
  SendQueue sendq_;
  ReceiveMatcher matcher_;

  SendQueue rmaq_;
  std::deque<wire::FrameHeader> ctrlq_;
  RmaBook rma_;
  uint64_t stalled_gen_ = 0;
  Status failed_;
  bool failure_reported_ = false;
  bool goodbye_ = false;
  bool sendq_failed_ = false;
  bool closed_ = false;
  bool peer_gone_ = false;
  uint64_t messages_sent_ = 0;
  uint64_t bytes_sent_ = 0;
};

}  // namespace farlink::verbs
