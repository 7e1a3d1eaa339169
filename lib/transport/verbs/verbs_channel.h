// A farlink channel over N RC QPs ("lanes"). Frames are the TCP datapath's
// (40-byte header + payload), one frame per SEND, copied through registered
// slots. Flow control is receiver-credited: every lane keeps kRecvSlots
// receives posted, the peer starts with that many credits and each SEND
// carries, as immediate data, the slots this side has re-posted since.
// Setup, API and the driver loop live in verbs_channel.cpp; the per-frame
// path (and one-sided frames) in verbs_datapath.cpp; what every datapath
// shares in core/framed_channel.h.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/framed_channel.h"
#include "core/unique_fd.h"
#include "transport/verbs/verbs_lane.h"

namespace farlink::verbs {

class VerbsChannel final : public FramedChannel {
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

  void abandon(RequestState& req, const Status& why) override;
  Status close(Deadline deadline) override;
  ChannelStats stats() const override;

  explicit VerbsChannel(Setup setup);

 private:
  // One pass: reap completions, consume frames, post sends; then, if
  // nothing moved and `block`, sleep on the completion channels up to the
  // deadline (busy-poll mode: spin a batch of passes). Drops lk meanwhile.
  void driveOnce(Lock& lk, Deadline deadline, bool block) override;
  void wakeDriver() override;
  bool step();
  void sleep(Lock& lk, Deadline deadline);
  void spin(Lock& lk);
  void handleCmEvents();
  std::string laneStates() const;

  // verbs_datapath.cpp
  bool pollAll();  // true if any completion was handled
  void onCompletion(Lane& lane, const ibv_wc& wc);
  void consume(Lane& lane);
  bool routeCurrent(Lane& lane);
  void deliverPayload(Lane& lane, const uint8_t* payload, uint8_t* dest);
  void onCloseFrame(Lane& lane);
  void retryStalled();
  void armAll();
  void armSend(Lane& lane, uint32_t depth);  // depth: most send slots busy after
  bool sendFrame(Lane& lane, const wire::FrameHeader& h, const uint8_t* payload);
  // one-sided frames (verbs_datapath.cpp)
  bool routeRma(Lane& lane, uint8_t** dest);
  void rmaPayloadDone(Lane& lane);

  void fail(Status why);
  void finishFailure();

  Setup setup_;
  std::vector<std::unique_ptr<Lane>>& lanes_;
  UniqueFd wake_fd_;  // other threads wake a sleeping driver
  bool busy_poll_ = false;
  uint32_t spins_ = 0;  // busy-poll iterations, to space out the syscalls
};

}  // namespace farlink::verbs
