// A crashing test prints where it crashed: on SIGSEGV/SIGBUS/SIGFPE/SIGABRT the faulting
// instruction (library, symbol, offset) and the symbolised stack go to stderr before the
// default action runs. Machines without gdb (the GPU machine) otherwise report only
// "SegFault". Linked into fusebox_tests; installed by a static initialiser.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <initializer_list>

namespace {

void on_fatal_signal(int signo, siginfo_t* info, void* context) {
  void* pc = nullptr;
#if defined(__x86_64__)
  pc = reinterpret_cast<void*>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
#endif
  Dl_info where{};
  dladdr(pc, &where);
  // fprintf is not async-signal-safe; acceptable in a process that is about to die anyway.
  std::fprintf(
      stderr, "\n*** fusebox_tests: signal %d at address %p, pc %p in %s (%s+%#lx)\n", signo,
      info->si_addr, pc, where.dli_fname ? where.dli_fname : "?",
      where.dli_sname ? where.dli_sname : "?",
      static_cast<unsigned long>(static_cast<char*>(pc) - static_cast<char*>(where.dli_fbase)));
  std::fflush(stderr);
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
  signal(signo, SIG_DFL);  // re-raise with the default action: the exit status stays a crash
  raise(signo);
}

const bool installed = [] {
  struct sigaction action {};
  action.sa_sigaction = on_fatal_signal;
  action.sa_flags = SA_SIGINFO;
  for (int signo : {SIGSEGV, SIGBUS, SIGFPE, SIGABRT})
    sigaction(signo, &action, nullptr);
  return true;
}();

}  // namespace
