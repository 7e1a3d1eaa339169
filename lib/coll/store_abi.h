// The rendezvous store (store.h) as the adapter ABI's C table
// (farlink_coll_store in coll_adapter.h), for whoever starts an adapter:
// the bootstrap, and tests that start one on its own.
#pragma once

#include "coll/store.h"
#include "farlink/coll_adapter.h"

namespace farlink::coll {

// A table whose set/get call `client` (which must outlive it). Errors come
// back as the StatusCode, with the message in the caller's err buffer.
farlink_coll_store adapterStore(StoreClient& client);

}  // namespace farlink::coll
