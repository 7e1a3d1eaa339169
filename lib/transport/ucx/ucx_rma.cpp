// One-sided operations over UCX lanes: farlink's RMA frames (WRITE,
// READ_REQ, READ_RESP, RMA_ACK) carried as active messages like every other
// frame, so large payloads still move by rendezvous, zero-copy from the
// requester's buffer (write) or the owner's region (read). The owner checks
// every access against its region table (core/rma_book.h) before placing a
// byte. Native UCP RMA (ucp_put_nbx/ucp_get_nbx) would need the region
// registered with UCX and its packed rkey, which a 24-byte RemoteKey cannot
// carry; see man/farlink.7.
#include "transport/ucx/ucx_channel.h"

namespace farlink::ucx {

Status UcxChannel::admitRma(const char* op) {
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed,
                  std::string(op) + ": peer " + setup_.peer + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, std::string(op) + " on a closing channel");
  return rma_.admit(op);
}

Result<Request> UcxChannel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                   uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("write"); !s) return s;
  auto req = rma_.startWrite(weak_from_this(), local, size, key, offset, rmaq_);
  kick(lk);
  return Request(req);
}

Result<Request> UcxChannel::iread(void* local, size_t size, const RemoteKey& key, uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("read"); !s) return s;
  auto req = rma_.startRead(weak_from_this(), local, size, key, offset, ctrlq_);
  kick(lk);
  return Request(req);
}

}  // namespace farlink::ucx
