// Reads the kernel's view of a lane's path. Kept apart from socket_util.cpp
// because the full struct tcp_info (delivery rate, min RTT) is only in
// <linux/tcp.h>, which clashes with glibc's <netinet/tcp.h>.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "transport/tcp/socket_util.h"

namespace farlink::tcp {

uint32_t socketRttUs(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  return ti.tcpi_rtt;
}

bool ackSilent(int fd, std::chrono::milliseconds limit) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return false;
  return ti.tcpi_unacked > 0 && ti.tcpi_last_ack_recv > limit.count();
}

void readPathInfo(int fd, LaneStats* stats) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return;
  stats->rtt_us = ti.tcpi_rtt;
  stats->rtt_var_us = ti.tcpi_rttvar;
  stats->cwnd_bytes = uint64_t{ti.tcpi_snd_cwnd} * ti.tcpi_snd_mss;
  stats->retransmits = ti.tcpi_total_retrans;
  // Older kernels return a shorter struct; read only what they filled in.
  auto filled = [&](const void* field, size_t size) {
    return static_cast<size_t>(static_cast<const char*>(field) - reinterpret_cast<const char*>(&ti)) +
               size <= len;
  };
  if (filled(&ti.tcpi_pacing_rate, sizeof ti.tcpi_pacing_rate) && ti.tcpi_pacing_rate != ~uint64_t{0})
    stats->pacing_rate_bps = ti.tcpi_pacing_rate * 8;
  if (filled(&ti.tcpi_min_rtt, sizeof ti.tcpi_min_rtt) && ti.tcpi_min_rtt != ~uint32_t{0})
    stats->min_rtt_us = ti.tcpi_min_rtt;
  if (filled(&ti.tcpi_delivery_rate, sizeof ti.tcpi_delivery_rate))
    stats->delivery_rate_bps = ti.tcpi_delivery_rate * 8;
  char cc[16] = {};
  socklen_t cclen = sizeof cc - 1;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &cclen) == 0)
    stats->congestion.assign(cc, strnlen(cc, cclen));
}

}  // namespace farlink::tcp
