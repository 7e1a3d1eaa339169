// RAII handles for rdma_cm and verbs objects, and bounded waits on their
// event channels, for `farlink ping --rping`. Deleters are noexcept and only
// log failures. Single-threaded: everything here runs on the caller's thread.
#pragma once

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "farlink/status.h"

namespace farlink::ping::rdma {

using Clock = std::chrono::steady_clock;

struct EventChannelDeleter {
  void operator()(rdma_event_channel* c) const noexcept;
};
struct CmIdDeleter {
  void operator()(rdma_cm_id* id) const noexcept;
};
struct PdDeleter {
  void operator()(ibv_pd* pd) const noexcept;
};
struct CompChannelDeleter {
  void operator()(ibv_comp_channel* c) const noexcept;
};
struct CqDeleter {
  void operator()(ibv_cq* cq) const noexcept;
};
struct MrDeleter {
  void operator()(ibv_mr* mr) const noexcept;
};

using EventChannelPtr = std::unique_ptr<rdma_event_channel, EventChannelDeleter>;
using CmIdPtr = std::unique_ptr<rdma_cm_id, CmIdDeleter>;
using PdPtr = std::unique_ptr<ibv_pd, PdDeleter>;
using CompChannelPtr = std::unique_ptr<ibv_comp_channel, CompChannelDeleter>;
using CqPtr = std::unique_ptr<ibv_cq, CqDeleter>;
using MrPtr = std::unique_ptr<ibv_mr, MrDeleter>;

// The QP rdma_create_qp() hung on a cm id; destroyed with rdma_destroy_qp().
// Must be destroyed before that id, its CQ and its PD.
class QpGuard {
 public:
  QpGuard() = default;
  ~QpGuard();
  QpGuard(const QpGuard&) = delete;
  QpGuard& operator=(const QpGuard&) = delete;
  // Takes charge of id->qp once rdma_create_qp() succeeded; once only.
  void adopt(rdma_cm_id* id) { id_ = id; }
  ibv_qp* get() const { return id_ ? id_->qp : nullptr; }

 private:
  rdma_cm_id* id_ = nullptr;
};

// A cm event copied out of librdmacm and already acknowledged, so ids can be
// destroyed at any time afterwards.
struct CmEvent {
  rdma_cm_event_type type = RDMA_CM_EVENT_ADDR_ERROR;
  int status = 0;
  rdma_cm_id* id = nullptr;
  rdma_cm_id* listen_id = nullptr;
};

// A non-blocking event channel (so waits can time out and notice `stop`).
Result<EventChannelPtr> createEventChannel();
Result<CmIdPtr> createId(rdma_event_channel* channel);

// The next cm event, if one is queued; nullopt-like kAgain otherwise.
Result<CmEvent> pollCmEvent(rdma_event_channel* channel);

// Waits until `fd_a` or `fd_b` (-1: none) is readable, `deadline` passes
// (kTimedOut) or `stop` is set (kCancelled). Wakes every 200 ms to look at `stop`.
Status waitReadable(int fd_a, int fd_b, Clock::time_point deadline, const std::atomic<bool>& stop);

// The next cm event within `deadline`.
Result<CmEvent> waitCmEvent(rdma_event_channel* channel, Clock::time_point deadline,
                            const std::atomic<bool>& stop);

// getaddrinfo() for rdma_cm: IPv4 or IPv6, numeric port set.
Result<sockaddr_storage> resolveAddress(const std::string& host, uint16_t port);
// "10.0.0.2:7174" / "[fe80::1]:7174" for the messages.
std::string formatAddress(const sockaddr* sa);

// "RDMA_CM_EVENT_REJECTED (status 8)" style text for errors.
std::string describeEvent(const CmEvent& e);

// Turns an unwanted cm event on `id` into an error naming `peer` and `what`.
Status unexpectedEvent(const CmEvent& e, const std::string& peer, const std::string& what);

}  // namespace farlink::ping::rdma
