// Loading intra-site adapters (coll_adapter.h) and calling them as C++.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "farlink/coll_adapter.h"
#include "farlink/collective.h"

namespace farlink::coll {

struct LoadedAdapter {
  std::shared_ptr<void> module;  // dlopen handle (null for the built-in one)
  const farlink_coll_adapter* api = nullptr;
  std::string origin;            // path it came from, or "built in"
};

// "farlink" → the built-in adapter. A value with a '/' is a path; any other
// name N is farlink-coll-N.so, looked up in FARLINK_COLL_ADAPTER_PATH
// (colon-separated), then by the dynamic loader. Checks api_version and that
// every function pointer is set.
Result<LoadedAdapter> loadAdapter(const std::string& name_or_path);

const farlink_coll_adapter* builtinFarlinkAdapter();

// An initialised adapter communicator for one site. Calls are serialised by
// the caller (the Communicator's worker thread).
class AdapterComm {
 public:
  static Result<std::unique_ptr<AdapterComm>> init(LoadedAdapter adapter,
                                                   const farlink_coll_init_args& args);
  ~AdapterComm();
  AdapterComm(const AdapterComm&) = delete;
  AdapterComm& operator=(const AdapterComm&) = delete;

  const std::string& name() const { return name_; }
  bool supports(DataType t) const;
  Status allreduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op);
  Status reduceScatter(const void* send, void* recv, const std::vector<size_t>& counts,
                       DataType t, ReduceOp op);
  Status allgather(const void* send, void* recv, const std::vector<size_t>& counts, DataType t);
  Status broadcast(void* buf, size_t count, DataType t, int root);
  Status barrier();

  AdapterComm(LoadedAdapter adapter, void* comm);

 private:
  Status check(int rc, const char* op, const char* err) const;
  LoadedAdapter adapter_;
  void* comm_;
  std::string name_;
};

}  // namespace farlink::coll
