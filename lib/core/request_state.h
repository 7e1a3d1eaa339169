// Shared state behind a Request handle. Written by the channel's driver
// under the channel lock; `done` is atomic so test() can peek without it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "farlink/status.h"

namespace farlink {

class ChannelImpl;

class RequestState {
 public:
  enum class Kind : uint8_t { kSend, kRecv };

  RequestState(Kind kind, std::weak_ptr<ChannelImpl> channel, uint8_t* data, size_t size,
               uint64_t tag)
      : kind_(kind), channel_(std::move(channel)), data_(data), size_(size), tag_(tag) {}

  // Makes a finished state new again for another operation on the same
  // channel (RequestPool, only while nothing else holds it).
  void reuse(Kind kind, uint8_t* data, size_t size, uint64_t tag) {
    kind_ = kind;
    data_ = data;
    size_ = size;
    tag_ = tag;
    if (!status_.isOk()) status_ = Status();
    bytes_ = 0;
    matched_tag_ = 0;
    done_.store(false, std::memory_order_relaxed);
  }

  Kind kind() const { return kind_; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }  // send size or receive capacity
  uint64_t postedTag() const { return tag_; }
  std::shared_ptr<ChannelImpl> channel() const { return channel_.lock(); }

  bool done() const { return done_.load(std::memory_order_acquire); }
  // Called once by the channel (under its lock); later calls are ignored.
  void complete(Status status, size_t bytes, uint64_t tag) {
    if (done()) return;
    if (!status.isOk()) status_ = std::move(status);  // else status_ is still OK (new or reused)
    bytes_ = bytes;
    matched_tag_ = tag;
    done_.store(true, std::memory_order_release);
  }
  // Valid once done().
  const Status& status() const { return status_; }
  size_t bytes() const { return bytes_; }
  uint64_t matchedTag() const { return matched_tag_; }

 private:
  Kind kind_;
  const std::weak_ptr<ChannelImpl> channel_;
  uint8_t* data_;
  size_t size_;
  uint64_t tag_;
  std::atomic<bool> done_{false};
  Status status_;
  size_t bytes_ = 0;
  uint64_t matched_tag_ = 0;
};

}  // namespace farlink
