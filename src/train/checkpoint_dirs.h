// The checkpoint-<step> directories of an output_dir: naming, listing, finding the one to
// resume from, pruning to save_total_limit, and the check that a fresh run does not mix its
// checkpoints with an earlier run's. Filesystem only (no torch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fusebox::train {

// Written last into every checkpoint, so its presence marks a checkpoint the trainer wrote.
inline constexpr const char* kTrainerStateName = "trainer_state.json";

struct CheckpointDir {
  int64_t step = 0;
  std::string path;       // output_dir/checkpoint-<step>
  bool complete = false;  // holds trainer_state.json
};

// output_dir/checkpoint-<step>.
std::string checkpoint_path(const std::string& output_dir, int64_t step);

// Directories named exactly checkpoint-<digits>, by step, oldest first. Staging leftovers of
// an interrupted save (checkpoint-5.tmp-<pid>, .old-<pid>) do not match. An output_dir
// that does not exist has none.
std::vector<CheckpointDir> list_checkpoints(const std::string& output_dir);

// resume_from_checkpoint -> the checkpoint directory to load. "latest" is the newest
// complete checkpoint in output_dir (incomplete ones are skipped with a warning); anything
// else is a path that must be a directory holding trainer_state.json. Throws DataError
// naming the path and what was expected (and the checkpoints there are, for an output_dir
// given where a checkpoint was meant).
std::string resolve_resume_checkpoint(const std::string& spec, const std::string& output_dir);

// Keeps the newest `limit` checkpoints of output_dir (limit <= 0 keeps all) and removes the
// older ones, except any path in `keep` (the checkpoint this run resumed from and the one it
// just saved, which is not the newest by step when an older checkpoint was resumed in the same
// output_dir). Call it only after the new checkpoint is complete. Returns the paths removed.
std::vector<std::string> prune_checkpoints(const std::string& output_dir, int64_t limit,
                                           const std::vector<std::string>& keep);

// For a run that does not resume: an output_dir holding checkpoint-* directories or a
// metrics.jsonl of an earlier run is an error (ConfigError) unless `overwrite`, in which case
// they are removed, so that "latest" and pruning never pick up another run's checkpoints.
void prepare_fresh_output_dir(const std::string& output_dir, bool overwrite);

}  // namespace fusebox::train
