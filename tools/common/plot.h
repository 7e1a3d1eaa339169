// A size sweep as an SVG line chart: message size on a log2 axis, one or
// more measured series (bandwidth or latency) on a linear axis from 0.
// Self-contained SVG 1.1 that browsers and image viewers open as is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "farlink/status.h"

namespace farlink::tools {

struct PlotSeries {
  std::string name;            // legend text, e.g. "BW average"
  bool dashed = false;
  std::vector<double> values;  // one per size; must match PlotData::sizes
};

struct PlotData {
  std::string title;    // e.g. "farlink perf: tcp, 4 lanes, 127.0.0.1:18515"
  std::string y_label;  // e.g. "Gb/s"
  // Decades on the y axis (latency spans microseconds to seconds over a
  // sweep); values <= 0 sit on the axis's floor.
  bool log_y = false;
  std::vector<uint64_t> sizes;  // message sizes in bytes, ascending
  std::vector<PlotSeries> series;
};

// The chart as SVG text; kInvalidArgument when the data cannot be drawn
// (no sizes, a series of another length, a value that is not finite).
Result<std::string> renderSweepSvg(const PlotData& data);
// Renders and writes `path` (replaced); errors name the file.
Status writeSweepSvg(const std::string& path, const PlotData& data);

}  // namespace farlink::tools
