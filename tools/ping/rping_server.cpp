// rping's server loop (rdma-core librdmacm/examples/rping.c, rping_test_server)
// in farlink's words. Per ping: receive the client's start advert, RDMA READ
// it, send the go-ahead, receive the sink advert, RDMA WRITE the string back,
// send "done". The client ends the session by disconnecting.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "ping/rping_link.h"
#include "ping/rping_sides.h"

namespace farlink::ping {
namespace {

using rdma::Clock;
using tools::kExitError;
using tools::kExitOk;

// rping's listen backlog.
constexpr int kBacklog = 3;

// Serves pings until the client disconnects (OK) or something fails.
Result<uint64_t> serveLoop(rdma::RpingLink& link, rdma::Buffer& buf, const PingOptions& o) {
  // The go-ahead and done messages carry nothing the client reads (rping
  // sends its never-filled send buffer); send zeros like it.
  const RpingAdvert empty{};
  for (uint64_t served = 0;; ++served) {
    Result<RpingAdvert> src = link.receiveAdvert("waiting for the next ping");
    if (!src && src.status().code() == StatusCode::kPeerClosed) return served;
    if (!src) return src.status();
    if (src->size == 0 || src->size > kRpingMaxSize)
      return Status(StatusCode::kProtocolError,
                    link.peer() + ": advertised a " + std::to_string(src->size) +
                        "-byte ping; this server takes 1 to " + std::to_string(kRpingMaxSize));
    if (src->size > buf.size)
      if (Status s = link.resize(&buf, src->size); !s) return s;
    if (Status s = link.rdma(IBV_WR_RDMA_READ, &buf, src->size, *src, "reading the ping"); !s)
      return s;
    const char* data = buf.data.get();
    if (o.verbose) {
      std::printf("server ping data: %.*s\n", static_cast<int>(strnlen(data, src->size)), data);
      std::fflush(stdout);
    }
    if (Status s = link.sendAdvert(empty, "sending the go-ahead"); !s) return s;
    Result<RpingAdvert> sink = link.receiveAdvert("waiting for the sink advert");
    if (!sink) return sink.status();
    Result<size_t> len = echoLength(data, src->size, sink->size);
    if (!len) return Status(len.status().code(), link.peer() + ": " + len.status().message());
    if (Status s = link.rdma(IBV_WR_RDMA_WRITE, &buf, *len, *sink, "writing the echo"); !s)
      return s;
    if (Status s = link.sendAdvert(empty, "sending done"); !s) return s;
  }
}

// Accepts the client behind `request` and serves it; returns its ping count.
Result<uint64_t> serveClient(rdma::CmIdPtr child, rdma_event_channel* ch, const std::string& peer,
                             const PingOptions& o, const RpingFlags& f,
                             const std::atomic<bool>& stop) {
  Result<std::unique_ptr<rdma::RpingLink>> link = rdma::RpingLink::create(
      std::move(child), ch, peer, std::chrono::milliseconds{f.timeout_s * 1000}, stop, o.debug);
  if (!link) return link.status();
  // Only a local target for READs and source for WRITEs: no remote access.
  Result<rdma::Buffer*> buf = (*link)->allocate(o.size, IBV_ACCESS_LOCAL_WRITE);
  if (!buf) return buf.status();
  if (Status s = (*link)->accept(); !s) return s;
  if (o.debug) std::printf("farlink ping: client %s connected\n", peer.c_str());
  Result<uint64_t> served = serveLoop(**link, **buf, o);
  (*link)->disconnect();
  return served;
}

}  // namespace

int runRpingServer(const PingOptions& o, const RpingFlags& f, const std::atomic<bool>& stop) {
  const std::string addr = o.address.empty() ? "0.0.0.0" : o.address;
  const std::string where = tools::hostPort(addr, o.port);
  Result<sockaddr_storage> local = rdma::resolveAddress(addr, o.port);
  Result<rdma::EventChannelPtr> ch = local ? rdma::createEventChannel() : local.status();
  Result<rdma::CmIdPtr> listener = ch ? rdma::createId(ch->get()) : ch.status();
  Status s = listener.status();
  if (s && rdma_bind_addr(listener->get(), reinterpret_cast<sockaddr*>(&*local)))
    s = Status(StatusCode::kIoError, "rdma_bind_addr failed (is another server on that port?)",
               errno);
  if (s && rdma_listen(listener->get(), kBacklog))
    s = Status(StatusCode::kIoError, "rdma_listen failed", errno);
  if (!s) {
    tools::printError("ping", tools::failedTo("cannot listen on " + where, s));
    return kExitError;
  }
  if (o.debug) {
    std::printf("farlink ping: listening on %s (rping protocol)\n", where.c_str());
    std::fflush(stdout);
  }
  int rc = kExitOk;
  while (!stop) {
    Result<rdma::CmEvent> e = rdma::waitCmEvent(ch->get(), Clock::time_point::max(), stop);
    if (!e && e.status().code() == StatusCode::kCancelled) break;
    if (!e) {
      tools::printError("ping",
                        "waiting for clients on " + where + ": " + tools::describe(e.status()));
      return kExitError;
    }
    if (e->type != RDMA_CM_EVENT_CONNECT_REQUEST) {
      if (o.debug) std::printf("cma_event type %s (ignored)\n", rdma::describeEvent(*e).c_str());
      continue;
    }
    rdma::CmIdPtr child(e->id);
    const std::string peer = rdma::formatAddress(rdma_get_peer_addr(child.get()));
    Result<uint64_t> served = serveClient(std::move(child), ch->get(), peer, o, f, stop);
    if (served) {
      if (o.debug)
        std::printf("farlink ping: served %" PRIu64 " pings from %s\n", *served, peer.c_str());
      std::fflush(stdout);
      rc = kExitOk;
    } else if (served.status().code() == StatusCode::kCancelled) {
      break;
    } else {
      tools::printError("ping", "rping client " + peer + ": " + tools::describe(served.status()));
      rc = kExitError;
    }
    if (!o.persistent) break;
  }
  return rc;
}

}  // namespace farlink::ping
