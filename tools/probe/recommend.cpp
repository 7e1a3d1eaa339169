#include "probe/recommend.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "transport/verbs/verbs_ack_timeout.h"


namespace farlink::probe {
namespace {

Result<uint64_t> readField(const std::string& path, int field) {
  std::ifstream in(path);
  if (!in) return Status(StatusCode::kIoError, "cannot read " + path);
  uint64_t v = 0;
  for (int i = 0; i <= field; ++i) {
    if (!(in >> v)) return Status(StatusCode::kIoError, "cannot parse " + path);
  }
  return v;
}

uint64_t roundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

std::string mib(uint64_t bytes) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

std::optional<double> parseRate(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return std::nullopt;
  double value = 0;
  std::istringstream num{std::string(text.substr(0, i))};
  if (!(num >> value) || !num.eof()) return std::nullopt;
  std::string unit;
  for (char c : text.substr(i)) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() > 3 && unit.compare(unit.size() - 3, 3, "bit") == 0) unit.resize(unit.size() - 3);
  else if (unit == "bit") unit.clear();
  double mult = 1;
  if (unit == "k") mult = 1e3;
  else if (unit == "m") mult = 1e6;
  else if (unit == "g") mult = 1e9;
  else if (unit == "t") mult = 1e12;
  else if (!unit.empty()) return std::nullopt;
  const double bps = value * mult;
  if (!(bps >= 1) || !std::isfinite(bps) || bps > 1e15) return std::nullopt;
  return bps;
}

std::string formatRate(double bps) {
  static constexpr struct {
    double scale;
    const char* unit;
  } kUnits[] = {{1e12, "Tb/s"}, {1e9, "Gb/s"}, {1e6, "Mb/s"}, {1e3, "kb/s"}};
  char buf[48];
  for (const auto& u : kUnits) {
    if (bps >= u.scale) {
      std::snprintf(buf, sizeof buf, "%.3g %s", bps / u.scale, u.unit);
      return buf;
    }
  }
  std::snprintf(buf, sizeof buf, "%.0f b/s", bps);
  return buf;
}

Result<KernelLimits> readKernelLimits(const std::string& proc) {
  KernelLimits k;
  struct Source {
    uint64_t* into;
    const char* file;
    int field;
  } sources[] = {{&k.rmem_max, "/core/rmem_max", 0},
                 {&k.wmem_max, "/core/wmem_max", 0},
                 {&k.tcp_rmem_max, "/ipv4/tcp_rmem", 2},
                 {&k.tcp_wmem_max, "/ipv4/tcp_wmem", 2}};
  for (const Source& s : sources) {
    Result<uint64_t> v = readField(proc + s.file, s.field);
    if (!v) return v.status();
    *s.into = *v;
  }
  return k;
}

Recommendation recommend(double rate_bps, double rtt_ms, const KernelLimits& k, uint64_t chunk) {
  Recommendation r;
  r.rate_bps = rate_bps;
  r.rtt_ms = rtt_ms;
  r.verbs_ack_timeout = verbs::ackTimeoutForRtt(rtt_ms * 1e3);
  const double rtt_s = rtt_ms / 1000.0;
  r.bdp_bytes = static_cast<uint64_t>(std::ceil(rate_bps / 8.0 * rtt_s));
  r.window_bytes = std::max(chunk, roundUp(r.bdp_bytes, chunk));

  // Bytes in flight one lane can carry under each way of sizing its buffers.
  const uint64_t auto_cap = std::min(k.tcp_rmem_max, k.tcp_wmem_max) / 2;
  const uint64_t explicit_cap = std::min(k.rmem_max, k.wmem_max);
  const auto lanesFor = [&](uint64_t c) { return (r.window_bytes + c - 1) / std::max<uint64_t>(1, c); };
  // Autotuning adapts to the path; pin buffers only when that saves lanes.
  const bool use_explicit = lanesFor(explicit_cap) < lanesFor(auto_cap);
  const uint64_t cap = std::max<uint64_t>(1, use_explicit ? explicit_cap : auto_cap);

  const uint64_t need_lanes = lanesFor(cap);
  r.lanes = static_cast<int>(std::clamp<uint64_t>(need_lanes, 1, kMaxRecommendedLanes));
  const uint64_t per_lane = (r.window_bytes + r.lanes - 1) / r.lanes;
  r.socket_buffer = use_explicit ? std::min(per_lane, explicit_cap) : 0;
  const uint64_t carried = static_cast<uint64_t>(r.lanes) * std::min(per_lane, cap);
  r.achievable_bps = rtt_s > 0 ? static_cast<double>(carried) * 8.0 / rtt_s : rate_bps;

  if (need_lanes <= static_cast<uint64_t>(kMaxRecommendedLanes)) return r;
  // The kernel's per-socket cap, not the lane count, is what falls short.
  // Sizing the limits for kMaxRecommendedLanes lanes at the full window.
  const uint64_t want = roundUp(per_lane, 4096);
  if (use_explicit) {
    r.limit = std::string(k.rmem_max <= k.wmem_max ? "net.core.rmem_max" : "net.core.wmem_max") +
              " (" + mib(explicit_cap) + " per lane)";
  } else {
    r.limit = std::string(k.tcp_rmem_max <= k.tcp_wmem_max ? "net.ipv4.tcp_rmem"
                                                          : "net.ipv4.tcp_wmem") +
              " max (" + mib(2 * auto_cap) + ", half of it usable per lane)";
  }
  // Either way works; an explicit buffer (FARLINK_SOCKET_BUFFER) needs the
  // core limits, autotuning needs the tcp_ ones. Suggest both.
  const std::string two = std::to_string(2 * want);
  r.sysctls = {"sysctl -w net.core.rmem_max=" + two,
               "sysctl -w net.core.wmem_max=" + two,
               "sysctl -w net.ipv4.tcp_rmem='4096 131072 " + two + "'",
               "sysctl -w net.ipv4.tcp_wmem='4096 16384 " + two + "'"};
  return r;
}

}  // namespace farlink::probe
