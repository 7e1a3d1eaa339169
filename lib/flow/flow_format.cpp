#include "flow/flow_format.h"

#include <cmath>
#include <cstdio>

namespace farlink::flow {
namespace {

// Two significant digits below 10, integers above: "1.7", "30", "128".
std::string number(double v) {
  char buf[32];
  if (v < 10 && std::fabs(v - std::round(v)) > 0.05)
    std::snprintf(buf, sizeof buf, "%.1f", v);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace

std::string formatBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  return number(v) + " " + kUnits[u];
}

std::string formatRate(BytesPerSecond rate) {
  static const char* const kUnits[] = {"b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"};
  double v = rate * 8;
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    u++;
  }
  return number(v) + " " + kUnits[u];
}

std::string formatDuration(FlowDuration d) {
  double us = std::chrono::duration<double, std::micro>(d).count();
  if (us < 1000) return number(us) + " us";
  if (us < 1e6) return number(us / 1000) + " ms";
  return number(us / 1e6) + " s";
}

}  // namespace farlink::flow
