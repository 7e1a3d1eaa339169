#include "common/report.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

namespace farlink::tools {
namespace {

// perftest's header lines, character for character (RESULT_FMT_G, RESULT_FMT_LAT).
constexpr std::string_view kBwHeader =
    " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]";
constexpr std::string_view kLatHeader =
    " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    "
    "t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ";
constexpr std::string_view kBwLabels[] = {"#bytes", "#iterations", "BW peak", "BW average",
                                          "MsgRate"};
constexpr std::string_view kLatLabels[] = {"#bytes", "#iterations", "t_min", "t_max", "t_typical",
                                           "t_avg",  "t_stdev",     "99%",   "99.9%"};

// Places each value under the first character of its column's label.
template <size_t N>
void printAligned(FILE* out, std::string_view header, const std::string_view (&labels)[N],
                  const std::string (&values)[N]) {
  std::string line;
  for (size_t i = 0; i < N; ++i) {
    const size_t column = header.find(labels[i]);
    if (line.size() < column)
      line.append(column - line.size(), ' ');
    else if (i > 0)
      line += ' ';
    line += values[i];
  }
  std::fprintf(out, "%s\n", line.c_str());
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Rounds for JSON so consumers see what the table shows, not float noise.
double round(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

}  // namespace

LatencyStats summarizeLatency(std::vector<double>& samples) {
  LatencyStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  double sum = 0;
  for (double v : samples) sum += v;
  s.avg_us = sum / static_cast<double>(n);
  double sq = 0;
  for (double v : samples) sq += (v - s.avg_us) * (v - s.avg_us);
  s.stdev_us = std::sqrt(sq / static_cast<double>(n));
  s.min_us = samples.front();
  s.max_us = samples.back();
  s.typical_us = samples[n / 2];
  auto rank = [&](double p) {
    const auto k = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
    return samples[std::clamp<size_t>(k, 1, n) - 1];
  };
  s.p99_us = rank(0.99);
  s.p999_us = rank(0.999);
  return s;
}

void printRule(FILE* out) { std::fprintf(out, "%s\n", std::string(87, '-').c_str()); }

void printBwHeader(FILE* out) { std::fprintf(out, "%s\n", std::string(kBwHeader).c_str()); }

void printBwRow(FILE* out, const BwRow& r) {
  const std::string values[] = {std::to_string(r.bytes), std::to_string(r.iterations),
                                fixed(r.peak_gbps, 2), fixed(r.avg_gbps, 2),
                                fixed(r.msg_rate_mpps, 6)};
  printAligned(out, kBwHeader, kBwLabels, values);
}

void printLatHeader(FILE* out) { std::fprintf(out, "%s\n", std::string(kLatHeader).c_str()); }

void printLatRow(FILE* out, const LatRow& r) {
  const LatencyStats& s = r.stats;
  const std::string values[] = {
      std::to_string(r.bytes), std::to_string(r.iterations), fixed(s.min_us, 2),
      fixed(s.max_us, 2),      fixed(s.typical_us, 2),       fixed(s.avg_us, 2),
      fixed(s.stdev_us, 2),    fixed(s.p99_us, 2),           fixed(s.p999_us, 2)};
  printAligned(out, kLatHeader, kLatLabels, values);
}

PathSummary summarizePath(const std::vector<LaneStats>& lanes) {
  PathSummary p;
  int with_rtt = 0;
  for (const LaneStats& l : lanes) {
    if (l.rtt_us > 0) {
      p.rtt_ms += l.rtt_us / 1e3;
      ++with_rtt;
    }
    if (l.min_rtt_us > 0 && (p.min_rtt_ms == 0 || l.min_rtt_us / 1e3 < p.min_rtt_ms))
      p.min_rtt_ms = l.min_rtt_us / 1e3;
    p.delivery_gbps += static_cast<double>(l.delivery_rate_bps) / 1e9;
    p.retransmits += l.retransmits;
  }
  if (with_rtt) p.rtt_ms /= with_rtt;
  if (!lanes.empty()) p.congestion = lanes.front().congestion;
  return p;
}

namespace {

void addPath(nlohmann::ordered_json& j, const PathSummary& p) {
  if (p.rtt_ms == 0 && p.congestion.empty()) return;
  nlohmann::ordered_json q;
  q["rtt_ms"] = round(p.rtt_ms, 3);
  q["min_rtt_ms"] = round(p.min_rtt_ms, 3);
  q["delivery_gbps"] = round(p.delivery_gbps, 3);
  q["retransmits"] = p.retransmits;
  q["resumes"] = p.resumes;
  q["congestion"] = p.congestion;
  if (!p.flow.controller.empty()) {
    const FlowSummary& f = p.flow;
    nlohmann::ordered_json fl;
    fl["controller"] = f.controller;
    fl["state"] = f.state;
    fl["limiting"] = f.limiting_factor;
    fl["min_rtt_ms"] = round(f.min_rtt_us / 1e3, 3);
    fl["srtt_ms"] = round(f.srtt_us / 1e3, 3);
    fl["queueing_ms"] = round(f.queueing_delay_us / 1e3, 3);
    fl["bottleneck_gbps"] = round(f.delivery_rate_bps / 1e9, 3);
    fl["pacing_gbps"] = round(f.pacing_rate_bps / 1e9, 3);
    fl["inflight_bytes"] = f.inflight_bytes;
    fl["inflight_cap"] = f.inflight_cap;
    q["flow"] = fl;
  }
  j["path"] = q;
}

}  // namespace

std::string toJson(const BwRow& r) {
  nlohmann::ordered_json j;
  j["mode"] = "bw";
  j["transport"] = r.transport;
  j["lanes"] = r.lanes;
  j["bidir"] = r.bidir;
  j["bytes"] = r.bytes;
  j["iterations"] = r.iterations;
  j["bw_peak_gbps"] = round(r.peak_gbps, 3);
  j["bw_avg_gbps"] = round(r.avg_gbps, 3);
  j["msg_rate_mpps"] = round(r.msg_rate_mpps, 6);
  addPath(j, r.path);
  return j.dump();
}

std::string toJson(const LatRow& r) {
  const LatencyStats& s = r.stats;
  nlohmann::ordered_json j;
  j["mode"] = "lat";
  j["transport"] = r.transport;
  j["lanes"] = r.lanes;
  j["bytes"] = r.bytes;
  j["iterations"] = r.iterations;
  j["t_min_us"] = round(s.min_us, 3);
  j["t_max_us"] = round(s.max_us, 3);
  j["t_typical_us"] = round(s.typical_us, 3);
  j["t_avg_us"] = round(s.avg_us, 3);
  j["t_stdev_us"] = round(s.stdev_us, 3);
  j["t_p99_us"] = round(s.p99_us, 3);
  j["t_p999_us"] = round(s.p999_us, 3);
  addPath(j, r.path);
  return j.dump();
}

}  // namespace farlink::tools
