#include "probe/path.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <memory>

#include "common/report.h"
#include "farlink/channel.h"
#include "ping/ping.h"
#include "ping/rping_data.h"
#include "probe/rdma.h"

namespace farlink::probe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kResolveTimeout{1000};
constexpr std::chrono::milliseconds kConnectTimeout{3000};
constexpr std::chrono::milliseconds kEchoTimeout{5000};

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const noexcept { freeaddrinfo(a); }
};

RttSummary summarize(std::string method, std::vector<double>& samples_ms) {
  // summarizeLatency works in any unit; nearest-rank percentiles like perf's.
  const tools::LatencyStats s = tools::summarizeLatency(samples_ms);
  RttSummary r;
  r.method = std::move(method);
  r.samples = static_cast<int>(samples_ms.size());
  r.min_ms = s.min_us;
  r.median_ms = s.typical_us;
  r.p99_ms = s.p99_us;
  return r;
}

// Round trips of rping's pattern against a farlink ping server.
Result<RttSummary> farlinkPing(Channel& ch, int count) {
  const size_t size = ping::kDefaultSize;
  std::vector<char> tx(size), rx(size);
  std::vector<double> samples;
  for (int n = 0; n < count; ++n) {
    ping::fillRpingData(tx.data(), size, static_cast<uint64_t>(n));
    const auto t0 = Clock::now();
    Result<Request> pong = ch.irecv(rx.data(), size, ping::kTagPong);
    if (!pong) return pong.status();
    Result<Request> sent = ch.isend(tx.data(), size, ping::kTagPing);
    if (!sent) return sent.status();
    if (Status s = pong->wait(kEchoTimeout); !s) return s;
    if (Status s = sent->wait(kEchoTimeout); !s) return s;
    samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return summarize("farlink ping", samples);
}

// One non-blocking connect; its duration is one RTT when the peer answers
// with SYN-ACK or RST. nullopt-like failure when nothing answers.
Result<double> timeConnect(const addrinfo& ai, const std::string& target) {
  const int fd = socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(StatusCode::kIoError, "socket() for " + target + " failed", errno);
  const auto t0 = Clock::now();
  int rc = connect(fd, ai.ai_addr, ai.ai_addrlen);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    rc = poll(&pfd, 1, static_cast<int>(kConnectTimeout.count()));
    socklen_t len = sizeof err;
    if (rc > 0)
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    else
      err = rc == 0 ? ETIMEDOUT : errno;
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  close(fd);
  if (err == 0 || err == ECONNREFUSED) return ms;
  return Status(StatusCode::kIoError, "TCP connect to " + target + " got no answer", err);
}

Result<RttSummary> tcpConnects(const std::string& host, uint16_t port, int count) {
  const std::string target = tools::hostPort(host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return Status(StatusCode::kInvalidArgument, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, AddrInfoDeleter> ai(found);
  std::vector<double> samples;
  Status last;
  for (int i = 0; i < count; ++i) {
    Result<double> ms = timeConnect(*ai, target);
    if (ms)
      samples.push_back(*ms);
    else
      last = ms.status();
  }
  if (samples.empty()) return last;
  return summarize("tcp connect", samples);
}

}  // namespace

TransportChoice chooseTransport(const std::string& host, const std::vector<std::string>& built) {
  TransportChoice c;
  Result<RdmaRoute> route = resolveRdmaRoute(host, kResolveTimeout);
  const bool verbs_built = std::find(built.begin(), built.end(), "verbs") != built.end();
  if (!route) {
    c.transport = "tcp";
    c.reason = route.status().message();
    return c;
  }
  c.rdma_device = route->device;
  c.rdma_port = route->port;
  const std::string via = route->device + " port " + std::to_string(route->port);
  if (verbs_built) {
    c.transport = "verbs";
    c.reason = "rdma_resolve_addr: " + via + " carries the route to " + host;
  } else {
    c.transport = "tcp";
    c.reason = via + " carries the route to " + host +
               ", but this build has no verbs datapath (rebuild with rdma-core)";
  }
  return c;
}

Result<RttSummary> measureRtt(const std::string& host, uint16_t port, int count,
                              const tools::ChannelFlags& flags, std::string* fallback_note) {
  ChannelOptions defaults;
  defaults.lanes = 1;
  defaults.connect_timeout = kConnectTimeout;
  Result<ChannelOptions> copts = tools::makeChannelOptions(flags, defaults);
  if (!copts) return copts.status();
  const std::string target = tools::hostPort(host, port);
  Result<std::unique_ptr<Channel>> ch =
      Channel::connect(tools::makeUri(flags.transport, host, port), *copts);
  if (ch) {
    Result<RttSummary> r = farlinkPing(**ch, count);
    (void)(*ch)->close(r ? kEchoTimeout : std::chrono::milliseconds{0});
    if (r) return r;
    *fallback_note = "farlink ping exchange with " + target + " failed: " + r.status().toString();
  } else {
    *fallback_note = "no farlink listener answered on " + target + " (" +
                     ch.status().toString() + ")";
  }
  return tcpConnects(host, port, count);
}

}  // namespace farlink::probe
