#include "util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace fusebox::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};

// Guards the status line and orders it against log lines; spdlog's own mutex only covers
// the log line itself.
std::mutex g_status_mutex;
std::string g_status;  // "" = no status line shown

constexpr const char* kEraseLine = "\r\033[K";

spdlog::logger& logger() {
  // stderr keeps stdout free for machine-readable output (kernels list --json, score).
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_color_mt("fusebox");
    l->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::trace);  // filtering happens in enabled()
    return l;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

Level parse_level(const std::string& name) {
  if (name == "trace") return Level::kTrace;
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "off") return Level::kOff;
  throw std::invalid_argument("unknown log level '" + name +
                              "'; expected one of trace, debug, info, warn, error, off");
}

void set_level(Level level) {
  g_level.store(level);
}
Level level() {
  return g_level.load();
}
bool enabled(Level level) {
  return level != Level::kOff && level >= g_level.load();
}

void write(Level level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_status_mutex);
  if (g_status.empty()) {
    logger().log(to_spdlog(level), message);
    return;
  }
  std::fputs(kEraseLine, stderr);
  logger().log(to_spdlog(level), message);
  logger().flush();
  std::fputs(g_status.c_str(), stderr);
  std::fflush(stderr);
}

void set_status_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_status_mutex);
  g_status = line;
  std::fputs(kEraseLine, stderr);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void clear_status_line() {
  std::lock_guard<std::mutex> lock(g_status_mutex);
  if (g_status.empty()) return;
  g_status.clear();
  std::fputs(kEraseLine, stderr);
  std::fflush(stderr);
}

}  // namespace fusebox::log
