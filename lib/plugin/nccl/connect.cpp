// listen / connect / accept without blocking NCCL: farlink's connect and
// accept block (TCP connect, handshakes, RDMA CM), so each runs on a thread
// of its own and NCCL's repeated calls only look at how far it got.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "plugin/nccl/comm.h"
#include "plugin/nccl/handle.h"
#include "plugin/nccl/plugin.h"
#include "plugin/nccl/plugin_log.h"

namespace farlink::nccl {
namespace {

uint64_t randomNonZero() {
  static std::mutex mu;
  static std::mt19937_64 gen{(uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  std::lock_guard lk(mu);
  uint64_t v = 0;
  while (v == 0) v = gen();
  return v;
}

// Result of a background connect or accept, picked up by NCCL's next call.
struct Pending {
  std::mutex mu;
  bool done = false;
  Status status;
  std::unique_ptr<Channel> channel;
  std::string what;  // "connect to tcp://..." for log lines

  void finish(Result<std::unique_ptr<Channel>> r) {
    std::lock_guard lk(mu);
    if (r)
      channel = std::move(r.value());
    else
      status = r.status();
    done = true;
  }
};

}  // namespace

struct ListenComm {
  static constexpr uint32_t kMagic = 0x6c636f6d;
  uint32_t magic = kMagic;
  uint64_t nonce = 0;
  std::string uri;
  std::unique_ptr<Listener> listener;
  std::shared_ptr<Pending> pending = std::make_shared<Pending>();
  std::atomic<bool> stop{false};
  std::thread acceptor;
  bool handed_out = false;
};

namespace {

// Connect stages in flight, keyed by the id connect() writes into the handle.
std::mutex g_connects_mu;
std::map<uint64_t, std::shared_ptr<Pending>> g_connects;

// Accepts until a channel presents this listener's nonce (others are
// logged and closed: a stray client must not become NCCL's peer).
void acceptLoop(ListenComm* lc, std::chrono::milliseconds hello_timeout) {
  while (!lc->stop.load()) {
    auto ch = lc->listener->accept(std::chrono::milliseconds(200));
    for (const Status& r : lc->listener->rejections())
      logWarn("accept on " + lc->uri + ": refused a connection: " + r.toString());
    if (!ch) {
      if (ch.status().code() == StatusCode::kTimedOut) continue;
      lc->pending->finish(ch.status());
      return;
    }
    uint64_t nonce = 0;
    auto n = (*ch)->recv(&nonce, sizeof nonce, kHelloTag, hello_timeout);
    if (n && *n == sizeof nonce && nonce == lc->nonce) {
      lc->pending->finish(std::move(ch));
      return;
    }
    logWarn("accept on " + lc->uri + ": " + (*ch)->peer() +
            " connected but did not present this listener's handle (" +
            (n ? "wrong nonce" : n.status().toString()) + "); closed it and kept listening");
    (void)(*ch)->close(std::chrono::milliseconds(1000));
  }
}

// The device NCCL named, or null (logged) when there is none.
const NetDevice* deviceAt(const PluginState& st, int dev, const char* op) {
  if (dev >= 0 && dev < static_cast<int>(st.devices.size())) return &st.devices[dev];
  logWarn(std::string(op) + ": no device " + std::to_string(dev) + " (devices() reported " +
          std::to_string(st.devices.size()) + ")");
  return nullptr;
}

ncclResult_t failed(const std::string& op, const Status& s, const std::string& todo) {
  logWarn(op + ": " + s.toString() + "; " + todo);
  return resultFor(s);
}

}  // namespace

ncclResult_t pluginListen(int dev, void* handle, void** listen_comm) {
  const PluginState* st = pluginState();
  if (st == nullptr || handle == nullptr || listen_comm == nullptr) return kNcclInvalidUsage;
  *listen_comm = nullptr;
  const NetDevice* dp = deviceAt(*st, dev, "listen");
  if (dp == nullptr) return kNcclInvalidArgument;
  const NetDevice& d = *dp;
  ConnectHandle h;
  h.scheme = st->config.scheme;
  h.family = d.family;
  h.addr = d.addr;
  h.nonce = randomNonZero();
  std::string host = d.family == 6 ? "[" + d.address + "]" : d.address;
  std::string uri = std::string(schemeName(h.scheme)) + "://" + host + ":0";
  auto l = Listener::listen(uri, st->config.options);
  if (!l)
    return failed("listen on " + uri + " (device " + d.ifname + ")", l.status(),
                  "check FARLINK_NCCL_IFNAME / FARLINK_NCCL_TRANSPORT");
  h.port = (*l)->port();
  auto lc = std::make_unique<ListenComm>();
  lc->nonce = h.nonce;
  lc->uri = h.uri();
  lc->listener = std::move(l.value());
  lc->acceptor = std::thread(acceptLoop, lc.get(), st->config.options.connect_timeout);
  encodeHandle(h, static_cast<uint8_t*>(handle));
  logInfo("listening on " + lc->uri + " (device " + d.ifname + ")");
  *listen_comm = lc.release();
  return kNcclSuccess;
}

ncclResult_t pluginConnect(int dev, void* handle, void** send_comm) {
  const PluginState* st = pluginState();
  if (st == nullptr || handle == nullptr || send_comm == nullptr) return kNcclInvalidUsage;
  *send_comm = nullptr;
  if (deviceAt(*st, dev, "connect") == nullptr) return kNcclInvalidArgument;
  auto* bytes = static_cast<uint8_t*>(handle);
  uint64_t stage = readStage(bytes);
  if (stage == 0) {
    auto h = decodeHandle(bytes);
    if (!h) return failed("connect", h.status(), "the peer's handle did not arrive intact");
    auto p = std::make_shared<Pending>();
    p->what = "connect to " + h->uri();
    stage = randomNonZero();
    {
      std::lock_guard lk(g_connects_mu);
      g_connects.emplace(stage, p);
    }
    writeStage(bytes, stage);
    ChannelOptions opts = st->config.options;
    uint64_t nonce = h->nonce;
    std::thread([p, opts, nonce, uri = h->uri()] {
      auto ch = Channel::connect(uri, opts);
      if (ch) {
        // The hello tells the acceptor which listen() this channel is for.
        Status s = (*ch)->send(&nonce, sizeof nonce, kHelloTag, opts.connect_timeout);
        if (!s) ch = s;
      }
      p->finish(std::move(ch));
    }).detach();  // owns only `p`; outlives nothing of NCCL's
    return kNcclSuccess;
  }
  std::shared_ptr<Pending> p;
  {
    std::lock_guard lk(g_connects_mu);
    auto it = g_connects.find(stage);
    if (it == g_connects.end()) {
      logWarn(
          "connect: the handle names a connect in progress that this process does not "
          "know (handle reused or altered after the first connect call)");
      return kNcclInvalidArgument;
    }
    p = it->second;
    std::lock_guard plk(p->mu);
    if (!p->done) return kNcclSuccess;  // NCCL calls again
    g_connects.erase(it);
  }
  writeStage(bytes, 0);
  if (!p->channel)
    return failed(p->what, p->status,
                  "check that the peer is up and reachable, and FARLINK_PSK matches");
  auto comm = std::make_unique<Comm>(true, std::move(p->channel));
  ChannelStats cs = comm->channel().stats();
  logInfo(p->what + ": connected (" + cs.transport +
          (cs.transport_reason.empty() ? "" : "; " + cs.transport_reason) + ", " +
          std::to_string(cs.lanes) + " lanes)");
  *send_comm = comm.release();
  return kNcclSuccess;
}

ncclResult_t pluginAccept(void* listen_comm, void** recv_comm) {
  auto* lc = static_cast<ListenComm*>(listen_comm);
  if (lc == nullptr || lc->magic != ListenComm::kMagic || recv_comm == nullptr) {
    logWarn("accept: not a listen comm of this plugin");
    return kNcclInvalidArgument;
  }
  *recv_comm = nullptr;
  std::lock_guard lk(lc->pending->mu);
  if (!lc->pending->done) return kNcclSuccess;
  if (lc->handed_out) {
    logWarn("accept on " + lc->uri + ": called again after the connection was handed out");
    return kNcclInvalidUsage;
  }
  if (!lc->pending->channel)
    return failed("accept on " + lc->uri, lc->pending->status, "the listener is unusable");
  lc->handed_out = true;
  auto comm = std::make_unique<Comm>(false, std::move(lc->pending->channel));
  logInfo("accepted " + comm->peer() + " on " + lc->uri);
  *recv_comm = comm.release();
  return kNcclSuccess;
}

ncclResult_t pluginCloseListen(void* listen_comm) {
  auto* lc = static_cast<ListenComm*>(listen_comm);
  if (lc == nullptr || lc->magic != ListenComm::kMagic) return kNcclInvalidArgument;
  lc->stop.store(true);
  if (lc->acceptor.joinable()) lc->acceptor.join();
  lc->magic = 0;
  delete lc;
  return kNcclSuccess;
}

}  // namespace farlink::nccl
