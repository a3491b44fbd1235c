#include "train/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "util/log.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

std::string human_rate(double per_second) {
  char buf[32];
  if (per_second >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", per_second / 1e6);
  } else if (per_second >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", per_second / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", per_second);
  }
  return buf;
}

}  // namespace

bool progress_bar_enabled(const std::string& setting) {
  if (setting == "true") return true;
  if (setting == "false") return false;
  return ::isatty(STDERR_FILENO) == 1;
}

std::string format_progress_bar(int64_t step, int64_t total, double loss, double lr,
                                double tokens_per_second, double eta_seconds, int width) {
  double fraction = total > 0 ? std::clamp(static_cast<double>(step) / total, 0.0, 1.0) : 0;
  char head[64], tail[160];
  std::snprintf(head, sizeof head, "step %lld/%lld ", static_cast<long long>(step),
                static_cast<long long>(total));
  std::snprintf(tail, sizeof tail, " %3.0f%% | loss %.4f | lr %.2e | %s tok/s | eta %s",
                100.0 * fraction, loss, lr, human_rate(tokens_per_second).c_str(),
                eta_seconds < 0 ? "?" : format_duration(eta_seconds).c_str());
  // The bar takes what the text leaves, between 10 and 40 columns. The last column stays
  // empty: writing it makes some terminals wrap.
  int room = width - 1 - static_cast<int>(std::string(head).size() + std::string(tail).size()) - 2;
  int cells = std::clamp(room, 10, 40);
  int filled = static_cast<int>(fraction * cells);
  std::string bar(static_cast<size_t>(cells), ' ');
  std::fill(bar.begin(), bar.begin() + filled, '=');
  if (filled < cells && step > 0) bar[static_cast<size_t>(filled)] = '>';
  std::string line = std::string(head) + "[" + bar + "]" + tail;
  if (static_cast<int>(line.size()) >= width)
    line.resize(static_cast<size_t>(std::max(width - 1, 0)));
  return line;
}

Progress::Progress(int64_t total_steps, int64_t first_step, bool bar)
    : total_steps_(total_steps), first_step_(first_step), bar_(bar) {}

Progress::~Progress() {
  finish();
}

double Progress::eta_seconds(int64_t step) const {
  int64_t done = step - first_step_;
  if (done <= 0) return -1;
  return session_.seconds() / static_cast<double>(done) * static_cast<double>(total_steps_ - step);
}

void Progress::report(const ProgressValues& v) const {
  double eta = eta_seconds(v.step);
  char grad_norm[32] = "-";
  if (v.grad_norm >= 0) std::snprintf(grad_norm, sizeof grad_norm, "%.3f", v.grad_norm);
  char line[320];
  std::snprintf(line, sizeof line,
                "step %lld/%lld (%3.0f%%) | loss %.4f | lr %.3e | grad norm %s | %.0f tokens/s | "
                "elapsed %s | eta %s",
                static_cast<long long>(v.step), static_cast<long long>(total_steps_),
                100.0 * static_cast<double>(v.step) / static_cast<double>(total_steps_), v.loss,
                v.learning_rate, grad_norm, v.tokens_per_second,
                format_duration(v.elapsed_seconds).c_str(),
                eta < 0 ? "?" : format_duration(eta).c_str());
  log::info(line);
}

void Progress::update(const ProgressValues& v) {
  if (!bar_) return;
  double now = session_.seconds();
  if (last_draw_ >= 0 && now - last_draw_ < 0.1 && v.step != total_steps_) return;
  last_draw_ = now;
  log::set_status_line(format_progress_bar(v.step, total_steps_, v.loss, v.learning_rate,
                                           v.tokens_per_second, eta_seconds(v.step),
                                           terminal_columns()));
}

void Progress::finish() {
  if (bar_) log::clear_status_line();
}

}  // namespace fusebox::train
