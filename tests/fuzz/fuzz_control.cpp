// Fuzzes `farlink perf`'s control-message decoder (the server reads these
// from any client) and checks that accepted messages survive a round trip.
#include <cstdint>

#include "perf/control.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  farlink::perf::ControlMsg msg;
  if (!farlink::perf::decodeControl(data, size, &msg)) return 0;
  std::vector<uint8_t> again = farlink::perf::encodeControl(msg);
  farlink::perf::ControlMsg twice;
  if (!farlink::perf::decodeControl(again.data(), again.size(), &twice)) __builtin_trap();
  (void)farlink::perf::checkSpec(msg.spec);
  return 0;
}
