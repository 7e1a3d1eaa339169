// Grow-only scratch memory that one thread reuses across collectives.
// Why: a fresh multi-MiB std::vector per call is zero-filled and then
// page-faulted in 4 KiB at a time; on loopback that was about a sixth of the
// CPU of a 64 MiB allreduce (perf: memset + exc_page_fault). Reused memory
// is neither cleared nor faulted again. It stays allocated (the largest
// size used) until the owner goes away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace farlink::coll {

class Scratch {
 public:
  // At least `bytes` of uninitialised memory; earlier contents are lost
  // when it has to grow.
  uint8_t* get(size_t bytes) {
    if (bytes > cap_) {
      buf_.reset();  // the old block goes first: peak memory is one block
      buf_.reset(new uint8_t[bytes]);
      cap_ = bytes;
    }
    return buf_.get();
  }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
};

}  // namespace farlink::coll
