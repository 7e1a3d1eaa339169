// Parsing and printing of the units farlink-wanem's options take:
// durations ("15ms"), rates ("1gbit"), sizes ("1MB", "4MiB") and
// probabilities ("1%"). Pure functions; errors say what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "farlink/status.h"

namespace farlink::wanem {

// "15ms", "250us", "2s", "1.5s", "800ns", "0". A bare number other than 0 is
// rejected: a missing unit is the commonest typo and ms-vs-s is a 1000x error.
Result<int64_t> parseDuration(std::string_view text);

// Bits per second: "100kbit", "1mbit", "10gbit", "2.5gbit", "1tbit", "500bit"
// (decimal multiples, like tc). "0" and "unlimited" mean no rate limit (0).
Result<double> parseRate(std::string_view text);

// Bytes: "1500", "64KB", "1MB" (decimal), "64KiB", "4MiB", "1GiB" (binary),
// optional "B". Case-insensitive.
Result<int64_t> parseBytes(std::string_view text);

// A probability: "1%", "0.01%" (percent) or a bare fraction "0.01"; must lie in [0, 1].
Result<double> parseProbability(std::string_view text);

// "15 ms", "250 us", "0" — for reports.
std::string formatDuration(int64_t ns);
// "1 Gbit/s", "unlimited".
std::string formatRate(double bits_per_second);
// "1.0 MB", "1500 B".
std::string formatBytes(int64_t bytes);

}  // namespace farlink::wanem
