#include "core/send_queue.h"

#include <algorithm>

namespace farlink {

std::unique_ptr<OutMessage> SendQueue::fresh() {
  if (spares_.empty()) return std::make_unique<OutMessage>();
  std::unique_ptr<OutMessage> m = std::move(spares_.back());
  spares_.pop_back();
  *m = OutMessage{};
  return m;
}

uint64_t SendQueue::push(std::shared_ptr<RequestState> req, const uint8_t* data, uint64_t size,
                         uint64_t tag) {
  std::unique_ptr<OutMessage> m = fresh();
  m->req = std::move(req);
  m->seq = next_seq_++;
  m->tag = tag;
  m->data = data;
  m->size = size;
  bytes_queued_ += size;
  const uint64_t seq = m->seq;
  msgs_.push_back(std::move(m));
  ++count_;
  return seq;
}

void SendQueue::pushRma(wire::FrameType type, uint64_t id, const uint8_t* data, uint64_t size,
                        uint64_t tag, uint64_t remote_offset) {
  std::unique_ptr<OutMessage> m = fresh();
  m->type = type;
  m->seq = id;
  m->tag = tag;
  m->data = data;
  m->size = size;
  m->remote_offset = remote_offset;
  bytes_queued_ += size;
  msgs_.push_back(std::move(m));
  ++count_;
}

std::optional<ChunkRef> SendQueue::take() {
  if (take_ >= count_) return std::nullopt;
  OutMessage* m = msgs_[take_].get();
  uint64_t len = std::min<uint64_t>(chunk_size_, m->size - m->next_offset);
  ChunkRef c{m, m->next_offset, static_cast<uint32_t>(len)};
  m->next_offset += len;
  m->chunks_in_flight++;
  bytes_queued_ -= len;
  if (m->next_offset == m->size) {  // a 0-byte message is one empty chunk
    m->all_taken = true;
    ++take_;
  }
  return c;
}

bool SendQueue::done(const ChunkRef& c) {
  OutMessage* m = c.msg;
  m->chunks_in_flight--;
  bool completed = false;
  if (m->all_taken && m->chunks_in_flight == 0 && m->req && !m->req->done()) {
    m->req->complete(Status(), m->size, m->tag);
    completed = true;
  }
  popCompleted();
  return completed;
}

void SendQueue::popCompleted() {
  while (!msgs_.empty() && msgs_.front()->all_taken && msgs_.front()->chunks_in_flight == 0) {
    std::unique_ptr<OutMessage> m = std::move(msgs_.front());
    msgs_.pop_front();
    --count_;
    --take_;
    m->req.reset();  // the request may be recycled as soon as nothing holds it
    if (spares_.size() < kSpares) spares_.push_back(std::move(m));
  }
}

void SendQueue::failAll(const Status& why) {
  for (auto& m : msgs_)
    if (m->req) m->req->complete(why, 0, m->tag);
  msgs_.clear();
  count_ = 0;
  take_ = 0;
  bytes_queued_ = 0;
}

}  // namespace farlink
