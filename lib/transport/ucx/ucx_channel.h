// A farlink channel over UCP: one worker per channel, one endpoint per lane
// to the peer's worker. Frames are farlink's (core/wire.h) carried as UCP
// active messages: the AM header is an 8-byte lane header plus the 40-byte
// frame header, the AM data is the chunk, sent straight from the user's
// buffer; UCX picks eager or rendezvous, and rendezvous chunks are fetched
// straight into the receive buffer (ucp_am_recv_data_nbx).
//
// Lane header: u16 lane, u16 credits returned for frames this side consumed
// on that lane, u32 lane sequence (frames are placed in lane order even if
// UCX hands them over out of order). Each lane is credit-limited to
// kLaneCredits frames the receiver has not consumed yet, which bounds the
// eager data a receiver holds while its application posts no receives.
//
// Wireup (ucx_transport.cpp): a TCP bootstrap connection on the listener port
// carries the farlink handshake (PSK proof) and then the worker addresses
// (ucx_bootstrap.h); it stays open so that a peer that exits is noticed at
// once. Setup, API and driver loop live in ucx_channel.cpp, the per-frame
// path in ucx_datapath.cpp; operations common to every datapath in
// core/framed_channel.h.
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/framed_channel.h"
#include "core/unique_fd.h"
#include "transport/ucx/ucx_handles.h"

namespace farlink::ucx {

inline constexpr unsigned kAmFrame = 0x464c;   // frames
inline constexpr unsigned kAmCredit = 0x464d;  // credit notes (header only)
inline constexpr size_t kLaneHeaderSize = 8;
inline constexpr size_t kAmHeaderSize = kLaneHeaderSize + wire::kFrameHeaderSize;
// Frames a lane may have unconsumed at the receiver; also the sender's
// window of chunks in flight per lane.
inline constexpr uint32_t kLaneCredits = 64;

class UcxChannel;

struct RxFrame {
  wire::FrameHeader h;
  void* data = nullptr;  // UCX data (eager) or descriptor (rendezvous); null: none
  size_t len = 0;
  bool rndv = false;
};

struct Lane {
  UcxChannel* channel = nullptr;
  int index = 0;
  Endpoint ep;
  bool failed = false;  // UCX reported the endpoint unusable
  LaneStats stats;

  // --- send ---
  uint32_t credits = kLaneCredits;  // frames the peer can still take
  uint32_t owed = 0;                // frames consumed here, not yet credited back
  uint32_t next_tx_seq = 0;
  bool close_queued = false;
  bool close_frame_sent = false;

  // --- receive ---
  uint32_t next_rx_seq = 0;
  std::map<uint32_t, RxFrame> early;  // arrived ahead of next_rx_seq
  std::deque<RxFrame> rxq;            // in lane order, not yet consumed
  bool stalled = false;               // the matcher cannot place rxq.front() yet
  bool peer_closed = false;
  uint64_t peer_total = 0;
};

// One AM send (frame or credit note) until UCX completes it.
struct SendOp {
  Lane* lane = nullptr;
  SendQueue* from = nullptr;
  std::optional<ChunkRef> chunk;
  bool close = false;
  std::array<uint8_t, kAmHeaderSize> header{};  // UCX may read it until completion
  std::list<SendOp>::iterator self;
};

// One rendezvous fetch into its destination until UCX completes it.
struct FetchOp {
  Lane* lane = nullptr;
  wire::FrameHeader h;
  InMessage* msg = nullptr;  // DATA frames: the matcher's message
  std::list<FetchOp>::iterator self;
};

class UcxChannel final : public FramedChannel {
 public:
  struct Setup {
    std::unique_ptr<Worker> worker;
    UniqueFd bootstrap;  // the TCP connection the handshake ran on
    std::vector<uint8_t> peer_address;
    int lanes = 1;
    std::string peer;
    std::string session_hex;
    uint32_t local_chunk = 0;
    uint32_t peer_chunk = 0;
    bool authenticated = false;
    std::string reason;  // auto://: why this transport was chosen
    ChannelOptions options;
  };
  // Registers the AM handlers, connects one endpoint per lane and waits
  // (up to options.connect_timeout) until UCX finished wiring them up; the
  // peer does the same at the same time (its connect or accept).
  static Result<std::shared_ptr<UcxChannel>> create(Setup setup);
  ~UcxChannel() override;

  void abandon(RequestState& req, const Status& why) override;
  Status close(Deadline deadline) override;
  ChannelStats stats() const override;

  explicit UcxChannel(Setup setup);

  // UCX callbacks (run inside ucp_worker_progress, with mu_ held).
  static ucs_status_t onFrame(void* arg, const void* header, size_t header_length, void* data,
                              size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t onCredit(void* arg, const void* header, size_t header_length, void* data,
                               size_t length, const ucp_am_recv_param_t* param);
  static void onSendDone(void* request, ucs_status_t status, void* user_data);
  static void onFetchDone(void* request, ucs_status_t status, size_t length, void* user_data);
  static void onFlushDone(void* request, ucs_status_t status, void* user_data);
  static void onEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);

 private:
  // One pass: progress the worker, consume frames, post sends; then, if
  // nothing moved and `block`, sleep on the worker's event fd (or spin in
  // busy-poll mode) up to the deadline. Drops lk while sleeping.
  void driveOnce(Lock& lk, Deadline deadline, bool block) override;
  void wakeDriver() override;
  bool sendWholeNow(const wire::FrameHeader& h, const uint8_t* payload) override;
  bool anyLaneStalled() const override {
    for (const auto& l : lanes_)
      if (l->stalled) return true;
    return false;
  }
  void sleep(Lock& lk, Deadline deadline);
  void checkBootstrap();
  void checkPeerVanished();

  // ucx_datapath.cpp
  bool pump(bool poll);  // true if anything moved
  ucs_status_t acceptFrame(const void* header, size_t header_length, void* data, size_t length,
                           const ucp_am_recv_param_t* param);
  void takeCredits(Lane& lane, uint32_t back);
  // A frame first in line was placed on arrival, without queueing.
  void takenInOrder(Lane& lane);
  void releaseFrame(RxFrame& f);
  void consume(Lane& lane);
  bool place(Lane& lane, RxFrame& f, uint8_t* dest, InMessage* msg);
  void chunkPlaced(const wire::FrameHeader& h, InMessage* msg);
  void onCloseFrame(Lane& lane);
  void retryStalled();
  void armAll();
  void armSend(Lane& lane);
  bool sendFrame(Lane& lane, const wire::FrameHeader& h, const uint8_t* payload, SendQueue* from,
                 std::optional<ChunkRef> chunk, bool close);
  void sendCreditNote(Lane& lane);
  void sendDone(SendOp& op, ucs_status_t status);
  void fetchDone(FetchOp& op, ucs_status_t status);
  void startFlush();
  Status awaitWireup(Deadline deadline);
  SendOp& newSend(Lane& lane);
  FetchOp& newFetch(Lane& lane);
  void dropSend(SendOp& op) { spare_sends_.splice(spare_sends_.end(), sends_, op.self); }
  void dropFetch(FetchOp& op) { spare_fetches_.splice(spare_fetches_.end(), fetches_, op.self); }
  // Anything for armAll() to do: queued frames or chunks, a goodbye, or
  // credits owed (cheap, checked on every pass of a spinning driver).
  bool sendWorkWaiting() const;

  void fail(Status why);
  void finishFailure();
  std::vector<Endpoint*> endpoints();
  void failProtocol(const Lane* lane, const std::string& what);

  Setup setup_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  int efd_ = -1;      // the worker's event fd (owned by UCX)
  UniqueFd wake_fd_;  // other threads wake a sleeping driver
  bool busy_poll_ = false;
  uint32_t spins_ = 0;
  bool bootstrap_readable_ = false;
  bool bootstrap_eof_ = false;
  Deadline vanished_at_ = Deadline::max();  // bootstrap EOF or endpoint error seen
  unsigned next_lane_ = 0;
  std::unique_ptr<uint8_t[]> scratch_;  // rendezvous target for dropped payloads

  std::list<SendOp> sends_;     // in flight
  std::list<FetchOp> fetches_;  // in flight
  // Finished ops' list nodes, reused (spliced) so a frame costs no allocation.
  std::list<SendOp> spare_sends_;
  std::list<FetchOp> spare_fetches_;
  int flushes_pending_ = 0;     // endpoint flushes started by close()
  bool wired_up_ = false;       // every endpoint finished wireup (create)
  bool books_closed_ = false;   // queues and books were failed
};

}  // namespace farlink::ucx
