#include "units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace farlink::wanem {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "1.5ms" into 1.5 and "ms". The number must be finite and >= 0.
struct NumberUnit {
  double number = 0;
  std::string unit;  // lower-case, spaces trimmed
};
Result<NumberUnit> split(std::string_view text, std::string_view what, std::string_view example) {
  std::string_view s = trim(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  NumberUnit nu;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, nu.number);
  if (i == 0 || ec != std::errc() || ptr != s.data() + i || !std::isfinite(nu.number)) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' is not a {}: expected a non-negative number and a unit, e.g. {}",
                              text, what, example));
  }
  nu.unit = lower(trim(s.substr(i)));
  return nu;
}

Status badUnit(std::string_view text, std::string_view what, std::string_view units) {
  return Status(StatusCode::kInvalidArgument,
                fmt::format("'{}': unknown {} unit; use one of {}", text, what, units));
}

}  // namespace

Result<int64_t> parseDuration(std::string_view text) {
  auto nu = split(text, "duration", "15ms");
  if (!nu) return nu.status();
  double scale = 0;
  if (nu->unit == "ns") scale = 1;
  else if (nu->unit == "us" || nu->unit == "µs") scale = 1e3;
  else if (nu->unit == "ms") scale = 1e6;
  else if (nu->unit == "s") scale = 1e9;
  else if (nu->unit.empty() && nu->number == 0) return int64_t{0};
  else if (nu->unit.empty())
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' has no unit: write e.g. {}ms or {}s", text, nu->number, nu->number));
  else return badUnit(text, "duration", "ns, us, ms, s");
  double ns = nu->number * scale;
  if (ns > 3600e9) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' is longer than the 1-hour limit for delays and blackouts", text));
  }
  return static_cast<int64_t>(std::llround(ns));
}

Result<double> parseRate(std::string_view text) {
  if (lower(trim(text)) == "unlimited") return 0.0;
  auto nu = split(text, "rate", "1gbit");
  if (!nu) return nu.status();
  double scale = 0;
  if (nu->unit == "bit") scale = 1;
  else if (nu->unit == "kbit") scale = 1e3;
  else if (nu->unit == "mbit") scale = 1e6;
  else if (nu->unit == "gbit") scale = 1e9;
  else if (nu->unit == "tbit") scale = 1e12;
  else if (nu->unit.empty() && nu->number == 0) return 0.0;
  else return badUnit(text, "rate", "bit, kbit, mbit, gbit, tbit (or 'unlimited')");
  double bps = nu->number * scale;
  if (bps != 0 && bps < 8000) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("rate '{}' is below the 8kbit minimum", text));
  }
  return bps;
}

Result<int64_t> parseBytes(std::string_view text) {
  auto nu = split(text, "size", "1MB");
  if (!nu) return nu.status();
  double scale = 0;
  if (nu->unit.empty() || nu->unit == "b") scale = 1;
  else if (nu->unit == "kb") scale = 1e3;
  else if (nu->unit == "mb") scale = 1e6;
  else if (nu->unit == "gb") scale = 1e9;
  else if (nu->unit == "kib") scale = 1024.0;
  else if (nu->unit == "mib") scale = 1024.0 * 1024;
  else if (nu->unit == "gib") scale = 1024.0 * 1024 * 1024;
  else return badUnit(text, "size", "B, KB, MB, GB, KiB, MiB, GiB");
  double bytes = nu->number * scale;
  if (bytes > 1e15) {
    return Status(StatusCode::kInvalidArgument, fmt::format("size '{}' is too large", text));
  }
  return static_cast<int64_t>(std::llround(bytes));
}

Result<double> parseProbability(std::string_view text) {
  auto nu = split(text, "probability", "1%");
  if (!nu) return nu.status();
  double p = 0;
  if (nu->unit == "%") p = nu->number / 100.0;
  else if (nu->unit.empty()) p = nu->number;
  else return badUnit(text, "probability", "'%' or none (a fraction such as 0.01)");
  if (p > 1.0) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("probability '{}' is above 100%", text));
  }
  return p;
}

std::string formatDuration(int64_t ns) {
  if (ns == 0) return "0";
  if (ns % 1000000000 == 0) return fmt::format("{} s", ns / 1000000000);
  if (ns >= 1000000) return fmt::format("{:g} ms", static_cast<double>(ns) / 1e6);
  if (ns >= 1000) return fmt::format("{:g} us", static_cast<double>(ns) / 1e3);
  return fmt::format("{} ns", ns);
}

std::string formatRate(double bps) {
  if (bps <= 0) return "unlimited";
  if (bps >= 1e9) return fmt::format("{:g} Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:g} Mbit/s", bps / 1e6);
  if (bps >= 1e3) return fmt::format("{:g} kbit/s", bps / 1e3);
  return fmt::format("{:g} bit/s", bps);
}

std::string formatBytes(int64_t bytes) {
  if (bytes >= 1000000000) return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9);
  if (bytes >= 1000000) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  if (bytes >= 10000) return fmt::format("{:.1f} KB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{} B", bytes);
}

}  // namespace farlink::wanem
