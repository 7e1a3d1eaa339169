#include "common/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <utility>
#include <vector>

#include "common/cli.h"

namespace farlink::tools {
namespace {

constexpr double kWidth = 760, kHeight = 420;
constexpr double kLeft = 70, kRight = 170, kTop = 40, kBottom = 50;  // margins
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// A round step (1, 2 or 5 times a power of ten) giving about five ticks.
double tickStep(double top) {
  double raw = top / 5;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string tickLabel(double v, double step) {
  char b[32];
  std::snprintf(b, sizeof b, step >= 1 ? "%.0f" : step >= 0.1 ? "%.1f" : "%.2f", v);
  return b;
}

}  // namespace

Result<std::string> renderSweepSvg(const PlotData& d) {
  auto bad = [](const std::string& m) { return Status(StatusCode::kInvalidArgument, "plot: " + m); };
  if (d.sizes.empty()) return bad("no message sizes to draw");
  if (d.series.empty()) return bad("no series to draw");
  double top = 0;
  for (const PlotSeries& s : d.series) {
    if (s.values.size() != d.sizes.size())
      return bad("series '" + s.name + "' has " + std::to_string(s.values.size()) +
                 " values for " + std::to_string(d.sizes.size()) + " sizes");
    for (double v : s.values) {
      if (!std::isfinite(v) || v < 0) return bad("series '" + s.name + "' has a value " + num(v));
      top = std::max(top, v);
    }
  }
  for (size_t i = 1; i < d.sizes.size(); ++i)
    if (d.sizes[i] <= d.sizes[i - 1] || d.sizes[i - 1] == 0) return bad("sizes must ascend from 1");
  double low = top;
  for (const PlotSeries& s : d.series)
    for (double v : s.values)
      if (v > 0) low = std::min(low, v);
  const double step = tickStep(top > 0 ? top * 1.05 : 1);
  // Linear: 0 to a round multiple of the step. Log: whole decades.
  const double ymin = d.log_y && low > 0 ? std::pow(10.0, std::floor(std::log10(low))) : 0;
  const double ymax = d.log_y && top > 0 ? std::pow(10.0, std::ceil(std::log10(top * 1.05)))
                                         : std::ceil((top > 0 ? top * 1.05 : 1) / step) * step;
  const bool log_y = d.log_y && top > 0;
  // One size still gets an axis: widen it by a factor of two each side.
  double x0 = std::log2(static_cast<double>(d.sizes.front()));
  double x1 = std::log2(static_cast<double>(d.sizes.back()));
  if (x1 - x0 < 1) x0 -= 1, x1 += 1;
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](uint64_t size) { return kLeft + (std::log2(double(size)) - x0) / (x1 - x0) * pw; };
  auto py = [&](double v) {
    if (!log_y) return kTop + ph - v / ymax * ph;
    const double f = (std::log10(std::max(v, ymin)) - std::log10(ymin)) /
                     (std::log10(ymax) - std::log10(ymin));
    return kTop + ph - f * ph;
  };

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
       num(kHeight) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(kWidth / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
       esc(d.title) + "</text>\n";
  std::vector<std::pair<double, std::string>> yticks;  // y grid and labels
  if (log_y) {
    for (double v = ymin; v <= ymax * 1.001; v *= 10) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", v);
      yticks.push_back({v, b});
    }
  } else {
    for (double v = 0; v <= ymax + step / 2; v += step) yticks.push_back({v, tickLabel(v, step)});
  }
  for (const auto& [v, text] : yticks) {
    o += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(v)) + "\" x2=\"" + num(kLeft + pw) +
         "\" y2=\"" + num(py(v)) + "\" stroke=\"#ddd\"/>\n";
    o += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(py(v) + 4) + "\" text-anchor=\"end\">" +
         text + "</text>\n";
  }
  // x ticks at every power of two the sweep covers, labelled every 10th
  // (1 KiB, 1 MiB, ...) and at the ends.
  for (int e = static_cast<int>(std::ceil(x0)); e <= static_cast<int>(std::floor(x1)); ++e) {
    const uint64_t size = uint64_t{1} << e;
    const double x = px(size);
    const bool label = e % 10 == 0 || size == d.sizes.front() || size == d.sizes.back();
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop + ph) + "\" x2=\"" + num(x) + "\" y2=\"" +
         num(kTop + ph + (label ? 6 : 3)) + "\" stroke=\"black\"/>\n";
    if (label)
      o += "<text x=\"" + num(x) + "\" y=\"" + num(kTop + ph + 20) + "\" text-anchor=\"middle\">" +
           esc(formatSize(size)) + "</text>\n";
  }
  o += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(pw) +
       "\" height=\"" + num(ph) + "\" fill=\"none\" stroke=\"black\"/>\n";
  o += "<text x=\"" + num(kLeft + pw / 2) + "\" y=\"" + num(kHeight - 10) +
       "\" text-anchor=\"middle\">message size</text>\n";
  o += "<text x=\"16\" y=\"" + num(kTop + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(kTop + ph / 2) + ")\">" + esc(d.y_label) + "</text>\n";
  for (size_t k = 0; k < d.series.size(); ++k) {
    const PlotSeries& s = d.series[k];
    const char* color = kColors[k % std::size(kColors)];
    std::string pts;
    for (size_t i = 0; i < d.sizes.size(); ++i)
      pts += (i ? " " : "") + num(px(d.sizes[i])) + "," + num(py(s.values[i]));
    o += "<polyline class=\"series\" fill=\"none\" stroke=\"" + std::string(color) +
         "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" +
         pts + "\"/>\n";
    for (size_t i = 0; i < d.sizes.size(); ++i)
      o += "<circle cx=\"" + num(px(d.sizes[i])) + "\" cy=\"" + num(py(s.values[i])) +
           "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
    const double ly = kTop + 10 + 20 * static_cast<double>(k);
    o += "<line x1=\"" + num(kLeft + pw + 12) + "\" y1=\"" + num(ly) + "\" x2=\"" +
         num(kLeft + pw + 40) + "\" y2=\"" + num(ly) + "\" stroke=\"" + color +
         "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
    o += "<text x=\"" + num(kLeft + pw + 46) + "\" y=\"" + num(ly + 4) + "\">" + esc(s.name) +
         "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

Status writeSweepSvg(const std::string& path, const PlotData& data) {
  Result<std::string> svg = renderSweepSvg(data);
  if (!svg) return svg.status();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status(StatusCode::kIoError, "cannot write the plot to " + path);
  f << *svg;
  f.close();
  if (!f) return Status(StatusCode::kIoError, "cannot write the plot to " + path);
  return Status();
}

}  // namespace farlink::tools
