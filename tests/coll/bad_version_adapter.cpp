// A module claiming a future adapter API: the loader must refuse it.
#include "farlink/coll_adapter.h"

namespace {
const farlink_coll_adapter kBad = {999u, "bad-version", 0, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, nullptr, nullptr};
}

extern "C" __attribute__((visibility("default"))) const farlink_coll_adapter*
farlink_coll_adapter_v1(void) {
  return &kBad;
}
