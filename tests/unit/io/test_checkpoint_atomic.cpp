// Saves are atomic: at every step of a save, and after a save that fails or a process that
// dies midway, the target directory is either absent or a complete checkpoint.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/checkpoint_fs.h"
#include "io_test_util.h"
#include "model/qwen3.h"

namespace fusebox::io::testing {
namespace {

model::Qwen3ForCausalLM make_model(uint64_t seed) {
  torch::manual_seed(seed);
  return model::Qwen3ForCausalLM(small_config(false));
}

// Whether `dir` loads and holds exactly `expected`'s weights.
::testing::AssertionResult holds(const std::string& dir, const model::Qwen3ForCausalLM& expected) {
  auto loaded = make_model(99);
  try {
    load_hf_weights(loaded, dir);
  } catch (const Error& e) {
    return ::testing::AssertionFailure() << dir << " does not load: " << e.what();
  }
  for (const auto& p : expected->named_parameters()) {
    if (!torch::equal(loaded->named_parameters()[p.key()], p.value()))
      return ::testing::AssertionFailure() << dir << ": " << p.key() << " differs";
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

CheckpointSaveOptions sharded() {
  CheckpointSaveOptions options;
  options.max_shard_bytes = 40'000;  // several files, so "midway" has meaning
  return options;
}

TEST(CheckpointAtomic, FailedSaveKeepsPreviousCheckpointAndLeavesNoTrace) {
  TempDir tmp;
  auto a = make_model(1), b = make_model(2);
  save_hf_checkpoint(a, tmp / "ckpt", sharded());
  auto before = entries(tmp / "ckpt");

  auto options = sharded();
  int files = 0;
  options.after_file_written = [&](const std::string&) {
    if (++files == 2) throw std::runtime_error("injected failure");
  };
  EXPECT_THROW(save_hf_checkpoint(b, tmp / "ckpt", options), std::runtime_error);
  EXPECT_TRUE(holds(tmp / "ckpt", a));
  EXPECT_EQ(entries(tmp / "ckpt"), before);
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"ckpt"});  // staging dir removed
}

TEST(CheckpointAtomic, TargetStaysCompleteAtEveryStepOfASave) {
  TempDir tmp;
  auto a = make_model(1), b = make_model(2);
  save_hf_checkpoint(a, tmp / "ckpt", sharded());
  auto options = sharded();
  int steps = 0;
  options.after_file_written = [&](const std::string& path) {
    ++steps;
    EXPECT_TRUE(Contains(path, tmp / ("ckpt.tmp-" + std::to_string(::getpid()))));
    EXPECT_TRUE(holds(tmp / "ckpt", a)) << "after writing " << path;
  };
  save_hf_checkpoint(b, tmp / "ckpt", options);
  EXPECT_GT(steps, 3);
  EXPECT_TRUE(holds(tmp / "ckpt", b));
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"ckpt"});  // old one removed
}

TEST(CheckpointAtomic, ReplacingShardedWithSingleFileDropsOldShards) {
  TempDir tmp;
  auto a = make_model(1), b = make_model(2);
  save_hf_checkpoint(a, tmp / "ckpt", sharded());
  save_hf_checkpoint(b, tmp / "ckpt/");  // trailing slash names the same directory
  EXPECT_EQ(entries(tmp / "ckpt"), (std::vector<std::string>{"config.json", "model.safetensors"}));
  EXPECT_TRUE(holds(tmp / "ckpt", b));
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"ckpt"});
}

TEST(CheckpointAtomic, CreatesMissingParents) {
  TempDir tmp;
  auto a = make_model(1);
  save_hf_checkpoint(a, tmp / "runs/x/checkpoint-10");
  EXPECT_TRUE(holds(tmp / "runs/x/checkpoint-10", a));
}

TEST(CheckpointAtomic, RefusesToReplaceSomethingThatIsNotACheckpoint) {
  TempDir tmp;
  fs::create_directories(tmp / "home");
  write_bytes(tmp / "home/notes.txt", "precious");
  auto a = make_model(1);
  EXPECT_TRUE(Contains(data_error_of([&] { save_hf_checkpoint(a, tmp / "home"); }),
                       "refusing to save a checkpoint over '" + (tmp / "home") + "'"));
  EXPECT_EQ(read_bytes(tmp / "home/notes.txt"), "precious");
  write_bytes(tmp / "file", "x");
  EXPECT_TRUE(Contains(data_error_of([&] { save_hf_checkpoint(a, tmp / "file"); }),
                       "it exists and is not a directory"));
  EXPECT_TRUE(
      Contains(data_error_of([&] { save_hf_checkpoint(a, "."); }), "expected a directory name"));
  fs::create_directories(tmp / "empty");
  save_hf_checkpoint(a, tmp / "empty");  // an empty directory is fine to replace
  EXPECT_TRUE(holds(tmp / "empty", a));
}

class StagedDirectoryCommit : public ::testing::TestWithParam<CommitMode> {};

TEST_P(StagedDirectoryCommit, ReplacesTargetAndRemovesTheOldOne) {
  TempDir tmp;
  fs::create_directories(tmp / "t");
  write_bytes(tmp / "t/old", "old");
  {
    StagedDirectory staged(tmp / "t");
    EXPECT_EQ(staged.path(), tmp / ("t.tmp-" + std::to_string(::getpid())));
    write_file_durably(staged.path() + "/new", "new");
    EXPECT_EQ(read_bytes(tmp / "t/old"), "old");  // untouched until commit
    staged.commit(GetParam());
  }
  EXPECT_EQ(entries(tmp / "t"), std::vector<std::string>{"new"});
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"t"});
}

INSTANTIATE_TEST_SUITE_P(Modes, StagedDirectoryCommit,
                         ::testing::Values(CommitMode::kExchange, CommitMode::kRenameAside),
                         [](const auto& info) {
                           return info.param == CommitMode::kExchange ? "exchange" : "rename_aside";
                         });

TEST(StagedDirectory, UncommittedIsRemoved) {
  TempDir tmp;
  {
    StagedDirectory staged(tmp / "t");
    write_file_durably(staged.path() + "/f", "x");
  }
  EXPECT_TRUE(entries(tmp.path()).empty());
}

// A process killed mid-save (simulated by _exit in a forked child, which runs no
// destructors) leaves the old checkpoint complete under its name and the partial one under
// the staging name.
TEST(StagedDirectory, ProcessDeathBeforeCommitLeavesTargetIntact) {
  TempDir tmp;
  fs::create_directories(tmp / "t");
  write_bytes(tmp / "t/old", "old");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only std::filesystem and POSIX calls here: no torch (and so no OpenMP) after fork.
    try {
      StagedDirectory staged(tmp / "t");
      write_file_durably(staged.path() + "/part1", "x");
      ::_exit(0);  // the "crash": before the second file and the commit, no destructors
    } catch (...) {
      ::_exit(2);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string leftover = "t.tmp-" + std::to_string(child);
  EXPECT_EQ(entries(tmp.path()), (std::vector<std::string>{"t", leftover}));
  EXPECT_EQ(entries(tmp / "t"), std::vector<std::string>{"old"});
  EXPECT_EQ(entries(tmp / leftover), std::vector<std::string>{"part1"});
}

}  // namespace
}  // namespace fusebox::io::testing
