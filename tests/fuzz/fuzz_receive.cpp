// Fuzzes the receive path the way a datapath drives it: decode a frame
// header, route its chunk (or place it whole, as UCX does with eager data),
// copy the payload where the matcher says, report the chunk done —
// interleaved with posted, withdrawn and failed receives.
// Receive buffers are separate heap blocks of exactly their capacity, so a
// byte written out of place is caught by AddressSanitizer.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/receive_matcher.h"
#include "core/wire.h"
#include "farlink/channel.h"

using namespace farlink;

namespace {

constexpr uint32_t kChunk = wire::kMinChunk;
constexpr size_t kMaxUnexpected = 64 * 1024;

struct Input {
  const uint8_t* p;
  size_t n;
  bool take(void* out, size_t len) {
    if (n < len) return false;
    std::memcpy(out, p, len);
    p += len;
    n -= len;
    return true;
  }
  uint8_t byte() {
    uint8_t b = 0;
    (void)take(&b, 1);
    return b;
  }
};

struct Posted {
  std::unique_ptr<uint8_t[]> buf;
  std::shared_ptr<RequestState> req;
};

void checkCompleted(const std::vector<Posted>& posted) {
  for (const auto& r : posted)
    if (r.req->done() && r.req->status().isOk() && r.req->bytes() > r.req->size())
      __builtin_trap();  // reported more bytes than the buffer holds
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  ReceiveMatcher matcher("fuzz-peer", kChunk, kMaxUnexpected);
  const wire::FrameLimits limits{kChunk, uint64_t{1} << 20};
  std::vector<Posted> posted;
  std::vector<uint8_t> payload;
  uint64_t frames = 0;
  while (in.n > 0) {
    switch (in.byte() % 4) {
      case 0: {  // post a receive: u16 capacity, u8 tag (255 = any)
        uint16_t cap = 0;
        uint8_t tag = in.byte();
        (void)in.take(&cap, sizeof cap);
        Posted r;
        r.buf = std::make_unique<uint8_t[]>(cap);
        r.req = std::make_shared<RequestState>(RequestState::Kind::kRecv,
                                               std::weak_ptr<ChannelImpl>(), r.buf.get(), cap,
                                               tag == 255 ? kAnyTag : tag);
        matcher.post(r.req);
        posted.push_back(std::move(r));
        break;
      }
      case 1: {  // one DATA frame and its payload
        uint8_t hdr[wire::kFrameHeaderSize];
        if (!in.take(hdr, sizeof hdr)) return 0;
        wire::FrameHeader f;
        if (!wire::decodeFrame(std::span<const uint8_t, wire::kFrameHeaderSize>(hdr), limits, &f))
          break;
        if (f.type != wire::FrameType::kData) break;
        // Every other frame first tries placeWhole, as the UCX datapath
        // does with eager data; what it refuses is routed as usual.
        const bool whole_first = (++frames & 1) == 0;
        if (whole_first) {
          payload.assign(f.chunk_len, 0xA5);
          (void)in.take(payload.data(), std::min<size_t>(in.n, payload.size()));
          if (matcher.placeWhole(f, payload.data())) break;
        }
        ReceiveMatcher::Route route = matcher.route(f);
        if (route.action != ReceiveMatcher::Action::kDeliver) break;  // stall or error
        if (!whole_first) {
          payload.assign(f.chunk_len, 0xA5);
          (void)in.take(payload.data(), std::min<size_t>(in.n, payload.size()));
        }
        if (route.dest != nullptr) std::memcpy(route.dest, payload.data(), payload.size());
        matcher.chunkDone(route.msg, f.chunk_len);
        break;
      }
      case 2:  // the application gives up on its oldest receive
        if (!posted.empty())
          (void)matcher.withdraw(*posted.front().req, Status(StatusCode::kCancelled, "fuzz"));
        break;
      case 3:
        if (in.byte() % 8 == 0) matcher.setPeerGone(Status(StatusCode::kPeerClosed, "fuzz"));
        break;
    }
    if (matcher.unexpectedBytes() > kMaxUnexpected) __builtin_trap();
    checkCompleted(posted);
  }
  matcher.failAll(Status(StatusCode::kPeerClosed, "fuzz end"));
  for (const auto& r : posted)
    if (!r.req->done()) __builtin_trap();  // a receive left hanging forever
  return 0;
}
