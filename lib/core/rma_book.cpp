#include "core/rma_book.h"

namespace farlink {

Status RmaBook::refused(const char* op, RmaVerdict v) const {
  return Status(StatusCode::kInvalidArgument,
                std::string("peer ") + peer_ + " refused the " + op + ": " + rmaVerdictText(v));
}

Status RmaBook::admit(const char* op) const {
  if (pending_writes_.size() + pending_reads_.size() >= wire::kMaxOpenMessages)
    return Status(StatusCode::kResourceExhausted,
                  std::string(op) + ": too many one-sided operations in flight; wait for some");
  return Status();
}

std::shared_ptr<RequestState> RmaBook::startWrite(std::weak_ptr<ChannelImpl> ch, const void* local,
                                                  size_t size, const RemoteKey& key,
                                                  uint64_t offset, SendQueue& rmaq) {
  uint64_t id = next_id_++;
  auto* data = static_cast<const uint8_t*>(local);
  auto req = std::make_shared<RequestState>(RequestState::Kind::kSend, std::move(ch),
                                            const_cast<uint8_t*>(data), size, 0);
  pending_writes_.emplace(id, req);
  rmaq.pushRma(wire::FrameType::kWrite, id, data, size, key.id, offset);
  return req;
}

std::shared_ptr<RequestState> RmaBook::startRead(std::weak_ptr<ChannelImpl> ch, void* local,
                                                 size_t size, const RemoteKey& key, uint64_t offset,
                                                 std::deque<wire::FrameHeader>& ctrlq) {
  uint64_t id = next_id_++;
  auto req = std::make_shared<RequestState>(RequestState::Kind::kRecv, std::move(ch),
                                            static_cast<uint8_t*>(local), size, 0);
  pending_reads_.emplace(id, PendingRead{req, static_cast<uint8_t*>(local), size, 0});
  ctrlq.push_back({wire::FrameType::kReadReq, 0, id, key.id, offset, size});
  return req;
}

RmaBook::Route RmaBook::route(const wire::FrameHeader& h, SendQueue& rmaq) {
  auto protocol = [](std::string what) { return Route{false, nullptr, std::move(what)}; };
  Route r;
  switch (h.type) {
    case wire::FrameType::kWrite: {
      auto it = incoming_writes_.find(h.msg_seq);
      if (it == incoming_writes_.end()) {
        if (incoming_writes_.size() >= wire::kMaxOpenMessages)
          return protocol("has too many writes in flight");
        it = incoming_writes_.emplace(h.msg_seq, IncomingWrite{h.total_len, 0, RmaVerdict::kOk})
                 .first;
      } else if (it->second.total != h.total_len) {
        return protocol("changed the length of write " + std::to_string(h.msg_seq));
      }
      if (it->second.received + h.chunk_len > h.total_len)
        return protocol("sent more bytes than write " + std::to_string(h.msg_seq) + " holds");
      uint8_t* where = nullptr;
      RmaVerdict v = checkRegionAccess(h.tag, h.offset, h.chunk_len, kRemoteWrite, &where);
      if (v == RmaVerdict::kOk)
        r.dest = where;
      else
        it->second.verdict = v;  // the payload is read and dropped
      return r;
    }
    case wire::FrameType::kReadReq: {
      if (rmaq.pending() >= wire::kMaxOpenMessages) return protocol("has too many reads in flight");
      uint8_t* where = nullptr;
      RmaVerdict v = checkRegionAccess(h.tag, h.offset, h.total_len, kRemoteRead, &where);
      if (v == RmaVerdict::kOk)
        rmaq.pushRma(wire::FrameType::kReadResp, h.msg_seq, where, h.total_len, 0, 0);
      else
        rmaq.pushRma(wire::FrameType::kReadResp, h.msg_seq, nullptr, 0, static_cast<uint64_t>(v),
                     0);
      return r;
    }
    case wire::FrameType::kReadResp: {
      auto it = pending_reads_.find(h.msg_seq);
      if (it == pending_reads_.end()) return protocol("answered a read nobody asked for");
      PendingRead& pr = it->second;
      if (h.tag != 0) {
        if (h.chunk_len != 0) return protocol("sent data with a refused read");
        pr.req->complete(refused("read", static_cast<RmaVerdict>(h.tag)), 0, 0);
        pending_reads_.erase(it);
        return r;
      }
      if (h.total_len != pr.length || pr.received + h.chunk_len > pr.length)
        return protocol("answered read " + std::to_string(h.msg_seq) + " with the wrong length");
      r.dest = pr.local + h.offset;
      return r;
    }
    case wire::FrameType::kRmaAck: {
      auto it = pending_writes_.find(h.msg_seq);
      if (it == pending_writes_.end()) return protocol("acknowledged a write nobody made");
      auto v = static_cast<RmaVerdict>(h.tag);
      it->second->complete(v == RmaVerdict::kOk ? Status() : refused("write", v),
                           it->second->size(), 0);
      pending_writes_.erase(it);
      return r;
    }
    default:
      return protocol("sent an unexpected frame type");
  }
}

void RmaBook::payloadDone(const wire::FrameHeader& h, std::deque<wire::FrameHeader>& ctrlq) {
  if (h.type == wire::FrameType::kWrite) {
    auto it = incoming_writes_.find(h.msg_seq);
    if (it == incoming_writes_.end()) return;
    it->second.received += h.chunk_len;
    if (it->second.received == it->second.total) {
      ctrlq.push_back({wire::FrameType::kRmaAck, 0, h.msg_seq,
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

void RmaBook::failAll(const Status& why) {
  for (auto& [id, req] : pending_writes_) req->complete(why, 0, 0);
  for (auto& [id, pr] : pending_reads_) pr.req->complete(why, 0, 0);
  pending_writes_.clear();
  pending_reads_.clear();
  incoming_writes_.clear();
}

}  // namespace farlink
