// loss_curve.svg: the run's train loss as a line and its eval losses as points, drawn by
// hand as SVG (any browser or image viewer shows it; no plotting dependency). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fusebox::train {

struct LossPoint {
  int64_t step = 0;
  double loss = 0;
};

struct LossCurve {
  std::string title;             // the run name
  std::vector<LossPoint> train;  // by step
  std::vector<LossPoint> eval;   // by step
};

// Axis ticks at 1, 2 or 5 x 10^k covering [lo, hi]: about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target);

// A complete SVG document: title, axes with tick labels and grid, the train line
// (<polyline class="train">), eval points (<circle class="eval">, each with a <title>
// tooltip) and a legend. Non-finite losses are left out; with no points the plot says so.
std::string render_loss_curve_svg(const LossCurve& curve);

// Writes the SVG to `path` through a temporary file and a rename, so a viewer never reads a
// half-written image.
void write_loss_curve_svg(const std::string& path, const LossCurve& curve);

}  // namespace fusebox::train
