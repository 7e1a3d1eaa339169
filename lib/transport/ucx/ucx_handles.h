// RAII over UCP handles. Teardown order is endpoints → worker → context: a
// Worker holds the context it was made from, and endpoints are closed by
// their owner (they need the worker progressed while closing).
#pragma once

#include <ucp/api/ucp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/channel_impl.h"

namespace farlink::ucx {

struct ContextDeleter {
  void operator()(ucp_context* c) const noexcept { ucp_cleanup(c); }
};
struct WorkerDeleter {
  void operator()(ucp_worker* w) const noexcept { ucp_worker_destroy(w); }
};

// A UCX call failed: a status naming what and with whom, and what to do.
Status ucxError(StatusCode code, const std::string& what, ucs_status_t st);

// One UCP context per process, shared by every channel and listener alive
// (ucp_init reads UCX_* from the environment and probes devices, which takes
// tens of milliseconds). Thread-safe.
Result<std::shared_ptr<ucp_context>> sharedContext();

// The transport resources a context found, e.g. "tcp/lo", "rc_mlx5/mlx5_0:1".
std::vector<std::string> resourceNames(ucp_context_h ctx);

// One worker per channel: its own progress engine, event fd and AM handlers.
class Worker {
 public:
  static Result<std::unique_ptr<Worker>> create(std::shared_ptr<ucp_context> ctx);
  ucp_worker_h get() const { return worker_.get(); }
  // This worker's address as bytes, for the peer's ucp_ep_create.
  Result<std::vector<uint8_t>> address() const;
  // Gives the worker (and its context) up without destroying them: for
  // endpoints UCX cannot close safely (see Endpoint::abandon).
  void abandon() noexcept;

 private:
  std::shared_ptr<ucp_context> ctx_;  // outlives worker_
  std::unique_ptr<ucp_worker, WorkerDeleter> worker_;
};

// An endpoint to a peer worker. Closing progresses the worker until UCX
// releases it; the destructor closes forcefully if close() was not called.
class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint() { close(true, std::chrono::milliseconds(1000)); }

  // err_cb/err_arg: called (inside ucp_worker_progress) when UCX declares the
  // peer unreachable.
  Status connect(ucp_worker_h worker, const std::vector<uint8_t>& remote_address,
                 ucp_err_handler_cb_t err_cb, void* err_arg, const std::string& peer);
  ucp_ep_h get() const { return ep_; }
  // Forgets the endpoint without closing it. UCX 1.13 aborts the process
  // (an assertion in ucp_request_send_state_ff) when a close purges a
  // wireup request still pending, so an endpoint whose wireup never
  // finished is leaked with its worker instead.
  void abandon() noexcept { ep_ = nullptr; }
  // force=false flushes what was sent first. Gives up waiting after `limit`.
  void close(bool force, std::chrono::milliseconds limit) noexcept {
    closeAll({this}, force, limit);
  }
  // Closes several endpoints of one worker at once, so their flushes overlap.
  static void closeAll(const std::vector<Endpoint*>& eps, bool force,
                       std::chrono::milliseconds limit) noexcept;
  // The UCX transports this endpoint's lanes use, e.g. "posix/memory cma/memory".
  std::string transports() const;

 private:
  ucp_worker_h worker_ = nullptr;
  ucp_ep_h ep_ = nullptr;
};

}  // namespace farlink::ucx
