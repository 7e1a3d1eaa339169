// tools/common/plot: the size-sweep chart farlink perf --plot writes. Checks
// what a reader of the SVG relies on (one polyline per series with a point
// per size, points inside the plot area, larger values drawn higher, the
// axes' labels) and that undrawable data is refused, not drawn wrong.
#include "common/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace farlink::tools {
namespace {

// The (x, y) points of each <polyline>, in document order.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg) {
  std::vector<std::vector<std::pair<double, double>>> out;
  std::regex line("<polyline[^>]* points=\"([^\"]*)\"");
  std::regex point("(-?[0-9.]+),(-?[0-9.]+)");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator();
       ++it) {
    std::string pts = (*it)[1];
    out.emplace_back();
    for (auto p = std::sregex_iterator(pts.begin(), pts.end(), point); p != std::sregex_iterator();
         ++p)
      out.back().push_back({std::stod((*p)[1]), std::stod((*p)[2])});
  }
  return out;
}

PlotData sweep(bool log_y) {
  PlotData d;
  d.title = "farlink perf: tcp, 4 lanes, a & <b>";
  d.y_label = "Gb/s";
  d.log_y = log_y;
  for (int e = 1; e <= 26; ++e) d.sizes.push_back(uint64_t{1} << e);
  PlotSeries avg{"BW average", false, {}}, peak{"BW peak", true, {}};
  for (size_t i = 0; i < d.sizes.size(); ++i) {
    avg.values.push_back(0.01 * static_cast<double>(i * i));
    peak.values.push_back(0.012 * static_cast<double>(i * i) + 0.001);
  }
  d.series = {avg, peak};
  return d;
}

TEST(SweepPlot, OnePointPerSizeForEverySeriesInsideThePlot) {
  for (bool log_y : {false, true}) {
    Result<std::string> svg = renderSweepSvg(sweep(log_y));
    ASSERT_TRUE(svg.isOk()) << svg.status().toString();
    EXPECT_EQ(svg->rfind("<?xml", 0), 0u);
    EXPECT_NE(svg->find("</svg>"), std::string::npos);
    auto lines = polylines(*svg);
    ASSERT_EQ(lines.size(), 2u);
    for (const auto& pts : lines) {
      ASSERT_EQ(pts.size(), 26u);
      for (size_t i = 1; i < pts.size(); ++i) {
        EXPECT_GT(pts[i].first, pts[i - 1].first) << "sizes ascend left to right";
        EXPECT_LE(pts[i].second, pts[i - 1].second) << "larger values are drawn higher";
      }
      for (const auto& [x, y] : pts) {
        EXPECT_GE(x, 0);
        EXPECT_LE(x, 760);
        EXPECT_GE(y, 0);
        EXPECT_LE(y, 420);
      }
    }
    // The peak series is dashed and above the average at every size but the first.
    EXPECT_NE(svg->find("stroke-dasharray"), std::string::npos);
    EXPECT_LT(lines[1].back().second, lines[0].back().second);
    EXPECT_NE(svg->find(">2 B<"), std::string::npos);
    EXPECT_NE(svg->find(">1 MiB<"), std::string::npos);
    EXPECT_NE(svg->find(">64 MiB<"), std::string::npos);
    EXPECT_NE(svg->find("a &amp; &lt;b&gt;"), std::string::npos) << "title escaped";
  }
  Result<std::string> log_svg = renderSweepSvg(sweep(true));
  ASSERT_TRUE(log_svg.isOk());
  EXPECT_NE(log_svg->find(">0.001<"), std::string::npos) << "decade ticks from the smallest value";
  EXPECT_NE(log_svg->find(">10<"), std::string::npos);
}

TEST(SweepPlot, ASingleSizeStillDraws) {
  PlotData d = sweep(false);
  d.sizes = {4096};
  for (auto& s : d.series) s.values = {3.5};
  Result<std::string> svg = renderSweepSvg(d);
  ASSERT_TRUE(svg.isOk()) << svg.status().toString();
  auto lines = polylines(*svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 1u);
  EXPECT_GT(lines[0][0].first, 70) << "the one size sits inside the axis, not on its edge";
}

TEST(SweepPlot, UndrawableDataIsRefused) {
  PlotData d = sweep(false);
  d.series[1].values.pop_back();
  EXPECT_EQ(renderSweepSvg(d).status().code(), StatusCode::kInvalidArgument);
  d = sweep(false);
  d.series[0].values[3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(renderSweepSvg(d).status().code(), StatusCode::kInvalidArgument);
  d = sweep(false);
  std::swap(d.sizes[0], d.sizes[1]);
  EXPECT_EQ(renderSweepSvg(d).status().code(), StatusCode::kInvalidArgument);
  d = sweep(false);
  d.sizes.clear();
  for (auto& s : d.series) s.values.clear();
  EXPECT_EQ(renderSweepSvg(d).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(writeSweepSvg("/nonexistent-dir/x.svg", sweep(false)).code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace farlink::tools
