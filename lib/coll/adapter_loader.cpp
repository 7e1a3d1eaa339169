#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "coll/adapter.h"

namespace farlink::coll {
namespace {

constexpr size_t kErrLen = 1024;

Result<std::shared_ptr<void>> openModule(const std::string& path) {
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = ::dlerror();
    return Status(StatusCode::kNotSupported,
                  "cannot load collective adapter '" + path + "': " + (e ? e : "dlopen failed"));
  }
  return std::shared_ptr<void>(h, [](void* p) { ::dlclose(p); });
}

}  // namespace

Result<LoadedAdapter> loadAdapter(const std::string& name_or_path) {
  if (name_or_path.empty() || name_or_path == "farlink")
    return LoadedAdapter{nullptr, builtinFarlinkAdapter(), "built in"};
  std::string path;
  Result<std::shared_ptr<void>> mod = Status(StatusCode::kNotSupported, "");
  if (name_or_path.find('/') != std::string::npos) {
    path = name_or_path;
    mod = openModule(path);
  } else {
    std::string file = "farlink-coll-" + name_or_path + ".so";
    std::vector<std::string> tried;
    if (const char* dirs = std::getenv("FARLINK_COLL_ADAPTER_PATH")) {
      std::stringstream ss(dirs);
      for (std::string d; std::getline(ss, d, ':');) {
        if (d.empty()) continue;
        path = d + "/" + file;
        mod = openModule(path);
        if (mod) break;
        tried.push_back(mod.status().message());
      }
    }
    if (!mod) {
      path = file;  // the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache)
      mod = openModule(path);
      if (!mod) {
        std::string all;
        for (auto& t : tried) all += "; " + t;
        return Status(StatusCode::kNotSupported,
                      "no collective adapter named '" + name_or_path + "' (" + file +
                          "): " + mod.status().message() + all +
                          "; set FARLINK_COLL_ADAPTER_PATH to the folder holding it, or "
                          "FARLINK_COLL_ADAPTER to its path");
      }
    }
  }
  if (!mod) return mod.status();
  ::dlerror();
  void* sym = ::dlsym(mod.value().get(), FARLINK_COLL_ADAPTER_SYMBOL);
  if (!sym) {
    const char* e = ::dlerror();
    return Status(StatusCode::kNotSupported,
                  "'" + path + "' is not a farlink collective adapter: it does not export " +
                      FARLINK_COLL_ADAPTER_SYMBOL + " (" + (e ? e : "symbol not found") + ")");
  }
  auto fn = reinterpret_cast<farlink_coll_adapter_fn>(sym);
  const farlink_coll_adapter* api = fn();
  if (!api)
    return Status(StatusCode::kNotSupported,
                  "collective adapter '" + path + "' returned no adapter table");
  if (api->api_version != FARLINK_COLL_ADAPTER_API_VERSION)
    return Status(StatusCode::kNotSupported,
                  "collective adapter '" + path + "' implements adapter API version " +
                      std::to_string(api->api_version) + " but this libfarlink needs version " +
                      std::to_string(FARLINK_COLL_ADAPTER_API_VERSION) +
                      "; rebuild the adapter against this farlink's coll_adapter.h");
  if (!api->name || !api->init || !api->finalize || !api->allreduce || !api->reduce_scatter ||
      !api->allgather || !api->broadcast || !api->barrier)
    return Status(StatusCode::kNotSupported,
                  "collective adapter '" + path + "' leaves a required function unset");
  return LoadedAdapter{std::move(mod.value()), api, path};
}

Result<std::unique_ptr<AdapterComm>> AdapterComm::init(LoadedAdapter adapter,
                                                       const farlink_coll_init_args& args) {
  char err[kErrLen] = {0};
  void* comm = nullptr;
  int rc = adapter.api->init(&args, &comm, err, sizeof err);
  if (rc != 0) {
    err[kErrLen - 1] = 0;
    return Status(rc <= int(StatusCode::kCancelled) ? StatusCode(rc) : StatusCode::kIoError,
                  std::string("the '") + adapter.api->name + "' adapter (" + adapter.origin +
                      ") failed to start on site " + args.site_name + ": " + err);
  }
  return std::make_unique<AdapterComm>(std::move(adapter), comm);
}

AdapterComm::AdapterComm(LoadedAdapter adapter, void* comm)
    : adapter_(std::move(adapter)), comm_(comm), name_(adapter_.api->name) {}

AdapterComm::~AdapterComm() { adapter_.api->finalize(comm_); }

bool AdapterComm::supports(DataType t) const {
  return (adapter_.api->capabilities & FARLINK_COLL_CAP_DTYPE(int(t))) != 0;
}

Status AdapterComm::check(int rc, const char* op, const char* err) const {
  if (rc == 0) return Status();
  std::string msg(err, strnlen(err, kErrLen));
  return Status(rc <= int(StatusCode::kCancelled) ? StatusCode(rc) : StatusCode::kIoError,
                "intra-site " + std::string(op) + " in the '" + name_ + "' adapter: " + msg);
}

namespace {
farlink_coll_dtype cdt(DataType t) { return farlink_coll_dtype(int(t)); }
farlink_coll_op cop(ReduceOp op) {
  return op == ReduceOp::kAvg ? FARLINK_COLL_SUM : farlink_coll_op(int(op));
}
}  // namespace

Status AdapterComm::allreduce(const void* send, void* recv, size_t count, DataType t, ReduceOp op) {
  char err[kErrLen] = {0};
  return check(adapter_.api->allreduce(comm_, send, recv, count, cdt(t), cop(op), err, kErrLen),
               "allreduce", err);
}
Status AdapterComm::reduceScatter(const void* send, void* recv, const std::vector<size_t>& counts,
                                  DataType t, ReduceOp op) {
  char err[kErrLen] = {0};
  return check(adapter_.api->reduce_scatter(comm_, send, recv, counts.data(), cdt(t), cop(op), err,
                                            kErrLen),
               "reduce-scatter", err);
}
Status AdapterComm::allgather(const void* send, void* recv, const std::vector<size_t>& counts,
                              DataType t) {
  char err[kErrLen] = {0};
  return check(adapter_.api->allgather(comm_, send, recv, counts.data(), cdt(t), err, kErrLen),
               "allgather", err);
}
Status AdapterComm::broadcast(void* buf, size_t count, DataType t, int root) {
  char err[kErrLen] = {0};
  return check(adapter_.api->broadcast(comm_, buf, count, cdt(t), root, err, kErrLen), "broadcast",
               err);
}
Status AdapterComm::barrier() {
  char err[kErrLen] = {0};
  return check(adapter_.api->barrier(comm_, err, kErrLen), "barrier", err);
}

}  // namespace farlink::coll
