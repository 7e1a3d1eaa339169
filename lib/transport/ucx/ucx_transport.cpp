// ucx:// connect and listen. Wireup rides farlink's own TCP handshake (with
// its PSK proof) on one bootstrap connection to the listener's port; the
// worker addresses follow on that connection (ucx_bootstrap.h), then each
// side opens one endpoint per lane to the other's worker.
#include "transport/ucx/ucx_transport.h"

#include <memory>

#include "core/wire.h"
#include "transport/tcp/lane_session.h"
#include "transport/ucx/ucx_bootstrap.h"
#include "transport/ucx/ucx_channel.h"

namespace farlink::ucx {

namespace {

UcxChannel::Setup setupFrom(tcp::LaneSession& s, std::unique_ptr<Worker> worker, Wireup peer) {
  UcxChannel::Setup setup;
  setup.worker = std::move(worker);
  setup.bootstrap = std::move(s.lanes[0]);
  setup.peer_address = std::move(peer.address);
  setup.lanes = peer.lanes;
  setup.peer = s.peer;
  setup.session_hex = s.session_hex;
  setup.local_chunk = s.local_chunk;
  setup.peer_chunk = s.peer_chunk;
  setup.authenticated = s.authenticated;
  setup.options = s.options;
  return setup;
}

struct Local {
  std::unique_ptr<Worker> worker;
  Wireup wireup;
};

Result<Local> makeWorker(std::shared_ptr<ucp_context> ctx, int lanes) {
  auto w = Worker::create(std::move(ctx));
  if (!w) return w.status();
  auto addr = (*w)->address();
  if (!addr) return addr.status();
  return Local{std::move(w.value()), Wireup{static_cast<uint16_t>(lanes), std::move(addr.value())}};
}

}  // namespace

// The server side of wireup, run by a session listener (ucx://, auto://)
// once a bootstrap connection passed the handshake.
Result<std::shared_ptr<ChannelImpl>> acceptSession(tcp::LaneSession s) {
  if ((s.capabilities & wire::kCapUcx) == 0 || s.lanes.size() != 1)
    return Status(StatusCode::kProtocolError,
                  "peer " + s.peer +
                      " connected to a ucx:// listener without asking for a UCX "
                      "bootstrap (a tcp:// client?); connect with ucx://, or listen with auto://");
  auto ctx = sharedContext();
  if (!ctx) return ctx.status();
  Deadline deadline = Clock::now() + s.options.connect_timeout;
  auto theirs = receiveWireup(s.lanes[0].get(), deadline, s.peer);
  if (!theirs) return theirs.status();
  auto mine = makeWorker(ctx.value(), theirs->lanes);
  if (!mine) return mine.status();
  if (Status st = sendWireup(s.lanes[0].get(), mine->wireup, deadline, s.peer); !st) return st;
  auto ch = UcxChannel::create(setupFrom(s, std::move(mine->worker), std::move(theirs.value())));
  if (!ch) return ch.status();
  return std::shared_ptr<ChannelImpl>(std::move(ch.value()));
}

Result<std::shared_ptr<ChannelImpl>> connectUcx(const Uri& uri, const ChannelOptions& o,
                                                const std::string& reason) {
  auto ctx = sharedContext();
  if (!ctx) return ctx.status();
  Deadline deadline = Clock::now() + o.connect_timeout;
  auto s = tcp::connectLanes(uri, o, 1, wire::kCapUcx);
  if (!s) return s.status();
  auto mine = makeWorker(ctx.value(), o.lanes);
  if (!mine) return mine.status();
  if (Status st = sendWireup(s->lanes[0].get(), mine->wireup, deadline, s->peer); !st) return st;
  auto theirs = receiveWireup(s->lanes[0].get(), deadline, s->peer);
  if (!theirs) return theirs.status();
  if (theirs->lanes != o.lanes)
    return Status(StatusCode::kProtocolError, "peer " + s->peer + " answered the ucx wireup with " +
                                                  std::to_string(theirs->lanes) + " lanes; " +
                                                  std::to_string(o.lanes) + " were asked for");
  UcxChannel::Setup setup =
      setupFrom(s.value(), std::move(mine->worker), std::move(theirs.value()));
  setup.reason = reason;
  auto ch = UcxChannel::create(std::move(setup));
  if (!ch) return ch.status();
  return std::shared_ptr<ChannelImpl>(std::move(ch.value()));
}

Result<std::unique_ptr<ListenerImpl>> listenUcx(const Uri& uri, const ChannelOptions& o) {
  // Held by the listener so that accepting does not re-initialise UCX.
  auto ctx = sharedContext();
  if (!ctx) return ctx.status();
  return tcp::listenSessions(uri, o, "ucx", [ctx = ctx.value()](tcp::LaneSession s) {
    return acceptSession(std::move(s));
  });
}

std::string unusableForAuto(const Uri&, const ChannelOptions&) {
  auto ctx = sharedContext();
  if (!ctx) return ctx.status().message();
  std::vector<std::string> found = resourceNames(ctx->get());
  std::string beyond, all;
  for (const auto& r : found) {
    all += (all.empty() ? "" : " ") + r;
    std::string tl = r.substr(0, r.find('/'));
    if (tl != "self" && tl != "tcp" && tl != "sysv" && tl != "posix" && tl != "cma" &&
        tl != "knem" && tl != "xpmem")
      beyond += (beyond.empty() ? "" : " ") + r;
  }
  // Over TCP alone farlink's own TCP datapath is the better choice.
  if (beyond.empty()) return "UCX offers nothing beyond TCP and shared memory here (" + all + ")";
  return "";
}

}  // namespace farlink::ucx

namespace farlink {

TransportFactory ucxTransport() {
  TransportFactory f;
  f.scheme = "ucx";
  f.connect = [](const Uri& uri, const ChannelOptions& o) { return ucx::connectUcx(uri, o, ""); };
  f.listen = ucx::listenUcx;
  f.unusable = ucx::unusableForAuto;
  f.resources = []() -> Result<std::vector<std::string>> {
    auto ctx = ucx::sharedContext();
    if (!ctx) return ctx.status();
    return ucx::resourceNames(ctx->get());
  };
  f.hello_capability = wire::kCapUcx;
  f.adopt = ucx::acceptSession;
  return f;
}

}  // namespace farlink
