// Result tables in perftest's columns, and the same rows as JSON lines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "farlink/channel.h"

namespace farlink::tools {

// How the path looked, over all lanes of a channel (zero: the transport
// cannot tell). JSON output only; the table keeps perftest's columns.
struct PathSummary {
  double rtt_ms = 0;          // mean of the lanes' smoothed RTTs
  double min_rtt_ms = 0;      // lowest over the lanes
  double delivery_gbps = 0;   // sum of the lanes' recent delivery rates
  uint64_t retransmits = 0;   // sum over the lanes, since the channel opened
  uint64_t resumes = 0;       // session resumes (all lanes reconnected), since opened
  std::string congestion;     // the first lane's congestion control
  FlowSummary flow;           // farlink's own flow control (controller "" = off)
};
PathSummary summarizePath(const std::vector<LaneStats>& lanes);

struct BwRow {
  std::string transport;
  int lanes = 0;
  uint64_t bytes = 0;       // message size
  uint64_t iterations = 0;  // messages received (sum of both directions with bidir)
  double peak_gbps = 0;
  double avg_gbps = 0;
  double msg_rate_mpps = 0;
  bool bidir = false;
  PathSummary path;
};

// One-way latency (RTT/2) statistics in microseconds.
struct LatencyStats {
  double min_us = 0, max_us = 0, typical_us = 0, avg_us = 0, stdev_us = 0;
  double p99_us = 0, p999_us = 0;
};
// Sorts `samples_us` in place; typical = median, percentiles by nearest rank.
LatencyStats summarizeLatency(std::vector<double>& samples_us);

struct LatRow {
  std::string transport;
  int lanes = 0;
  uint64_t bytes = 0;
  uint64_t iterations = 0;
  LatencyStats stats;
  PathSummary path;
};

// A line of dashes as wide as perftest's.
void printRule(FILE* out);
void printBwHeader(FILE* out);
void printBwRow(FILE* out, const BwRow& row);
void printLatHeader(FILE* out);
void printLatRow(FILE* out, const LatRow& row);
// One JSON object, no newline.
std::string toJson(const BwRow& row);
std::string toJson(const LatRow& row);

}  // namespace farlink::tools
