// rping's client loop (rdma-core librdmacm/examples/rping.c, rping_test_client)
// in farlink's words. Per ping: fill the start buffer with the pattern,
// advertise it (the server RDMA READs it), wait for the go-ahead, advertise
// the sink (the server RDMA WRITEs the echo there), wait for "done", then
// check (-V) and print (-v) the echo.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>

#include "ping/rping_link.h"
#include "ping/rping_sides.h"

namespace farlink::ping {
namespace {

using rdma::Clock;
using tools::kExitError;
using tools::kExitOk;
using tools::kExitVerify;

// rping's own resolve timeout.
constexpr int kResolveMs = 2000;

// Waits for `wanted` on `id`; anything else ends the connection attempt.
Status expectEvent(rdma_event_channel* ch, rdma_cm_id* id, rdma_cm_event_type wanted,
                   const std::string& peer, const char* what, std::chrono::milliseconds timeout,
                   const std::atomic<bool>& stop) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Result<rdma::CmEvent> e = rdma::waitCmEvent(ch, deadline, stop);
    if (!e && e.status().code() == StatusCode::kTimedOut)
      return Status(StatusCode::kTimedOut, std::string(what) + " " + peer + " timed out");
    if (!e) return e.status();
    if (e->id != id) continue;
    if (e->type == wanted) return Status::ok();
    return rdma::unexpectedEvent(*e, peer, what);
  }
}

Result<std::unique_ptr<rdma::RpingLink>> connectTo(const PingOptions& o, const RpingFlags& f,
                                                   rdma_event_channel* ch,
                                                   const std::string& target,
                                                   const std::atomic<bool>& stop) {
  const std::chrono::milliseconds timeout{f.timeout_s * 1000};
  Result<sockaddr_storage> dst = rdma::resolveAddress(o.address, o.port);
  if (!dst) return dst.status();
  // -I: rping binds the source address the same way (port 0: any).
  std::optional<sockaddr_storage> src;
  if (!o.source.empty()) {
    Result<sockaddr_storage> s = rdma::resolveAddress(o.source, 0);
    if (!s) return Status(s.status().code(), "-I " + s.status().message());
    src = *s;
  }
  Result<rdma::CmIdPtr> id = rdma::createId(ch);
  if (!id) return id.status();
  if (rdma_resolve_addr(id->get(), src ? reinterpret_cast<sockaddr*>(&*src) : nullptr,
                        reinterpret_cast<sockaddr*>(&*dst), kResolveMs))
    return Status(StatusCode::kIoError,
                  "rdma_resolve_addr " + target + (src ? " from " + o.source : "") + " failed",
                  errno);
  if (Status s = expectEvent(ch, id->get(), RDMA_CM_EVENT_ADDR_RESOLVED, target,
                             "resolving the RDMA address of", timeout, stop);
      !s)
    return s;
  if (rdma_resolve_route(id->get(), kResolveMs))
    return Status(StatusCode::kIoError, "rdma_resolve_route to " + target + " failed", errno);
  if (Status s = expectEvent(ch, id->get(), RDMA_CM_EVENT_ROUTE_RESOLVED, target,
                             "resolving the RDMA route to", timeout, stop);
      !s)
    return s;
  return rdma::RpingLink::create(std::move(*id), ch, target, timeout, stop, o.debug);
}

struct Summary {
  uint64_t done = 0;
  double min_us = 0, max_us = 0, sum_us = 0;
  void add(double us) {
    min_us = done ? std::min(min_us, us) : us;
    max_us = done ? std::max(max_us, us) : us;
    sum_us += us;
    ++done;
  }
};

// Runs the pings; kExitVerify on a mismatch (the message is printed here).
int pingLoop(rdma::RpingLink& link, rdma::Buffer& start, rdma::Buffer& sink, const PingOptions& o,
             const std::atomic<bool>& stop, Summary& sum, Status& error) {
  for (uint64_t n = 0; (o.count == 0 || n < static_cast<uint64_t>(o.count)) && !stop; ++n) {
    const auto t0 = Clock::now();
    fillRpingData(start.data.get(), o.size, n);
    if (!(error = link.sendAdvert(start.advert(), "advertising the start buffer"))) break;
    if (Result<RpingAdvert> go = link.receiveAdvert("waiting for the go-ahead"); !go) {
      error = go.status();
      break;
    }
    if (!(error = link.sendAdvert(sink.advert(), "advertising the sink buffer"))) break;
    if (Result<RpingAdvert> done = link.receiveAdvert("waiting for the echo"); !done) {
      error = done.status();
      break;
    }
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (o.validate) {
      const size_t at = firstDifference(start.data.get(), sink.data.get(), o.size);
      if (at != o.size) {
        tools::printError("ping", "data mismatch in ping " + std::to_string(n) + " from " +
                                      link.peer() + ": first difference at byte " +
                                      std::to_string(at) + " of " + std::to_string(o.size) +
                                      " (sent " + std::to_string(start.data[at] & 0xff) +
                                      ", got back " + std::to_string(sink.data[at] & 0xff) + ")");
        return kExitVerify;
      }
    }
    sum.add(us);
    // rping prints the sink as a C string; ours ends in a NUL unless the peer
    // wrote garbage, so bound it.
    if (o.verbose)
      std::printf("ping data: %.*s\n", static_cast<int>(strnlen(sink.data.get(), o.size)),
                  sink.data.get());
    if (o.debug) std::printf("ping %" PRIu64 ": rtt %.1f us\n", n, us);
    if (o.verbose || o.debug) std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace

int runRpingClient(const PingOptions& o, const RpingFlags& f, const std::atomic<bool>& stop) {
  const std::string target = tools::hostPort(o.address, o.port);
  Result<rdma::EventChannelPtr> ch = rdma::createEventChannel();
  if (!ch) {
    tools::printError("ping", tools::failedTo("cannot connect to " + target, ch.status()));
    return kExitError;
  }
  Result<std::unique_ptr<rdma::RpingLink>> link = connectTo(o, f, ch->get(), target, stop);
  const int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
  // rping registers both buffers for remote read and write; we do too, in case
  // a peer differs in which one it uses.
  Result<rdma::Buffer*> start = link ? (*link)->allocate(o.size, rw) : link.status();
  Result<rdma::Buffer*> sink = start ? (*link)->allocate(o.size, rw) : start.status();
  Status s = sink ? (*link)->connect() : sink.status();
  if (!s) {
    if (s.code() == StatusCode::kCancelled) return kExitOk;
    tools::printError("ping", tools::failedTo("cannot connect to " + target, s));
    return kExitError;
  }
  if (o.debug) std::printf("farlink ping: connected to %s (rping protocol)\n", target.c_str());

  Summary sum;
  Status error;
  const int rc = pingLoop(**link, **start, **sink, o, stop, sum, error);
  (*link)->disconnect();
  if (o.debug && sum.done)
    std::printf("farlink ping: %" PRIu64 " pings, rtt min/avg/max = %.1f/%.1f/%.1f us\n", sum.done,
                sum.min_us, sum.sum_us / static_cast<double>(sum.done), sum.max_us);
  std::fflush(stdout);
  if (rc != kExitOk) return rc;
  if (!error && error.code() != StatusCode::kCancelled) {
    tools::printError("ping", "ping " + std::to_string(sum.done) + ": " + tools::describe(error));
    return kExitError;
  }
  return kExitOk;
}

}  // namespace farlink::ping
