// farlink probe's report as text and as JSON.
#include <cinttypes>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "probe/probe.h"
#include "probe/recommend.h"
#include "transport/verbs/verbs_ack_timeout.h"

namespace farlink::probe {
namespace {

using nlohmann::json;

std::string mib(uint64_t bytes) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

void printDatapaths(FILE* out, const ProbeReport& r) {
  for (const DatapathResources& d : r.datapaths) {
    if (!d.error.empty()) {
      std::fprintf(out, "%s transports: error: %s\n", d.name.c_str(), d.error.c_str());
      continue;
    }
    std::string list;
    for (const auto& x : d.resources) list += (list.empty() ? "" : " ") + x;
    std::fprintf(out, "%s transports: %s\n", d.name.c_str(), list.empty() ? "none" : list.c_str());
    std::fprintf(out, "  auto:// %s\n",
                 d.auto_note.empty() ? "considers it after verbs (FARLINK_AUTO_ORDER)"
                                     : ("passes it over: " + d.auto_note).c_str());
  }
}

void printDevices(FILE* out, const ProbeReport& r) {
  if (!r.rdma_built) {
    std::fprintf(out, "RDMA devices: unknown, %s\n", r.rdma_error.c_str());
    return;
  }
  if (!r.rdma_error.empty()) {
    std::fprintf(out, "RDMA devices: error: %s\n", r.rdma_error.c_str());
    return;
  }
  if (r.devices.empty()) {
    std::fprintf(out, "RDMA devices: no RDMA devices\n");
    return;
  }
  std::fprintf(out, "RDMA devices:\n");
  for (const RdmaDevice& d : r.devices) {
    std::fprintf(out, "  %s  node_guid %s  fw %s  vendor 0x%x part %u  max_qp %d\n",
                 d.name.c_str(), d.node_guid.c_str(), d.fw_ver.empty() ? "-" : d.fw_ver.c_str(),
                 d.vendor_id, d.vendor_part_id, d.max_qp);
    for (const RdmaPort& p : d.ports) {
      std::fprintf(out, "    port %d: %s, MTU %d (max %d), %s, %s %s = %g Gb/s\n", p.port,
                   p.state.c_str(), p.active_mtu, p.max_mtu, p.link_layer.c_str(), p.width.c_str(),
                   p.speed.c_str(), p.gbps);
      for (const Gid& g : p.gids)
        std::fprintf(out, "      GID[%d] %-40s %-11s %-4s %s\n", g.index, g.gid.c_str(),
                     g.type.empty() ? "-" : g.type.c_str(), g.family == "ipv4" ? "IPv4" : "IPv6",
                     g.ndev.empty() ? "-" : g.ndev.c_str());
    }
  }
}

void printInterfaces(FILE* out, const ProbeReport& r) {
  std::fprintf(out, "Network interfaces:\n");
  for (const NetInterface& i : r.interfaces) {
    std::string addrs;
    for (const std::string& a : i.addresses) addrs += " " + a;
    std::fprintf(out, "  %-12s %-4s MTU %-6d%s\n", i.name.c_str(),
                 !i.up ? "down" : i.running ? "up" : "up, no carrier", i.mtu, addrs.c_str());
  }
}

void printRecommendation(FILE* out, const Recommendation& m, const KernelLimits& k) {
  std::fprintf(out, "Sizing for %s at %.3f ms RTT:\n", formatRate(m.rate_bps).c_str(), m.rtt_ms);
  std::fprintf(out, "  bandwidth-delay product  %s (%" PRIu64 " bytes)\n", mib(m.bdp_bytes).c_str(),
               m.bdp_bytes);
  std::fprintf(out, "  in-flight window         %s\n", mib(m.window_bytes).c_str());
  std::fprintf(out, "  lanes                    %d (--lanes / FARLINK_LANES)\n", m.lanes);
  std::fprintf(out, "  verbs QP ACK timeout     %d (4.096 us x 2^%d = %.0f ms; lanes after the first)\n",
               m.verbs_ack_timeout, m.verbs_ack_timeout,
               verbs::ackTimeoutUs(static_cast<uint8_t>(m.verbs_ack_timeout)) / 1e3);
  if (m.socket_buffer)
    std::fprintf(out, "  socket buffer            %s per lane (FARLINK_SOCKET_BUFFER=%" PRIu64 ")\n",
                 mib(m.socket_buffer).c_str(), m.socket_buffer);
  else
    std::fprintf(out, "  socket buffer            kernel autotuning (FARLINK_SOCKET_BUFFER=0)\n");
  std::fprintf(out, "  kernel limits            rmem_max %s, wmem_max %s, tcp_rmem max %s, "
               "tcp_wmem max %s\n",
               mib(k.rmem_max).c_str(), mib(k.wmem_max).c_str(), mib(k.tcp_rmem_max).c_str(),
               mib(k.tcp_wmem_max).c_str());
  if (m.limit.empty()) {
    std::fprintf(out, "  achievable               the full rate (limits allow %s)\n",
                 formatRate(m.achievable_bps).c_str());
    return;
  }
  std::fprintf(out, "  achievable               %s: capped by %s\n",
               formatRate(m.achievable_bps).c_str(), m.limit.c_str());
  std::fprintf(out, "  to lift it (as root):\n");
  for (const std::string& s : m.sysctls) std::fprintf(out, "    %s\n", s.c_str());
}

}  // namespace

void printText(FILE* out, const ProbeReport& r) {
  printDevices(out, r);
  printDatapaths(out, r);
  printInterfaces(out, r);
  if (!r.host.empty()) {
    const std::string target = tools::hostPort(r.host, r.port);
    std::fprintf(out, "Path to %s:\n", target.c_str());
    if (r.choice)
      std::fprintf(out, "  transport auto would use: %s (%s)\n", r.choice->transport.c_str(),
                   r.choice->reason.c_str());
    if (r.rtt) {
      std::fprintf(out, "  rtt (%s, %d samples): min %.3f ms, median %.3f ms, p99 %.3f ms\n",
                   r.rtt->method.c_str(), r.rtt->samples, r.rtt->min_ms, r.rtt->median_ms,
                   r.rtt->p99_ms);
      if (!r.rtt_error.empty()) std::fprintf(out, "  (%s)\n", r.rtt_error.c_str());
    } else {
      std::fprintf(out, "  rtt: unknown (%s)\n", r.rtt_error.c_str());
    }
  }
  if (r.recommendation) printRecommendation(out, *r.recommendation, r.limits);
}

std::string toJson(const ProbeReport& r) {
  json devices = json::array();
  for (const RdmaDevice& d : r.devices) {
    json ports = json::array();
    for (const RdmaPort& p : d.ports) {
      json gids = json::array();
      for (const Gid& g : p.gids)
        gids.push_back({{"index", g.index}, {"gid", g.gid}, {"type", g.type},
                        {"family", g.family}, {"ndev", g.ndev}});
      ports.push_back({{"port", p.port}, {"state", p.state}, {"active_mtu", p.active_mtu},
                       {"max_mtu", p.max_mtu}, {"link_layer", p.link_layer}, {"width", p.width},
                       {"speed", p.speed}, {"gbps", p.gbps}, {"gids", gids}});
    }
    devices.push_back({{"name", d.name}, {"node_guid", d.node_guid}, {"fw_ver", d.fw_ver},
                       {"vendor_id", d.vendor_id}, {"vendor_part_id", d.vendor_part_id},
                       {"max_qp", d.max_qp}, {"max_qp_wr", d.max_qp_wr},
                       {"max_mr_size", d.max_mr_size}, {"ports", ports}});
  }
  json rdma = {{"built", r.rdma_built}, {"devices", devices}};
  if (!r.rdma_error.empty()) rdma["error"] = r.rdma_error;
  json ifs = json::array();
  for (const NetInterface& i : r.interfaces)
    ifs.push_back({{"name", i.name}, {"up", i.up}, {"running", i.running}, {"mtu", i.mtu},
                   {"addresses", i.addresses}});
  json datapaths = json::object();
  for (const DatapathResources& d : r.datapaths) {
    json j = {{"resources", d.resources}, {"auto_considers", d.auto_note.empty()}};
    if (!d.error.empty()) j["error"] = d.error;
    if (!d.auto_note.empty()) j["auto_note"] = d.auto_note;
    datapaths[d.name] = j;
  }
  json out = {{"rdma", rdma},
              {"datapaths", datapaths},
              {"interfaces", ifs},
              {"kernel_limits",
               {{"rmem_max", r.limits.rmem_max},
                {"wmem_max", r.limits.wmem_max},
                {"tcp_rmem_max", r.limits.tcp_rmem_max},
                {"tcp_wmem_max", r.limits.tcp_wmem_max}}}};
  if (!r.host.empty()) {
    json path = {{"host", r.host}, {"port", r.port}};
    if (r.choice) {
      path["transport"] = {{"choice", r.choice->transport}, {"reason", r.choice->reason}};
      if (!r.choice->rdma_device.empty()) {
        path["transport"]["rdma_device"] = r.choice->rdma_device;
        path["transport"]["rdma_port"] = r.choice->rdma_port;
      }
    }
    if (r.rtt)
      path["rtt"] = {{"method", r.rtt->method}, {"samples", r.rtt->samples},
                     {"min_ms", r.rtt->min_ms}, {"median_ms", r.rtt->median_ms},
                     {"p99_ms", r.rtt->p99_ms}};
    if (!r.rtt_error.empty()) path["rtt_note"] = r.rtt_error;
    out["path"] = path;
  }
  if (r.recommendation) {
    const Recommendation& m = *r.recommendation;
    out["recommendation"] = {{"rate_bps", m.rate_bps},         {"rtt_ms", m.rtt_ms},
                             {"bdp_bytes", m.bdp_bytes},       {"lanes", m.lanes},
                             {"window_bytes", m.window_bytes}, {"socket_buffer", m.socket_buffer},
                             {"achievable_bps", m.achievable_bps}, {"limit", m.limit},
                             {"sysctls", m.sysctls}, {"verbs_ack_timeout", m.verbs_ack_timeout}};
  }
  return out.dump();
}

}  // namespace farlink::probe
