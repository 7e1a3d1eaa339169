#include "plugin/nccl/clear_to_send.h"

#include <string>

namespace farlink::nccl {
namespace {

Status malformed(const std::string& what) {
  return Status(StatusCode::kProtocolError,
                "malformed clear-to-send from the receiving peer: " + what +
                    " (both ranks must load the same libnccl-net-farlink.so)");
}

}  // namespace

size_t encodeCts(std::span<const int> tags, std::array<uint8_t, kCtsMaxBytes>& out) {
  out[0] = kCtsVersion;
  out[1] = static_cast<uint8_t>(tags.size());
  size_t at = 2;
  for (int t : tags) {
    auto v = static_cast<uint32_t>(t);
    for (int b = 0; b < 4; ++b) out[at++] = static_cast<uint8_t>(v >> (8 * b));
  }
  return at;
}

Result<std::vector<int>> decodeCts(std::span<const uint8_t> in) {
  if (in.size() < 2) return malformed(std::to_string(in.size()) + " bytes, less than a header");
  if (in[0] != kCtsVersion)
    return malformed("version " + std::to_string(in[0]) + ", this plugin speaks " +
                     std::to_string(kCtsVersion));
  size_t n = in[1];
  if (n < 1 || n > static_cast<size_t>(kCtsMaxTags))
    return malformed("count " + std::to_string(n) + " outside 1.." + std::to_string(kCtsMaxTags));
  if (in.size() != 2 + 4 * n)
    return malformed(std::to_string(in.size()) + " bytes for " + std::to_string(n) + " tags");
  std::vector<int> tags(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) v |= uint32_t{in[2 + 4 * i + b]} << (8 * b);
    tags[i] = static_cast<int>(v);
  }
  return tags;
}

Status CtsAnnouncer::announce(Channel& ch, std::span<const int> tags) {
  // A failed announcement means a failed channel, which the receives
  // themselves report; here it only frees the slot.
  while (!sent_.empty() && sent_.front().req.test()) sent_.pop_front();
  Sent& s = sent_.emplace_back();
  size_t len = encodeCts(tags, s.bytes);
  auto r = ch.isend(s.bytes.data(), len, kCtsTag);
  if (!r) {
    sent_.pop_back();
    return r.status();
  }
  s.req = std::move(r.value());
  // The sender waits for this: let it leave now, not at our next test().
  return ch.progress();
}

Status CtsLedger::drain(Channel& ch) {
  for (;;) {
    if (!posted_) {
      auto r = ch.irecv(buf_.data(), buf_.size(), kCtsTag);
      if (!r) return r.status();
      pending_ = std::move(r.value());
      posted_ = true;
    }
    if (!pending_.test()) return Status::ok();
    posted_ = false;
    if (Status s = pending_.status(); !s)
      return s.code() == StatusCode::kInvalidArgument
                 ? malformed("longer than " + std::to_string(kCtsMaxBytes) + " bytes")
                 : s;
    auto tags = decodeCts(std::span<const uint8_t>(buf_.data(), pending_.bytes()));
    if (!tags) return tags.status();
    for (int t : *tags) ++credits_[t];
  }
}

Result<bool> CtsLedger::take(Channel& ch, int tag) {
  if (Status s = drain(ch); !s) return s;
  auto it = credits_.find(tag);
  if (it == credits_.end()) return false;
  if (--it->second == 0) credits_.erase(it);
  return true;
}

}  // namespace farlink::nccl
