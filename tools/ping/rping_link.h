// One rping connection: the RC queue pair on a cm id with rping's depths, its
// two 16-byte control receives, data buffers, and bounded waits for
// completions that also watch the cm channel (so a peer that disconnects or
// dies ends a wait with an error naming it instead of hanging).
// Single-threaded; not copyable.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "farlink/status.h"
#include "ping/rping_verbs.h"
#include "ping/rping_wire.h"

namespace farlink::ping::rdma {

// A registered buffer owned by a link. Members in teardown order: MR first.
struct Buffer {
  std::unique_ptr<char[]> data;
  size_t size = 0;
  int access = 0;
  MrPtr mr;
  RpingAdvert advert() const;  // what rping sends to offer this buffer
};

class RpingLink {
 public:
  // rping's sizes: SQ depth 16, 2 receives, CQ twice the SQ.
  static constexpr int kSendDepth = 16;
  static constexpr int kRecvDepth = 2;

  // Sets up PD, completion channel, CQ, QP and the control buffers on `id`
  // (address-resolved on a client, a connect request on a server); owns `id`.
  // Posts the receives, so the peer may SEND as soon as it is connected.
  static Result<std::unique_ptr<RpingLink>> create(CmIdPtr id, rdma_event_channel* events,
                                                   std::string peer,
                                                   std::chrono::milliseconds step_timeout,
                                                   const std::atomic<bool>& stop, bool debug);
  ~RpingLink();
  RpingLink(const RpingLink&) = delete;
  RpingLink& operator=(const RpingLink&) = delete;

  const std::string& peer() const { return peer_; }
  rdma_cm_id* id() const { return id_.get(); }

  // rdma_connect / rdma_accept with rping's parameters, then wait for ESTABLISHED.
  Status connect();
  Status accept();
  // rdma_disconnect, then a short wait for the local DISCONNECTED event.
  void disconnect();

  // A zeroed buffer of `size` bytes registered with `access`; stays valid
  // until the link dies. resize() re-registers it (no transfer may be pending).
  Result<Buffer*> allocate(size_t size, int access);
  Status resize(Buffer* buffer, size_t size);

  // SENDs one 16-byte advert (waits until the previous SEND completed, since
  // they share one send buffer).
  Status sendAdvert(const RpingAdvert& advert, const char* what);
  // The next received advert; kPeerClosed if the peer disconnects first.
  Result<RpingAdvert> receiveAdvert(const char* what);
  // RDMA READ (remote -> local) or WRITE (local -> remote); waits for it.
  Status rdma(ibv_wr_opcode opcode, Buffer* local, size_t len, const RpingAdvert& remote,
              const char* what);

 private:
  RpingLink(CmIdPtr id, rdma_event_channel* events, std::string peer,
            std::chrono::milliseconds step_timeout, const std::atomic<bool>& stop, bool debug);
  Status setUp();
  Status postRecv(uint64_t slot);
  // Handles completions and cm events until `done()` or the step deadline.
  template <typename Done>
  Status waitUntil(Done done, const std::string& what);
  Status pump(Clock::time_point deadline, const std::string& what);
  Status handleCompletion(const ibv_wc& wc, const std::string& what);
  Status handleCmEvent(const CmEvent& e, const std::string& what);
  Status fail(StatusCode code, const std::string& message, int err = 0) const;
  void debug(const std::string& line) const;

  rdma_event_channel* events_;
  std::string peer_;
  std::chrono::milliseconds step_timeout_;
  const std::atomic<bool>& stop_;
  bool debug_;

  // Teardown runs bottom-up: QP, buffers, CQ, channel, PD, id.
  CmIdPtr id_;
  PdPtr pd_;
  CompChannelPtr comp_channel_;
  CqPtr cq_;
  bool cq_armed_ = false;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  Buffer* recv_buf_ = nullptr;  // kRecvDepth adverts, one slot per receive
  Buffer* send_buf_ = nullptr;
  QpGuard qp_;

  std::deque<RpingAdvert> received_;
  int sends_pending_ = 0;
  bool rdma_pending_ = false;
  bool established_ = false;
  bool disconnected_ = false;
};

}  // namespace farlink::ping::rdma
