// Logging facade. spdlog (and its fmt) are hidden in log.cpp so that translation units that
// include torch never see them: torch 2.x ships its own fmt, which clashes with spdlog's.
// Messages are built with fusebox::str(...) (strings.h) or streams, not format strings.
#pragma once

#include <string>

#include "util/strings.h"

namespace fusebox::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Parses "trace|debug|info|warn|error|off"; throws std::invalid_argument
// naming the accepted values on anything else.
Level parse_level(const std::string& name);
void set_level(Level level);
Level level();
bool enabled(Level level);

void write(Level level, const std::string& message);

// A status line (the terminal progress bar) kept under the log on stderr: every log line
// first erases it and then draws it again below itself, so log lines and the bar never share
// a line. For terminals only: it is drawn with '\r' and an erase-line escape.
void set_status_line(const std::string& line);
// Erases the status line and stops redrawing it (call before the program's last words).
void clear_status_line();

template <typename... Args>
void trace(const Args&... args) {
  if (enabled(Level::kTrace)) write(Level::kTrace, fusebox::str(args...));
}
template <typename... Args>
void debug(const Args&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fusebox::str(args...));
}
template <typename... Args>
void info(const Args&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fusebox::str(args...));
}
template <typename... Args>
void warn(const Args&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fusebox::str(args...));
}
template <typename... Args>
void error(const Args&... args) {
  if (enabled(Level::kError)) write(Level::kError, fusebox::str(args...));
}

}  // namespace fusebox::log
