// SIGINT / SIGTERM during training. The first signal asks the loop to stop after the current
// step; the loop then saves a checkpoint, says how to resume and the program exits with
// 128 + the signal number (130 / 143, what a shell reports for a process the signal killed).
// A second signal exits at once, without saving: the user has decided not to wait.
#pragma once

namespace fusebox::train {

// Installs the handlers for its lifetime and restores the previous ones afterwards, so a
// library caller (or a test) gets its own handlers back. The handler only stores the signal
// number in a sig_atomic_t: nothing else is async-signal-safe enough to do there.
//
// A SIGINT that the process inherited as ignored stays ignored: that is how a shell tells a
// background job that Ctrl-C at the terminal is not meant for it. SIGTERM is always handled.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // 0 while no stop was asked for, else the first signal's number.
  static int requested();
  // Forgets a request (a new run starts clean; tests reuse the process).
  static void reset();
};

// "SIGINT", "SIGTERM", or "a signal".
const char* stop_signal_name(int signo);
// The exit status a shell gives a process killed by `signo`: 128 + signo.
int exit_code_for_signal(int signo);

}  // namespace fusebox::train
