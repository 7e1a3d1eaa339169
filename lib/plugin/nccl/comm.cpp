#include "plugin/nccl/comm.h"

#include <chrono>

#include "plugin/nccl/plugin_log.h"

namespace farlink::nccl {

Comm::Comm(bool send, std::unique_ptr<Channel> channel)
    : magic_(send ? kSendMagic : kRecvMagic),
      channel_(std::move(channel)),
      peer_(channel_->peer()) {}

Comm::~Comm() { magic_ = 0; }

NetRequest* Comm::takeRequest(bool send, int n) {
  for (auto& r : requests_) {
    if (r.magic == 0) {
      r.magic = NetRequest::kMagic;
      r.send = send;
      r.n = n;
      r.comm = this;
      return &r;
    }
  }
  return nullptr;
}

void Comm::releaseRequest(NetRequest* r) {
  for (int i = 0; i < r->n; ++i) r->sub[i] = Request();
  r->magic = 0;
  r->n = 0;
}

void Comm::close() {
  // NCCL closes a comm only after test() reported every request, so the
  // sends are already with the kernel; flush only confirms it (bounded).
  Status s = channel_->flush(std::chrono::milliseconds(5000));
  // Then a short grace for the peer's own goodbye. Ranks close their comms
  // in their own order, so waiting out each peer in turn would serialise the
  // teardown; past the grace the lanes simply close (a FIN: bytes already
  // sent are still delivered).
  if (s) s = channel_->close(std::chrono::milliseconds(50));
  if (!s)
    logInfo(std::string(isSend() ? "closeSend" : "closeRecv") + " to " + peer_ +
            ": closed without the peer's goodbye (" + s.toString() + ")");
}

Comm* Comm::from(void* p) {
  auto* c = static_cast<Comm*>(p);
  if (c == nullptr || (c->magic_ != kSendMagic && c->magic_ != kRecvMagic)) return nullptr;
  return c;
}

Comm* Comm::from(void* p, bool send) {
  Comm* c = from(p);
  return c != nullptr && c->isSend() == send ? c : nullptr;
}

}  // namespace farlink::nccl
