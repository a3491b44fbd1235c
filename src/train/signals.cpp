#include "train/signals.h"

#include <unistd.h>

#include <csignal>

namespace fusebox::train {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

struct sigaction g_previous_int;
struct sigaction g_previous_term;
bool g_int_installed = false;
bool g_term_installed = false;

// Async-signal-safe only: write(2) and _exit(2).
extern "C" void on_stop_signal(int signo) {
  if (g_stop_signal != 0) {
    static const char kMessage[] = "\nsecond interrupt: exiting now, without saving\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
    ::_exit(128 + signo);
  }
  g_stop_signal = signo;
}

bool install(int signo, struct sigaction* previous, bool keep_if_ignored) {
  struct sigaction current {};
  if (::sigaction(signo, nullptr, &current) != 0) return false;
  if (keep_if_ignored && current.sa_handler == SIG_IGN) return false;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Restart interrupted system calls: a signal must not turn a checkpoint write into EINTR.
  action.sa_flags = SA_RESTART;
  return ::sigaction(signo, &action, previous) == 0;
}

}  // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  g_int_installed = install(SIGINT, &g_previous_int, /*keep_if_ignored=*/true);
  g_term_installed = install(SIGTERM, &g_previous_term, /*keep_if_ignored=*/false);
}

StopSignals::~StopSignals() {
  if (g_int_installed) ::sigaction(SIGINT, &g_previous_int, nullptr);
  if (g_term_installed) ::sigaction(SIGTERM, &g_previous_term, nullptr);
  g_int_installed = g_term_installed = false;
}

int StopSignals::requested() {
  return static_cast<int>(g_stop_signal);
}

void StopSignals::reset() {
  g_stop_signal = 0;
}

const char* stop_signal_name(int signo) {
  switch (signo) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

int exit_code_for_signal(int signo) {
  return 128 + signo;
}

}  // namespace fusebox::train
