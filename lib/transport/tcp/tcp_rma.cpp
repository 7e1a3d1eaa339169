// One-sided operations over TCP lanes. The requester's payload (WRITE) or
// the owner's region (READ_RESP) is chunked and striped like messages; the
// owner checks every access against its region table before touching memory
// (core/rma_book.h keeps the books).
#include "transport/tcp/tcp_channel.h"

namespace farlink::tcp {

Status TcpChannel::admitRma(const char* op) {
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed,
                  std::string(op) + ": peer " + setup_.peer + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, std::string(op) + " on a closing channel");
  return rma_.admit(op);
}

Result<Request> TcpChannel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                   uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("write"); !s) return s;
  auto req = rma_.startWrite(weak_from_this(), local, size, key, offset, rmaq_);
  kick(lk);
  return Request(req);
}

Result<Request> TcpChannel::iread(void* local, size_t size, const RemoteKey& key, uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("read"); !s) return s;
  auto req = rma_.startRead(weak_from_this(), local, size, key, offset, ctrlq_);
  kick(lk);
  return Request(req);
}

bool TcpChannel::routeRma(Lane& lane) {
  RmaBook::Route r = rma_.route(lane.cur, rmaq_);
  if (!r.ok) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + r.error));
    return false;
  }
  lane.dest = r.dest;
  lane.remaining = lane.cur.chunk_len;
  lane.rx = Lane::RxState::kPayload;  // a header-only frame finishes at once
  return true;
}

void TcpChannel::rmaPayloadDone(Lane& lane) { rma_.payloadDone(lane.cur, ctrlq_); }

void TcpChannel::failRma(const Status& why) { rma_.failAll(why); }

}  // namespace farlink::tcp
