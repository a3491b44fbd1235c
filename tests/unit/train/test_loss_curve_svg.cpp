// loss_curve.svg: a well-formed document that holds every point where the axes put it.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "train/loss_curve_svg.h"

namespace fusebox::train {
namespace {

// A small well-formedness check: every tag is closed in order, attributes are quoted, and
// no '&' stands outside an entity. Enough to catch a broken writer without an XML library.
::testing::AssertionResult WellFormed(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = xml.find("<svg");
  if (i == std::string::npos) return ::testing::AssertionFailure() << "no <svg> element";
  while ((i = xml.find('<', i)) != std::string::npos) {
    size_t end = xml.find('>', i);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unclosed tag at " << i;
    std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.front() == '/') {
      std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return ::testing::AssertionFailure()
               << "</" << name << "> closes " << (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find(' ')));
    }
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0)
      return ::testing::AssertionFailure() << "unbalanced quotes in <" << tag << ">";
    i = end;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  static const std::regex bare_amp("&(?!(amp|lt|gt|quot|apos);)");
  if (std::regex_search(xml, bare_amp)) return ::testing::AssertionFailure() << "bare '&'";
  return ::testing::AssertionSuccess();
}

std::vector<std::pair<double, double>> polyline_points(const std::string& svg) {
  std::smatch m;
  std::regex re("<polyline class=\"train\"[^>]* points=\"([^\"]*)\"");
  std::vector<std::pair<double, double>> out;
  if (!std::regex_search(svg, m, re)) return out;
  std::string pts = m[1];
  std::regex pair_re("(-?[0-9.]+),(-?[0-9.]+)");
  for (auto it = std::sregex_iterator(pts.begin(), pts.end(), pair_re);
       it != std::sregex_iterator(); ++it)
    out.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1))
    ++n;
  return n;
}

TEST(LossCurveSvg, HoldsEveryPointInPlotOrder) {
  LossCurve curve{"tiny <run> & co", {}, {}};
  for (int step = 10; step <= 200; step += 10)
    curve.train.push_back({step, 5.0 * std::exp(-step / 60.0) + 0.3});
  curve.eval = {{0, 5.4}, {100, 1.1}, {200, 0.45}};
  std::string svg = render_loss_curve_svg(curve);
  EXPECT_TRUE(WellFormed(svg)) << svg;
  EXPECT_NE(svg.find("tiny &lt;run&gt; &amp; co"), std::string::npos);  // escaped title

  auto pts = polyline_points(svg);
  ASSERT_EQ(pts.size(), curve.train.size());
  for (size_t i = 1; i < pts.size(); ++i) {
    EXPECT_GT(pts[i].first, pts[i - 1].first) << "x follows the step";
    EXPECT_GT(pts[i].second, pts[i - 1].second) << "a falling loss is drawn lower (larger y)";
  }
  // Inside the plot area: x in [80, 770], y in [50, 420].
  for (auto [x, y] : pts) {
    EXPECT_GE(x, 80.0);
    EXPECT_LE(x, 770.0);
    EXPECT_GE(y, 50.0);
    EXPECT_LE(y, 420.0);
  }
  EXPECT_DOUBLE_EQ(pts.back().first, 770.0);  // the last step is the right edge
  EXPECT_EQ(count(svg, "<circle class=\"eval\""), 3u);
  EXPECT_NE(svg.find("<title>step 100: eval loss 1.1000</title>"), std::string::npos);
  EXPECT_NE(svg.find(">train loss</text>"), std::string::npos);
  EXPECT_NE(svg.find(">eval loss</text>"), std::string::npos);
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  // Tick labels: the x axis reaches 200, the y axis covers the losses.
  EXPECT_NE(svg.find(">200</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);
}

TEST(LossCurveSvg, EdgeCasesStayWellFormed) {
  std::string empty = render_loss_curve_svg({"empty", {}, {}});
  EXPECT_TRUE(WellFormed(empty));
  EXPECT_NE(empty.find("no loss logged yet"), std::string::npos);

  std::string one = render_loss_curve_svg({"one", {{1, 2.5}}, {}});
  EXPECT_TRUE(WellFormed(one));
  EXPECT_EQ(count(one, "<circle class=\"train\""), 1u);  // a one-point line is invisible

  std::string flat = render_loss_curve_svg({"flat", {{1, 2.0}, {2, 2.0}, {3, 2.0}}, {}});
  EXPECT_TRUE(WellFormed(flat));
  for (auto [x, y] : polyline_points(flat))
    EXPECT_TRUE(std::isfinite(x) && std::isfinite(y));

  std::string with_nan =
      render_loss_curve_svg({"nan", {{1, 2.0}, {2, std::nan("")}, {3, 1.0}}, {{2, INFINITY}}});
  EXPECT_TRUE(WellFormed(with_nan));
  EXPECT_EQ(polyline_points(with_nan).size(), 2u);
  EXPECT_EQ(count(with_nan, "<circle class=\"eval\""), 0u);
}

TEST(LossCurveSvg, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 200, 8),
            (std::vector<double>{0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200}));
  EXPECT_EQ(nice_ticks(0, 1000, 5), (std::vector<double>{0, 200, 400, 600, 800, 1000}));
  auto t = nice_ticks(0.3, 5.6, 6);
  ASSERT_FALSE(t.empty());
  EXPECT_DOUBLE_EQ(t.front(), 1.0);
  EXPECT_DOUBLE_EQ(t.back(), 5.0);
  EXPECT_EQ(nice_ticks(3, 3, 5), (std::vector<double>{3}));
}

}  // namespace
}  // namespace fusebox::train
