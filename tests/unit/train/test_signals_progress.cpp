// The stop-signal handler (a real signal, raised in-process) and the terminal progress bar.
#include <gtest/gtest.h>

#include <csignal>

#include "train/progress.h"
#include "train/signals.h"

namespace fusebox::train {
namespace {

TEST(StopSignals, FirstSignalOnlySetsTheFlagAndHandlersAreRestored) {
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  {
    StopSignals signals;
    EXPECT_EQ(StopSignals::requested(), 0);
    std::raise(SIGTERM);  // would kill the test process without the handler
    EXPECT_EQ(StopSignals::requested(), SIGTERM);
    StopSignals::reset();
    std::raise(SIGINT);
    EXPECT_EQ(StopSignals::requested(), SIGINT);
    StopSignals::reset();
  }
  struct sigaction after {};
  sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  EXPECT_EQ(exit_code_for_signal(SIGINT), 130);
  EXPECT_EQ(exit_code_for_signal(SIGTERM), 143);
  EXPECT_STREQ(stop_signal_name(SIGINT), "SIGINT");
}

TEST(StopSignals, AnIgnoredSigintStaysIgnored) {
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &previous);
  {
    StopSignals signals;
    std::raise(SIGINT);
    EXPECT_EQ(StopSignals::requested(), 0) << "a background job's SIGINT is not for it";
  }
  sigaction(SIGINT, &previous, nullptr);
}

TEST(ProgressBar, FitsTheWidthAndShowsTheValues) {
  std::string line = format_progress_bar(120, 2000, 1.23456, 2.9e-3, 25100, 62, 100);
  EXPECT_LT(line.size(), 100u);
  EXPECT_EQ(line.rfind("step 120/2000 [", 0), 0u) << line;
  EXPECT_NE(line.find("]   6% | loss 1.2346 | lr 2.90e-03 | 25.1k tok/s | eta 1m02s"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("[=>  "), std::string::npos) << line;

  std::string done = format_progress_bar(50, 50, 0.5, 0, 900, 0, 120);
  EXPECT_NE(done.find("[" + std::string(done.find(']') - done.find('[') - 1, '=') + "] 100%"),
            std::string::npos)
      << done;
  EXPECT_NE(format_progress_bar(0, 50, 0, 0, 0, -1, 120).find("eta ?"), std::string::npos);
  EXPECT_LT(format_progress_bar(7, 50, 0.5, 1e-4, 1e6, 3, 40).size(), 40u);  // narrow terminal
}

TEST(ProgressBar, SettingDecidesAndAutoFollowsTheTerminal) {
  EXPECT_TRUE(progress_bar_enabled("true"));
  EXPECT_FALSE(progress_bar_enabled("false"));
  // ctest captures stderr, so it is no terminal here.
  EXPECT_EQ(progress_bar_enabled("auto"), isatty(2) == 1);
}

}  // namespace
}  // namespace fusebox::train
