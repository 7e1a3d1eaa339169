#include "ping/rping_data.h"

#include <cinttypes>
#include <cstdio>

namespace farlink::ping {

void fillRpingData(char* buf, size_t size, uint64_t ping) {
  constexpr int kFirst = 65, kLast = 122;
  constexpr uint64_t kSpan = kLast - kFirst + 1;
  // rping formats an int; past INT_MAX it would overflow, we keep counting.
  const int prefix = std::snprintf(buf, size, "rdma-ping-%" PRIu64 ": ", ping);
  int c = kFirst + static_cast<int>(ping % kSpan);
  for (size_t i = prefix > 0 ? static_cast<size_t>(prefix) : 0; i < size; ++i) {
    buf[i] = static_cast<char>(c);
    if (++c > kLast) c = kFirst;
  }
  buf[size - 1] = '\0';
}

}  // namespace farlink::ping
