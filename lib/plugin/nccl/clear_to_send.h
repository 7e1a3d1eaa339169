// Receiver-driven sending, as NCCL's own network plugins do it: the
// receiving side announces each receive it posts ("clear to send" for a
// tag), and the sending side starts a message only against an announcement
// of its tag; until one has arrived isend returns a NULL request and NCCL
// retries. Without it a sender that gets ahead of the receiver's posts
// lands its messages in farlink's unexpected-message buffer, and since a
// send completes once the kernel has the bytes, it stays ahead for good:
// every later message is staged and copied once more.
//
// Wire: one message on kCtsTag per irecv call: version u8 (1), count u8
// (1..kMaxRecvs), then count little-endian u32 NCCL tags.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <vector>

#include "farlink/channel.h"
#include "farlink/status.h"

namespace farlink::nccl {

inline constexpr uint64_t kCtsTag = uint64_t{1} << 62;
inline constexpr uint8_t kCtsVersion = 1;
inline constexpr int kCtsMaxTags = 8;  // = maxRecvs
inline constexpr size_t kCtsMaxBytes = 2 + 4 * kCtsMaxTags;

// Encodes `tags` (1..kCtsMaxTags of them) into `out`; returns the length.
size_t encodeCts(std::span<const int> tags, std::array<uint8_t, kCtsMaxBytes>& out);
// Refuses (kProtocolError, saying what is wrong) any other shape.
Result<std::vector<int>> decodeCts(std::span<const uint8_t> in);

// The receiving comm's side: sends one announcement per irecv.
class CtsAnnouncer {
 public:
  Status announce(Channel& ch, std::span<const int> tags);

 private:
  struct Sent {
    std::array<uint8_t, kCtsMaxBytes> bytes;
    Request req;
  };
  // isend needs its buffer until it completes; finished ones are dropped
  // on the next announce.
  std::deque<Sent> sent_;
};

// The sending comm's side: collects announcements, spends one per message.
class CtsLedger {
 public:
  // True when a message of `tag` may go now (and spends the credit); false
  // when none has been announced yet. Errors: the channel failed, or the
  // peer sent a malformed announcement.
  Result<bool> take(Channel& ch, int tag);

 private:
  Status drain(Channel& ch);

  std::array<uint8_t, kCtsMaxBytes> buf_{};
  Request pending_;
  bool posted_ = false;
  std::map<int, uint64_t> credits_;
};

}  // namespace farlink::nccl
