#include "train/loss_curve_svg.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "io/checkpoint_fs.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

// Canvas and plot area, in SVG user units (pixels at 100% zoom).
constexpr double kWidth = 800, kHeight = 480;
constexpr double kLeft = 80, kRight = 30, kTop = 50, kBottom = 60;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
constexpr const char* kTrainColor = "#1f77b4";
constexpr const char* kEvalColor = "#ff7f0e";

// 1, 2 or 5 x 10^k: the tick spacing that gives about `target` intervals over `range`.
double nice_step(double range, int target) {
  double raw = range / std::max(target, 1);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double fraction = raw / magnitude;
  double nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return nice * magnitude;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Enough decimals to tell ticks `step` apart: 0.05 -> 2, 0.5 -> 1, 5 -> 0.
std::string tick_label(double v, double step) {
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<LossPoint> finite(const std::vector<LossPoint>& points) {
  std::vector<LossPoint> out;
  for (const auto& p : points)
    if (std::isfinite(p.loss)) out.push_back(p);
  return out;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  double step = nice_step(hi - lo, target);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return ticks;
}

std::string render_loss_curve_svg(const LossCurve& curve) {
  auto train = finite(curve.train), eval = finite(curve.eval);
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text class=\"title\" x=\"" << kWidth / 2 << "\" y=\"28\" text-anchor=\"middle\" "
      << "font-size=\"16\">" << xml_escape(curve.title.empty() ? "loss" : curve.title)
      << "</text>\n";
  if (train.empty() && eval.empty()) {
    svg << "<text x=\"" << kWidth / 2 << "\" y=\"" << kHeight / 2
        << "\" text-anchor=\"middle\">no loss logged yet</text>\n</svg>\n";
    return svg.str();
  }

  // Ranges: steps from 0; losses padded, then widened to whole tick steps.
  int64_t max_step = 1;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* points : {&train, &eval}) {
    for (const auto& p : *points) {
      max_step = std::max(max_step, p.step);
      lo = std::min(lo, p.loss);
      hi = std::max(hi, p.loss);
    }
  }
  double pad = hi > lo ? 0.05 * (hi - lo) : std::max(0.5, 0.1 * std::abs(hi));
  double y_step = nice_step(hi - lo + 2 * pad, 6);
  double y_lo = std::floor((lo - pad) / y_step) * y_step;
  double y_hi = std::ceil((hi + pad) / y_step) * y_step;
  if (lo >= 0 && y_lo < 0) y_lo = 0;  // a loss axis below zero only wastes room
  double x_hi = static_cast<double>(max_step);
  auto px = [&](double step) { return kLeft + step / x_hi * kPlotW; };
  auto py = [&](double loss) { return kTop + (y_hi - loss) / (y_hi - y_lo) * kPlotH; };

  svg << "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  auto y_ticks = nice_ticks(y_lo, y_hi, 6);
  auto x_ticks = nice_ticks(0, x_hi, 8);
  for (double v : y_ticks)
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + kPlotW << "\" y1=\""
        << fmt("%.1f", py(v)) << "\" y2=\"" << fmt("%.1f", py(v)) << "\"/>\n";
  for (double v : x_ticks)
    svg << "<line x1=\"" << fmt("%.1f", px(v)) << "\" x2=\"" << fmt("%.1f", px(v)) << "\" y1=\""
        << kTop << "\" y2=\"" << kTop + kPlotH << "\"/>\n";
  svg << "</g>\n<g class=\"axes\" stroke=\"black\" stroke-width=\"1\" fill=\"none\">\n"
      << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kPlotW << "\" height=\""
      << kPlotH << "\"/>\n</g>\n<g class=\"tick-labels\">\n";
  double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  for (double v : y_ticks)
    svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << fmt("%.1f", py(v) + 4)
        << "\" text-anchor=\"end\">" << tick_label(v, y_ticks.size() > 1 ? y_step : 1)
        << "</text>\n";
  for (double v : x_ticks)
    svg << "<text x=\"" << fmt("%.1f", px(v)) << "\" y=\"" << kTop + kPlotH + 18
        << "\" text-anchor=\"middle\">" << tick_label(v, std::max(1.0, x_step)) << "</text>\n";
  svg << "</g>\n<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << kHeight - 14
      << "\" text-anchor=\"middle\">step</text>\n<text transform=\"translate(22 "
      << kTop + kPlotH / 2 << ") rotate(-90)\" text-anchor=\"middle\">loss</text>\n";

  if (!train.empty()) {
    svg << "<polyline class=\"train\" fill=\"none\" stroke=\"" << kTrainColor
        << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < train.size(); ++i)
      svg << (i ? " " : "") << fmt("%.1f", px(static_cast<double>(train[i].step))) << ","
          << fmt("%.1f", py(train[i].loss));
    svg << "\"/>\n";
    if (train.size() == 1)  // a one-point polyline draws nothing
      svg << "<circle class=\"train\" cx=\"" << fmt("%.1f", px(static_cast<double>(train[0].step)))
          << "\" cy=\"" << fmt("%.1f", py(train[0].loss)) << "\" r=\"3\" fill=\"" << kTrainColor
          << "\"/>\n";
  }
  for (const auto& p : eval)
    svg << "<circle class=\"eval\" cx=\"" << fmt("%.1f", px(static_cast<double>(p.step)))
        << "\" cy=\"" << fmt("%.1f", py(p.loss)) << "\" r=\"4\" fill=\"" << kEvalColor
        << "\"><title>step " << p.step << ": eval loss " << fmt("%.4f", p.loss)
        << "</title></circle>\n";

  // Legend, top right inside the plot.
  double lx = kLeft + kPlotW - 120, ly = kTop + 16;
  svg << "<g class=\"legend\">\n";
  if (!train.empty())
    svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 24 << "\" y1=\"" << ly << "\" y2=\"" << ly
        << "\" stroke=\"" << kTrainColor << "\" stroke-width=\"2\"/>\n<text x=\"" << lx + 30
        << "\" y=\"" << ly + 4 << "\">train loss</text>\n";
  if (!eval.empty())
    svg << "<circle cx=\"" << lx + 12 << "\" cy=\"" << ly + 18 << "\" r=\"4\" fill=\"" << kEvalColor
        << "\"/>\n<text x=\"" << lx + 30 << "\" y=\"" << ly + 22 << "\">eval loss</text>\n";
  svg << "</g>\n</svg>\n";
  return svg.str();
}

void write_loss_curve_svg(const std::string& path, const LossCurve& curve) {
  std::string temporary = str(path, ".tmp-", ::getpid());
  io::write_file_durably(temporary, render_loss_curve_svg(curve));
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    throw DataError(str("cannot rename '", temporary, "' to '", path, "': ", std::strerror(errno)));
}

}  // namespace fusebox::train
