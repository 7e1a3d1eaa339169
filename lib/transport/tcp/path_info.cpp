// Reads the kernel's view of a lane's path. Kept apart from socket_util.cpp
// because the full struct tcp_info (delivery rate, min RTT) is only in
// <linux/tcp.h>, which clashes with glibc's <netinet/tcp.h>.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include "transport/tcp/socket_util.h"

namespace farlink::tcp {

uint32_t socketRttUs(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  return ti.tcpi_rtt;
}

std::optional<LanePulse> readPulse(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return std::nullopt;
  LanePulse p;
  p.rtt_us = ti.tcpi_rtt;
  p.rttvar_us = ti.tcpi_rttvar;
  p.unacked = ti.tcpi_unacked;
  p.since_send_ms = ti.tcpi_last_data_sent;
  p.since_recv_ms = ti.tcpi_last_data_recv;
  p.since_ack_ms = ti.tcpi_last_ack_recv;
  // Kernels before 4.6 do not report it: then a probe may queue behind a
  // closed window, which is harmless (it is not in flight).
  if (offsetof(tcp_info, tcpi_notsent_bytes) + sizeof ti.tcpi_notsent_bytes <= len)
    p.notsent_bytes = ti.tcpi_notsent_bytes;
  return p;
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
