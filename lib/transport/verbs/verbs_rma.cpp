// One-sided operations over verbs lanes, with the TCP datapath's frames
// (WRITE, READ_REQ, READ_RESP, RMA_ACK) carried in SENDs. The requester's payload (WRITE) or
// the owner's region (READ_RESP) is chunked and striped like messages; the
// owner checks every access against its region table before touching memory
// (core/rma_book.h keeps the books).
#include "transport/verbs/verbs_channel.h"

namespace farlink::verbs {

Status VerbsChannel::admitRma(const char* op) {
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed,
                  std::string(op) + ": peer " + setup_.peer + " closed the channel");
  if (goodbye_)
    return Status(StatusCode::kInvalidArgument, std::string(op) + " on a closing channel");
  return rma_.admit(op);
}

Result<Request> VerbsChannel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                     uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("write"); !s) return s;
  auto req = rma_.startWrite(weak_from_this(), local, size, key, offset, rmaq_);
  kick(lk);
  return Request(req);
}

Result<Request> VerbsChannel::iread(void* local, size_t size, const RemoteKey& key,
                                    uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("read"); !s) return s;
  auto req = rma_.startRead(weak_from_this(), local, size, key, offset, ctrlq_);
  kick(lk);
  return Request(req);
}

bool VerbsChannel::routeRma(Lane& lane, uint8_t** dest) {
  RmaBook::Route r = rma_.route(lane.cur, rmaq_);
  if (!r.ok) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + r.error));
    return false;
  }
  *dest = r.dest;
  return true;
}

void VerbsChannel::rmaPayloadDone(Lane& lane) { rma_.payloadDone(lane.cur, ctrlq_); }

void VerbsChannel::failRma(const Status& why) { rma_.failAll(why); }

}  // namespace farlink::verbs
