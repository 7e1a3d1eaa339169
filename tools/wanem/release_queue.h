// Packets scheduled for release, earliest due time first (FIFO among equal
// due times). A binary heap over storage reserved up front, so the hot path
// does not allocate. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace farlink::wanem {

struct Scheduled {
  int64_t due_ns = 0;
  uint64_t seq = 0;   // arrival order: ties leave in the order they came
  uint32_t slot = 0;  // packet buffer index
  uint32_t len = 0;
};

class ReleaseQueue {
 public:
  explicit ReleaseQueue(size_t capacity) { heap_.reserve(capacity); }

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  const Scheduled& top() const { return heap_.front(); }

  void push(int64_t due_ns, uint32_t slot, uint32_t len) {
    heap_.push_back({due_ns, next_seq_++, slot, len});
    std::push_heap(heap_.begin(), heap_.end(), later);
  }
  Scheduled pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    Scheduled s = heap_.back();
    heap_.pop_back();
    return s;
  }

 private:
  static bool later(const Scheduled& a, const Scheduled& b) {
    return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.seq > b.seq;
  }
  std::vector<Scheduled> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace farlink::wanem
