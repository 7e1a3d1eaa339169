// Fuzzes URI parsing: addresses come from command lines, config files and
// (through collectives' rendezvous) from other hosts.
#include <cstdint>
#include <string_view>

#include "core/uri.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto uri = farlink::parseUri(std::string_view(reinterpret_cast<const char*>(data), size));
  if (uri && uri->scheme.empty()) __builtin_trap();
  return 0;
}
