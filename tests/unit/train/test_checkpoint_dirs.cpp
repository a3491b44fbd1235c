// checkpoint-<step> directories: which count, which "latest" picks, what pruning keeps, and
// that a fresh run does not mix its checkpoints with an earlier run's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "train/checkpoint_dirs.h"
#include "train/metrics_log.h"
#include "unit/io/io_test_util.h"
#include "util/error.h"

namespace fusebox::train {
namespace {

namespace fs = std::filesystem;
using io::testing::TempDir;

void make_checkpoint(const fs::path& dir, bool complete = true) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{}";
  if (complete) std::ofstream(dir / kTrainerStateName) << "{}";
}

std::vector<int64_t> steps_in(const std::string& output_dir) {
  std::vector<int64_t> steps;
  for (const auto& c : list_checkpoints(output_dir))
    steps.push_back(c.step);
  return steps;
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no fusebox::Error thrown>";
}

TEST(CheckpointDirs, ListsOnlyCheckpointDirectoriesByStep) {
  TempDir out;
  make_checkpoint(out.path() / "checkpoint-100");
  make_checkpoint(out.path() / "checkpoint-20");
  make_checkpoint(out.path() / "checkpoint-3", /*complete=*/false);
  make_checkpoint(out.path() / "checkpoint-40.tmp-123");  // a save in progress
  make_checkpoint(out.path() / "checkpoint-40.old-123");
  make_checkpoint(out.path() / "checkpoint-x");
  std::ofstream(out.path() / "checkpoint-7") << "a file, not a directory";
  auto dirs = list_checkpoints(out.path().string());
  ASSERT_EQ(steps_in(out.path().string()), (std::vector<int64_t>{3, 20, 100}));
  EXPECT_FALSE(dirs[0].complete);
  EXPECT_TRUE(dirs[2].complete);
  EXPECT_EQ(dirs[2].path, checkpoint_path(out.path().string(), 100));
  EXPECT_TRUE(list_checkpoints((out.path() / "missing").string()).empty());
}

TEST(CheckpointDirs, LatestIsTheNewestCompleteOne) {
  TempDir out;
  make_checkpoint(out.path() / "checkpoint-10");
  make_checkpoint(out.path() / "checkpoint-30");
  make_checkpoint(out.path() / "checkpoint-40", /*complete=*/false);
  EXPECT_EQ(resolve_resume_checkpoint("latest", out.path().string()),
            checkpoint_path(out.path().string(), 30));
}

TEST(CheckpointDirs, ResumeErrorsSayWhatWasExpected) {
  TempDir out;
  std::string dir = out.path().string();
  EXPECT_NE(error_of([&] {
              resolve_resume_checkpoint("latest", dir);
            }).find("output_dir '" + dir + "' holds no checkpoint"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { resolve_resume_checkpoint("latest", dir + "/nope"); }).find("does not exist"),
      std::string::npos);
  std::string missing = dir + "/checkpoint-99";
  EXPECT_NE(error_of([&] {
              resolve_resume_checkpoint(missing, dir);
            }).find("resume_from_checkpoint: '" + missing + "' does not exist"),
            std::string::npos);
  // An output_dir given where a checkpoint was meant: the message lists its checkpoints.
  make_checkpoint(out.path() / "checkpoint-5");
  std::string message = error_of([&] { resolve_resume_checkpoint(dir, dir); });
  EXPECT_NE(message.find("has no trainer_state.json"), std::string::npos) << message;
  EXPECT_NE(message.find("checkpoint-5"), std::string::npos) << message;
  EXPECT_EQ(resolve_resume_checkpoint(dir + "/checkpoint-5", dir), dir + "/checkpoint-5");
}

TEST(CheckpointDirs, PruneKeepsTheNewestAndTheProtectedOnes) {
  TempDir out;
  std::string dir = out.path().string();
  for (int step : {2, 4, 6, 8, 10})
    make_checkpoint(out.path() / ("checkpoint-" + std::to_string(step)));
  EXPECT_TRUE(prune_checkpoints(dir, 0, {}).empty());  // 0 keeps all
  auto removed = prune_checkpoints(dir, 2, {checkpoint_path(dir, 4)});
  EXPECT_EQ(removed, (std::vector<std::string>{checkpoint_path(dir, 2), checkpoint_path(dir, 6)}));
  // The protected checkpoint-4 stays beyond the limit; the newest is never removed.
  EXPECT_EQ(steps_in(dir), (std::vector<int64_t>{4, 8, 10}));
  prune_checkpoints(dir, 1, {checkpoint_path(dir, 4), checkpoint_path(dir, 8)});
  EXPECT_EQ(steps_in(dir), (std::vector<int64_t>{4, 8, 10}));
  prune_checkpoints(dir, 1, {});
  EXPECT_EQ(steps_in(dir), (std::vector<int64_t>{10}));
}

TEST(CheckpointDirs, FreshRunRefusesAnEarlierRunsOutputUnlessOverwriting) {
  TempDir out;
  std::string dir = out.path().string();
  EXPECT_NO_THROW(prepare_fresh_output_dir(dir + "/new", false));  // nothing there yet
  make_checkpoint(out.path() / "checkpoint-5");
  std::ofstream(out.path() / kMetricsFileName) << "{\"step\": 1}\n";
  std::ofstream(out.path() / "notes.txt") << "mine";
  std::string message = error_of([&] { prepare_fresh_output_dir(dir, false); });
  EXPECT_NE(message.find("already holds checkpoints (checkpoint-5) and metrics.jsonl"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("resume_from_checkpoint=latest"), std::string::npos) << message;
  EXPECT_NE(message.find("overwrite_output_dir: true"), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(out.path() / "checkpoint-5"));

  prepare_fresh_output_dir(dir, true);
  EXPECT_FALSE(fs::exists(out.path() / "checkpoint-5"));
  EXPECT_FALSE(fs::exists(out.path() / kMetricsFileName));
  EXPECT_TRUE(fs::exists(out.path() / "notes.txt"));  // not the run's: left alone
}

}  // namespace
}  // namespace fusebox::train
