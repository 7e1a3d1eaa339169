// One-sided operations over verbs lanes, with the TCP datapath's frames
// (WRITE, READ_REQ, READ_RESP, RMA_ACK) carried in SENDs. The requester's payload (WRITE) or
// the owner's region (READ_RESP) is chunked and striped like messages; the
// owner checks every access against its region table before touching memory.
#include "transport/verbs/verbs_channel.h"

namespace farlink::verbs {
namespace {

Status refused(const std::string& peer, const char* op, RmaVerdict v) {
  return Status(StatusCode::kInvalidArgument,
                std::string("peer ") + peer + " refused the " + op + ": " + rmaVerdictText(v));
}

}  // namespace

Status VerbsChannel::admitRma(const char* op) {
  if (!failed_.isOk()) return failed_;
  if (peer_gone_)
    return Status(StatusCode::kPeerClosed, std::string(op) + ": peer " + setup_.peer + " closed the channel");
  if (goodbye_) return Status(StatusCode::kInvalidArgument, std::string(op) + " on a closing channel");
  if (pending_writes_.size() + pending_reads_.size() >= wire::kMaxOpenMessages)
    return Status(StatusCode::kResourceExhausted,
                  std::string(op) + ": too many one-sided operations in flight; wait for some");
  return Status();
}

Result<Request> VerbsChannel::iwrite(const void* local, size_t size, const RemoteKey& key,
                                   uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("write"); !s) return s;
  uint64_t id = next_rma_id_++;
  auto* data = static_cast<const uint8_t*>(local);
  auto req = std::make_shared<RequestState>(RequestState::Kind::kSend, weak_from_this(),
                                            const_cast<uint8_t*>(data), size, 0);
  pending_writes_.emplace(id, req);
  rmaq_.pushRma(wire::FrameType::kWrite, id, data, size, key.id, offset);
  kick(lk);
  return Request(req);
}

Result<Request> VerbsChannel::iread(void* local, size_t size, const RemoteKey& key,
                                  uint64_t offset) {
  Lock lk(mu_);
  if (Status s = admitRma("read"); !s) return s;
  uint64_t id = next_rma_id_++;
  auto req = std::make_shared<RequestState>(RequestState::Kind::kRecv, weak_from_this(),
                                            static_cast<uint8_t*>(local), size, 0);
  pending_reads_.emplace(id, PendingRead{req, static_cast<uint8_t*>(local), size, 0});
  ctrlq_.push_back({wire::FrameType::kReadReq, 0, id, key.id, offset, size});
  kick(lk);
  return Request(req);
}

bool VerbsChannel::routeRma(Lane& lane, uint8_t** dest) {
  const wire::FrameHeader& h = lane.cur;
  auto protocol = [&](const std::string& what) {
    fail(Status(StatusCode::kProtocolError,
                "peer " + setup_.peer + " on lane " + std::to_string(lane.index) + ": " + what));
    return false;
  };
  *dest = nullptr;
  switch (h.type) {
    case wire::FrameType::kWrite: {
      auto it = incoming_writes_.find(h.msg_seq);
      if (it == incoming_writes_.end()) {
        if (incoming_writes_.size() >= wire::kMaxOpenMessages)
          return protocol("has too many writes in flight");
        it = incoming_writes_.emplace(h.msg_seq, IncomingWrite{h.total_len, 0, RmaVerdict::kOk}).first;
      } else if (it->second.total != h.total_len) {
        return protocol("changed the length of write " + std::to_string(h.msg_seq));
      }
      if (it->second.received + h.chunk_len > h.total_len)
        return protocol("sent more bytes than write " + std::to_string(h.msg_seq) + " holds");
      uint8_t* where = nullptr;
      RmaVerdict v = checkRegionAccess(h.tag, h.offset, h.chunk_len, kRemoteWrite, &where);
      if (v == RmaVerdict::kOk) *dest = where;
      else it->second.verdict = v;  // the payload is read and dropped
      break;
    }
    case wire::FrameType::kReadReq: {
      if (rmaq_.pending() >= wire::kMaxOpenMessages) return protocol("has too many reads in flight");
      uint8_t* where = nullptr;
      RmaVerdict v = checkRegionAccess(h.tag, h.offset, h.total_len, kRemoteRead, &where);
      if (v == RmaVerdict::kOk)
        rmaq_.pushRma(wire::FrameType::kReadResp, h.msg_seq, where, h.total_len, 0, 0);
      else
        rmaq_.pushRma(wire::FrameType::kReadResp, h.msg_seq, nullptr, 0, static_cast<uint64_t>(v), 0);
      break;
    }
    case wire::FrameType::kReadResp: {
      auto it = pending_reads_.find(h.msg_seq);
      if (it == pending_reads_.end()) return protocol("answered a read nobody asked for");
      PendingRead& pr = it->second;
      if (h.tag != 0) {
        if (h.chunk_len != 0) return protocol("sent data with a refused read");
        pr.req->complete(refused(setup_.peer, "read", static_cast<RmaVerdict>(h.tag)), 0, 0);
        pending_reads_.erase(it);
        break;
      }
      if (h.total_len != pr.length || pr.received + h.chunk_len > pr.length)
        return protocol("answered read " + std::to_string(h.msg_seq) + " with the wrong length");
      *dest = pr.local + h.offset;
      break;
    }
    case wire::FrameType::kRmaAck: {
      auto it = pending_writes_.find(h.msg_seq);
      if (it == pending_writes_.end()) return protocol("acknowledged a write nobody made");
      auto v = static_cast<RmaVerdict>(h.tag);
      it->second->complete(v == RmaVerdict::kOk ? Status() : refused(setup_.peer, "write", v),
                           it->second->size(), 0);
      pending_writes_.erase(it);
      break;
    }
    default:
      return protocol("sent an unexpected frame type");
  }
  return true;
}

void VerbsChannel::rmaPayloadDone(Lane& lane) {
  const wire::FrameHeader& h = lane.cur;
  if (h.type == wire::FrameType::kWrite) {
    auto it = incoming_writes_.find(h.msg_seq);
    if (it == incoming_writes_.end()) return;
    it->second.received += h.chunk_len;
    if (it->second.received == it->second.total) {
      ctrlq_.push_back({wire::FrameType::kRmaAck, 0, h.msg_seq,
                        static_cast<uint64_t>(it->second.verdict), 0, 0});
      incoming_writes_.erase(it);
    }
  } else if (h.type == wire::FrameType::kReadResp && h.tag == 0) {
    auto it = pending_reads_.find(h.msg_seq);
    if (it == pending_reads_.end()) return;
    it->second.received += h.chunk_len;
    if (it->second.received == it->second.length) {
      it->second.req->complete(Status(), it->second.length, 0);
      pending_reads_.erase(it);
    }
  }
}

void VerbsChannel::failRma(const Status& why) {
  for (auto& [id, req] : pending_writes_) req->complete(why, 0, 0);
  for (auto& [id, pr] : pending_reads_) pr.req->complete(why, 0, 0);
  pending_writes_.clear();
  pending_reads_.clear();
  incoming_writes_.clear();
}

}  // namespace farlink::verbs
