// Fuzzes the NCCL plugin's clear-to-send decoder (lib/plugin/nccl/
// clear_to_send): the receiving rank's announcements arrive as farlink
// messages, so any bytes a broken or hostile peer sends reach decodeCts().
// A refusal must be a protocol error with a reason; an accepted one must
// hold 1..kCtsMaxTags tags and re-encode to exactly the input.
#include <cstdint>
#include <cstring>
#include <span>

#include "plugin/nccl/clear_to_send.h"

using namespace farlink;
using namespace farlink::nccl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tags = decodeCts(std::span<const uint8_t>(data, size));
  if (!tags) {
    if (tags.status().code() != StatusCode::kProtocolError || tags.status().message().empty())
      __builtin_trap();
    return 0;
  }
  if (tags->empty() || tags->size() > static_cast<size_t>(kCtsMaxTags)) __builtin_trap();
  std::array<uint8_t, kCtsMaxBytes> again{};
  size_t len = encodeCts(*tags, again);
  if (len != size || std::memcmp(again.data(), data, size) != 0)
    __builtin_trap();  // the codec does not round-trip
  return 0;
}
