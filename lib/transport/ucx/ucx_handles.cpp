#include "transport/ucx/ucx_handles.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>

namespace farlink::ucx {

Status ucxError(StatusCode code, const std::string& what, ucs_status_t st) {
  return Status(code,
                what + ": " + ucs_status_string(st) +
                    " (check UCX_TLS / UCX_NET_DEVICES; `ucx_info -d` lists what UCX finds here)");
}

Result<std::shared_ptr<ucp_context>> sharedContext() {
  static std::mutex mu;
  static std::weak_ptr<ucp_context> cached;
  std::lock_guard lk(mu);
  if (auto ctx = cached.lock()) return ctx;
  ucp_config_t* config = nullptr;
  if (ucs_status_t st = ucp_config_read(nullptr, nullptr, &config); st != UCS_OK)
    return ucxError(StatusCode::kNotSupported, "ucp_config_read (a UCX_* variable is invalid?)",
                    st);
  ucp_params_t params{};
  params.field_mask =
      UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_NAME;
  // AM carries frames; WAKEUP gives each worker an event fd to sleep on.
  params.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 1;  // channels (workers) live on different threads
  params.name = "farlink";
  ucp_context_h raw = nullptr;
  ucs_status_t st = ucp_init(&params, config, &raw);
  ucp_config_release(config);
  if (st != UCS_OK) return ucxError(StatusCode::kNotSupported, "ucp_init", st);
  std::shared_ptr<ucp_context> ctx(raw, ContextDeleter());
  cached = ctx;
  return ctx;
}

namespace {

// UCX reports some facts only as printed text; this captures it.
std::string printed(const std::function<void(FILE*)>& print) {
  char* text = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&text, &size);
  if (f == nullptr) return "";
  print(f);
  std::fclose(f);
  std::string out(text, size);
  std::free(text);
  return out;
}

}  // namespace

std::vector<std::string> resourceNames(ucp_context_h ctx) {
  // Lines like "#      resource 1  :  md 1  dev 1  flags -- tcp/lo".
  std::istringstream in(printed([&](FILE* f) { ucp_context_print_info(ctx, f); }));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("resource") == std::string::npos) continue;
    auto end = line.find_last_not_of(" \t");
    auto start = line.find_last_of(' ', end);
    if (end == std::string::npos || start == std::string::npos) continue;
    names.push_back(line.substr(start + 1, end - start));
  }
  return names;
}

Result<std::unique_ptr<Worker>> Worker::create(std::shared_ptr<ucp_context> ctx) {
  ucp_worker_params_t params{};
  params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  // Any thread may drive a channel, one at a time (the channel's lock).
  params.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  ucp_worker_h raw = nullptr;
  if (ucs_status_t st = ucp_worker_create(ctx.get(), &params, &raw); st != UCS_OK)
    return ucxError(StatusCode::kResourceExhausted, "ucp_worker_create", st);
  auto w = std::make_unique<Worker>();
  w->ctx_ = std::move(ctx);
  w->worker_.reset(raw);
  return w;
}

void Worker::abandon() noexcept {
  static std::mutex mu;
  static std::vector<std::shared_ptr<ucp_context>>* kept =
      new std::vector<std::shared_ptr<ucp_context>>;
  std::lock_guard lk(mu);
  kept->push_back(ctx_);  // ucp_cleanup would destroy the worker after all
  (void)worker_.release();
  std::fprintf(stderr,
               "farlink: ucx: leaked a UCP worker whose endpoints never finished wireup "
               "(closing them would abort inside UCX)\n");
}

Result<std::vector<uint8_t>> Worker::address() const {
  ucp_address_t* addr = nullptr;
  size_t len = 0;
  if (ucs_status_t st = ucp_worker_get_address(worker_.get(), &addr, &len); st != UCS_OK)
    return ucxError(StatusCode::kIoError, "ucp_worker_get_address", st);
  auto* p = reinterpret_cast<const uint8_t*>(addr);
  std::vector<uint8_t> bytes(p, p + len);
  ucp_worker_release_address(worker_.get(), addr);
  return bytes;
}

Status Endpoint::connect(ucp_worker_h worker, const std::vector<uint8_t>& remote_address,
                         ucp_err_handler_cb_t err_cb, void* err_arg, const std::string& peer) {
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.address = reinterpret_cast<const ucp_address_t*>(remote_address.data());
  // PEER mode: a vanished peer fails our operations instead of hanging them.
  params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  params.err_handler.cb = err_cb;
  params.err_handler.arg = err_arg;
  ucs_status_t st = ucp_ep_create(worker, &params, &ep_);
  if (st != UCS_OK) {
    ep_ = nullptr;
    return ucxError(StatusCode::kIoError, "ucp_ep_create to " + peer + "'s worker", st);
  }
  worker_ = worker;
  return Status();
}

namespace {

// Progresses `worker` until every request is done or `limit` passes, then
// hands them back (UCX frees unfinished ones when they finish).
void waitRequests(ucp_worker_h worker, const std::vector<void*>& reqs,
                  std::chrono::milliseconds limit) noexcept {
  auto until = Clock::now() + limit;
  auto pending = [&] {
    for (void* r : reqs)
      if (ucp_request_check_status(r) == UCS_INPROGRESS) return true;
    return false;
  };
  while (pending() && Clock::now() < until) ucp_worker_progress(worker);
  for (void* r : reqs) ucp_request_free(r);
}

}  // namespace

void Endpoint::closeAll(const std::vector<Endpoint*>& eps, bool force,
                        std::chrono::milliseconds limit) noexcept {
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  param.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  ucp_worker_h worker = nullptr;
  std::vector<void*> reqs;
  for (Endpoint* e : eps) {
    if (e->ep_ == nullptr) continue;
    worker = e->worker_;
    void* req = ucp_ep_close_nbx(e->ep_, &param);
    e->ep_ = nullptr;
    if (req != nullptr && !UCS_PTR_IS_ERR(req)) reqs.push_back(req);
  }
  if (worker != nullptr) waitRequests(worker, reqs, limit);
}

std::string Endpoint::transports() const {
  if (ep_ == nullptr) return "";
  // Lines like "lane[0]:  3:posix/memory.0 md[3] -> ...".
  std::set<std::string> names;
  std::istringstream in(printed([&](FILE* f) { ucp_ep_print_info(ep_, f); }));
  std::string line;
  while (std::getline(in, line)) {
    auto lane = line.find("lane[");
    if (lane == std::string::npos) continue;
    auto colon = line.find(':', line.find(']', lane));
    if (colon == std::string::npos) continue;
    std::istringstream fields(line.substr(colon + 1));
    std::string rsc;  // "3:posix/memory.0"
    fields >> rsc;
    auto start = rsc.find(':');
    auto dot = rsc.rfind('.');
    if (start == std::string::npos) continue;
    std::string name = rsc.substr(start + 1, dot == std::string::npos ? dot : dot - start - 1);
    if (!name.empty()) names.insert(name);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

}  // namespace farlink::ucx
