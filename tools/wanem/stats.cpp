#include "stats.h"

#include <fmt/format.h>

#include "units.h"

namespace farlink::wanem {

nlohmann::json toJson(const DirectionSnapshot& s) {
  const LinkCounters& c = s.counters;
  int64_t mean = c.forwarded_packets > 0
                     ? c.lateness_sum_ns / static_cast<int64_t>(c.forwarded_packets)
                     : 0;
  nlohmann::json j = {{"params", toJson(s.params)},
                      {"summary", describe(s.params)},
                      {"arrived_packets", c.arrived_packets},
                      {"arrived_bytes", c.arrived_bytes},
                      {"forwarded_packets", c.forwarded_packets},
                      {"forwarded_bytes", c.forwarded_bytes},
                      {"dropped_queue", c.dropped_queue},
                      {"dropped_loss", c.dropped_loss},
                      {"dropped_blackout", c.dropped_blackout},
                      {"dropped_buffer", c.dropped_buffer},
                      {"resets", c.resets},
                      {"reset_segments", c.reset_segments},
                      {"lateness_max_ns", c.lateness_max_ns},
                      {"lateness_mean_ns", mean},
                      {"backlog_bytes", s.backlog_bytes},
                      {"in_flight", s.in_flight},
                      {"blackout_left_ns", s.blackout_left_ns}};
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

std::string formatStats(const nlohmann::json& stats) {
  std::string out;
  if (stats.contains("name")) {
    out += fmt::format("link {}: {} {} <-> {} {}, mtu {}, up {:.1f} s\n",
                       stats.value("name", ""), stats.value("ns_a", ""), stats.value("addr_a", ""),
                       stats.value("ns_b", ""), stats.value("addr_b", ""), stats.value("mtu", 0),
                       stats.value("uptime_s", 0.0));
  }
  for (const char* dir : {"a2b", "b2a"}) {
    if (!stats.contains(dir)) continue;
    const auto& d = stats[dir];
    auto u = [&](const char* k) { return d.value(k, uint64_t{0}); };
    auto i = [&](const char* k) { return d.value(k, int64_t{0}); };
    out += fmt::format("{}  {}\n", dir[0] == 'a' ? "A->B" : "B->A", d.value("summary", ""));
    out += fmt::format("      forwarded {} packets ({}); dropped: queue {}, loss {}, blackout {}, "
                       "buffer {}\n",
                       u("forwarded_packets"), formatBytes(i("forwarded_bytes")), u("dropped_queue"),
                       u("dropped_loss"), u("dropped_blackout"), u("dropped_buffer"));
    out += fmt::format("      lateness max {}, mean {}; backlog {}, in flight {} packets{}\n",
                       formatDuration(i("lateness_max_ns")), formatDuration(i("lateness_mean_ns")),
                       formatBytes(i("backlog_bytes")), u("in_flight"),
                       i("blackout_left_ns") > 0
                           ? fmt::format("; blackout for {} more", formatDuration(i("blackout_left_ns")))
                           : std::string());
    if (u("reset_segments") > 0)
      out += fmt::format("      killed {} connection(s), replaced {} segment(s) by a RST (ctl reset)\n",
                         u("resets"), u("reset_segments"));
    if (d.contains("error")) out += fmt::format("      stopped: {}\n", d.value("error", ""));
  }
  return out;
}

}  // namespace farlink::wanem
