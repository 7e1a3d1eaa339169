// verbs:// registration and auto://: the datapaths of
// ChannelOptions::auto_order (FARLINK_AUTO_ORDER, default verbs,ucx,tcp) are
// tried in turn: verbs when an RDMA device reaches the peer
// (rdma_resolve_addr succeeds within a short timeout), UCX (when built) when
// it offers more than TCP and shared memory, TCP otherwise. A fallback to
// TCP is logged once per process, counted (autoFallbackCount()) and shown,
// like every choice, in ChannelStats::transport_reason.
// ChannelOptions::verbs_policy (FARLINK_VERBS=required|auto|off) forbids
// or forces the fallback.
#include <fcntl.h>
#include <poll.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <vector>

#include "transport/tcp/lane_session.h"
#include "transport/verbs/verbs_connect.h"

namespace farlink {
TransportFactory tcpTransport();
namespace detail {
extern std::atomic<uint64_t> auto_fallbacks;
}
}  // namespace farlink

namespace farlink::verbs {
namespace {

constexpr int kProbeMs = 2000;

// Empty when an RDMA device reaches uri's host; else why not.
std::string probeVerbs(const Uri& uri, const ChannelOptions& o) {
  if (!haveRdmaDevice()) return "no RDMA device on this host";
  auto dst = resolveHost(uri, false);
  if (!dst) return dst.status().message();
  auto src = sourceAddress(o);
  if (!src) return src.status().message();
  UniqueEventChannel ec(rdma_create_event_channel());
  if (!ec) return std::string("rdma_create_event_channel: ") + std::strerror(errno);
  rdma_cm_id* raw = nullptr;
  if (rdma_create_id(ec.get(), &raw, nullptr, RDMA_PS_TCP) != 0)
    return std::string("rdma_create_id: ") + std::strerror(errno);
  UniqueCmId id(raw);
  int ms = static_cast<int>(std::min<int64_t>(o.connect_timeout.count(), kProbeMs));
  if (rdma_resolve_addr(raw, sourceOrNull(*src), reinterpret_cast<sockaddr*>(&dst.value()), ms) != 0)
    return std::string("rdma_resolve_addr: ") + std::strerror(errno);
  pollfd p{ec->fd, POLLIN, 0};
  if (::poll(&p, 1, ms + 100) <= 0) return "no RDMA address resolution within " + std::to_string(ms) + " ms";
  rdma_cm_event* ev = nullptr;
  if (rdma_get_cm_event(ec.get(), &ev) != 0) return std::string("rdma_get_cm_event: ") + std::strerror(errno);
  bool ok = ev->event == RDMA_CM_EVENT_ADDR_RESOLVED && raw->verbs != nullptr;
  std::string why = ok ? "" : std::string("no RDMA device reaches ") + uri.hostPort() + " (" +
                                  rdma_event_str(ev->event) + ")";
  rdma_ack_cm_event(ev);
  return why;
}

// A channel chosen by auto://, so that stats() says why.
class FallbackChannel final : public ChannelImpl {
 public:
  FallbackChannel(std::shared_ptr<ChannelImpl> inner, std::string reason)
      : inner_(std::move(inner)), reason_(std::move(reason)) {}
  Result<Request> isend(const void* d, size_t n, uint64_t tag) override { return inner_->isend(d, n, tag); }
  Result<Request> irecv(void* d, size_t n, uint64_t tag) override { return inner_->irecv(d, n, tag); }
  Result<Request> iwrite(const void* l, size_t n, const RemoteKey& k, uint64_t off) override {
    return inner_->iwrite(l, n, k, off);
  }
  Result<Request> iread(void* l, size_t n, const RemoteKey& k, uint64_t off) override {
    return inner_->iread(l, n, k, off);
  }
  Status wait(RequestState& r, Deadline d) override { return inner_->wait(r, d); }
  Status progress(Deadline d) override { return inner_->progress(d); }
  void abandon(RequestState& r, const Status& why) override { inner_->abandon(r, why); }
  Status flush(Deadline d) override { return inner_->flush(d); }
  Status close(Deadline d) override { return inner_->close(d); }
  ChannelStats stats() const override {
    ChannelStats s = inner_->stats();
    s.transport_reason = reason_;
    return s;
  }
  std::string peer() const override { return inner_->peer(); }

 private:
  std::shared_ptr<ChannelImpl> inner_;
  std::string reason_;
};

void noteFallback(const std::string& what) {
  detail::auto_fallbacks.fetch_add(1, std::memory_order_relaxed);
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "farlink: auto:// falls back to TCP: %s\n", what.c_str()); });
}

Result<std::shared_ptr<ChannelImpl>> connectAuto(const Uri& uri, const ChannelOptions& o) {
  std::vector<std::string> order;
  if (Status s = parseAutoOrder(o.auto_order, &order); !s) return s;
  if (o.verbs_policy == VerbsPolicy::kRequired) order = {"verbs"};
  if (o.verbs_policy == VerbsPolicy::kOff) order = {"tcp"};
  // Only TCP lanes carry TLS (validate() refuses it with FARLINK_VERBS=required).
  if (o.tls == TlsMode::kRequired) order = {"tcp"};
  // Why each datapath before the chosen one was passed over.
  std::string why = o.verbs_policy == VerbsPolicy::kOff ? "verbs disabled (FARLINK_VERBS=off)"
                    : o.tls == TlsMode::kRequired ? "TLS required (FARLINK_TLS=required)"
                                                  : "";
  auto passOver = [&](const std::string& reason) { why += (why.empty() ? "" : "; ") + reason; };
  for (const std::string& name : order) {
    if (name == "tcp") break;
    if (name == "verbs") {
      std::string no = probeVerbs(uri, o);
      if (no.empty()) return connectVerbs(uri, o, "auto: an RDMA device reaches " + uri.hostPort());
      passOver(no);
      continue;
    }
    const TransportFactory* f = findTransport(name);
    if (f == nullptr) continue;  // not built: auto behaves as without it
    std::string no = f->unusable ? f->unusable(uri, o) : "";
    if (!no.empty()) {
      passOver(name + ": " + no);
      continue;
    }
    auto ch = f->connect(uri, o);
    if (!ch) return ch.status();
    std::string reason = "auto: " + (why.empty() ? "" : why + "; ") + name + " chosen by FARLINK_AUTO_ORDER";
    return std::shared_ptr<ChannelImpl>(std::make_shared<FallbackChannel>(std::move(ch.value()), reason));
  }
  if (o.verbs_policy == VerbsPolicy::kRequired)
    return Status(StatusCode::kNotSupported,
                  "auto://" + uri.hostPort() + ": verbs is required (FARLINK_VERBS=required) but " + why);
  if (std::find(order.begin(), order.end(), "tcp") == order.end())
    return Status(StatusCode::kNotSupported,
                  "auto://" + uri.hostPort() + ": no datapath of FARLINK_AUTO_ORDER=" + o.auto_order +
                      " can serve it (" + why + "); add tcp to the order to fall back to TCP");
  noteFallback(uri.hostPort() + ": " + why);
  auto tcp = tcpTransport().connect(uri, o);
  if (!tcp) return tcp.status();
  return std::shared_ptr<ChannelImpl>(std::make_shared<FallbackChannel>(std::move(tcp.value()), "auto: " + why));
}

// Listens with TCP and (when a device exists) verbs on the same port
// number, and accepts from whichever has a channel ready. The TCP port also
// serves datapaths that bootstrap over farlink's handshake (UCX): each
// session goes to the datapath its HELLO names.
class AutoListener final : public ListenerImpl {
 public:
  AutoListener(std::unique_ptr<ListenerImpl> tcp, std::unique_ptr<ListenerImpl> verbs, Uri uri)
      : tcp_(std::move(tcp)), verbs_(std::move(verbs)), uri_(std::move(uri)) {
    uri_.port = tcp_ ? tcp_->port() : verbs_->port();
  }
  Result<std::shared_ptr<ChannelImpl>> accept(Deadline deadline) override {
    std::lock_guard lk(mu_);
    for (;;) {
      // Short turns, so that both listeners' handshakes keep moving.
      Deadline turn = std::min(deadline, Clock::now() + std::chrono::milliseconds(10));
      for (ListenerImpl* l : {tcp_.get(), verbs_.get()}) {
        if (l == nullptr) continue;
        auto r = l->accept(turn);
        if (r || r.status().code() != StatusCode::kTimedOut) return r;
      }
      if (Clock::now() >= deadline)
        return Status(StatusCode::kTimedOut, "no channel arrived on " + uri() + " in time");
    }
  }
  uint16_t port() const override { return uri_.port; }
  std::string uri() const override { return "auto://" + uri_.hostPort(); }
  std::vector<Status> rejections() override {
    std::vector<Status> all = tcp_ ? tcp_->rejections() : std::vector<Status>{};
    if (verbs_)
      for (auto& s : verbs_->rejections()) all.push_back(std::move(s));
    return all;
  }

 private:
  std::mutex mu_;
  std::unique_ptr<ListenerImpl> tcp_, verbs_;
  Uri uri_;
};

Result<std::unique_ptr<ListenerImpl>> listenAuto(const Uri& uri, const ChannelOptions& o) {
  std::unique_ptr<ListenerImpl> tcp, verbs;
  Uri at = uri;
  if (o.verbs_policy != VerbsPolicy::kRequired) {
    auto t = tcp::listenSessions(uri, o, "auto", adoptSession);
    if (!t) return t.status();
    tcp = std::move(t.value());
    at.port = tcp->port();
  }
  if (o.verbs_policy != VerbsPolicy::kOff && o.tls != TlsMode::kRequired && haveRdmaDevice()) {
    auto v = listenVerbs(at, o);
    if (v) verbs = std::move(v.value());
    else if (o.verbs_policy == VerbsPolicy::kRequired) return v.status();
    else noteFallback("listener " + at.hostPort() + " serves TCP only: " + v.status().message());
  } else if (o.verbs_policy == VerbsPolicy::kRequired) {
    return Status(StatusCode::kNotSupported,
                  "auto://" + uri.hostPort() + ": verbs is required (FARLINK_VERBS=required) but "
                  "there is no RDMA device on this host");
  }
  return std::unique_ptr<ListenerImpl>(std::make_unique<AutoListener>(std::move(tcp), std::move(verbs), at));
}

}  // namespace
}  // namespace farlink::verbs

namespace farlink {

TransportFactory verbsTransport() {
  TransportFactory f;
  f.scheme = "verbs";
  f.connect = [](const Uri& uri, const ChannelOptions& o) { return verbs::connectVerbs(uri, o); };
  f.listen = verbs::listenVerbs;
  return f;
}

TransportFactory autoTransport() {
  TransportFactory f;
  f.scheme = "auto";
  f.connect = verbs::connectAuto;
  f.listen = verbs::listenAuto;
  return f;
}

}  // namespace farlink
