// The C callbacks behind adapterStore(): no exception or C++ type crosses
// the ABI, only return codes and the caller's error buffer.
#include "coll/store_abi.h"

#include <cstdio>
#include <cstring>

namespace farlink::coll {
namespace {

int storeSet(void* ctx, const char* key, const void* value, size_t size, char* err,
             size_t err_len) {
  Status s =
      static_cast<StoreClient*>(ctx)->set(key, std::string(static_cast<const char*>(value), size));
  if (s) return 0;
  std::snprintf(err, err_len, "%s", s.toString().c_str());
  return int(s.code());
}

int storeGet(void* ctx, const char* key, void* value, size_t capacity, size_t* size,
             int64_t timeout_ms, char* err, size_t err_len) {
  auto r = static_cast<StoreClient*>(ctx)->get(key, std::chrono::milliseconds(timeout_ms));
  if (!r) {
    std::snprintf(err, err_len, "%s", r.status().toString().c_str());
    return int(r.status().code());
  }
  if (r->size() > capacity) {
    std::snprintf(err, err_len, "store value of '%s' is %zu bytes, larger than %zu", key, r->size(),
                  capacity);
    return int(StatusCode::kResourceExhausted);
  }
  std::memcpy(value, r->data(), r->size());
  *size = r->size();
  return 0;
}

}  // namespace

farlink_coll_store adapterStore(StoreClient& client) {
  return farlink_coll_store{&client, storeSet, storeGet};
}

}  // namespace farlink::coll
