// The one place that says which transports the conformance suite runs over:
// every datapath the library was built with (its registry), so a new backend
// is tested as soon as it registers itself, without touching the tests.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "core/channel_impl.h"

namespace farlink::test {

// Every registered datapath ("tcp", "verbs", ...). "auto" is a selector
// over them, not a datapath of its own: auto_test.cpp covers it.
inline std::vector<std::string> builtTransports() {
  std::vector<std::string> v = registeredTransports();
  std::erase(v, "auto");
  return v;
}

// Schemes the API reserves for datapaths this build does not have: connect
// and listen must answer kNotSupported for them.
inline std::vector<std::string> unbuiltReservedSchemes() {
  const std::vector<std::string> built = registeredTransports();
  std::vector<std::string> out;
  for (const char* s : {"verbs", "ucx", "auto", "dpdk"})
    if (std::find(built.begin(), built.end(), s) == built.end()) out.emplace_back(s);
  return out;
}

}  // namespace farlink::test
