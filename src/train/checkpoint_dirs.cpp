#include "train/checkpoint_dirs.h"

#include <algorithm>
#include <filesystem>

#include "train/metrics_log.h"
#include "util/error.h"
#include "util/log.h"
#include "util/remove_tree.h"
#include "util/strings.h"

namespace fusebox::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "checkpoint-";

// "checkpoint-120" -> 120; -1 for any other name ("checkpoint-5.tmp-77", "checkpoint-x").
int64_t step_of(const std::string& name) {
  const std::string prefix = kPrefix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

std::string names_of(const std::vector<CheckpointDir>& dirs) {
  std::vector<std::string> names;
  for (const auto& d : dirs)
    names.push_back(fs::path(d.path).filename().string());
  return join(names, ", ");
}

bool same_path(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  auto ca = fs::weakly_canonical(a, ec1), cb = fs::weakly_canonical(b, ec2);
  return !ec1 && !ec2 && ca == cb;
}

void remove_or_throw(const fs::path& path) {
  std::error_code ec;
  ec = ::fusebox::remove_tree(path);
  if (ec) throw DataError(str("cannot remove '", path.string(), "': ", ec.message()));
}

}  // namespace

std::string checkpoint_path(const std::string& output_dir, int64_t step) {
  return (fs::path(output_dir) / str(kPrefix, step)).string();
}

std::vector<CheckpointDir> list_checkpoints(const std::string& output_dir) {
  std::vector<CheckpointDir> found;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return found;
  fs::directory_iterator it(output_dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    int64_t step = step_of(it->path().filename().string());
    std::error_code probe;  // a failed probe only means "not a checkpoint directory"
    if (step < 0 || !it->is_directory(probe)) continue;
    bool complete = fs::is_regular_file(it->path() / kTrainerStateName, probe);
    found.push_back({step, it->path().string(), complete});
  }
  if (ec) throw DataError(str("cannot list '", output_dir, "': ", ec.message()));
  std::sort(found.begin(), found.end(),
            [](const CheckpointDir& a, const CheckpointDir& b) { return a.step < b.step; });
  return found;
}

std::string resolve_resume_checkpoint(const std::string& spec, const std::string& output_dir) {
  std::error_code ec;
  if (spec == "latest") {
    auto dirs = list_checkpoints(output_dir);
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      if (it->complete) return it->path;
      log::warn("skipping ", it->path, ": it has no ", kTrainerStateName,
                " (not a checkpoint written by train, or one from an older fusebox)");
    }
    throw DataError(str("resume_from_checkpoint: latest: output_dir '", output_dir, "' ",
                        fs::is_directory(output_dir, ec) ? "holds no checkpoint" : "does not exist",
                        "; expected a directory checkpoint-<step> with ", kTrainerStateName,
                        " in it. Start without resume_from_checkpoint, or name a checkpoint"));
  }
  if (!fs::exists(spec, ec)) {
    throw DataError(str("resume_from_checkpoint: '", spec,
                        "' does not exist; expected a checkpoint directory such as '",
                        checkpoint_path(output_dir, 100), "', or 'latest'"));
  }
  if (!fs::is_directory(spec, ec)) {
    throw DataError(str("resume_from_checkpoint: '", spec,
                        "' is a file; expected a checkpoint directory (checkpoint-<step>)"));
  }
  if (!fs::is_regular_file(fs::path(spec) / kTrainerStateName, ec)) {
    std::string message = str("resume_from_checkpoint: '", spec, "' has no ", kTrainerStateName,
                              "; expected a checkpoint directory written by train");
    auto inside = list_checkpoints(spec);
    if (!inside.empty()) {
      message += str(". It is an output_dir with checkpoints (", names_of(inside),
                     "): name one of them, or set output_dir to it and use 'latest'");
    }
    throw DataError(message);
  }
  return spec;
}

std::vector<std::string> prune_checkpoints(const std::string& output_dir, int64_t limit,
                                           const std::vector<std::string>& keep) {
  std::vector<std::string> removed;
  if (limit <= 0) return removed;
  auto dirs = list_checkpoints(output_dir);
  // The newest `limit` stay; of the older ones, the protected stay too (beyond the limit).
  for (int64_t i = 0; i < static_cast<int64_t>(dirs.size()) - limit; ++i) {
    const std::string& path = dirs[static_cast<size_t>(i)].path;
    bool kept = std::any_of(keep.begin(), keep.end(),
                            [&](const std::string& k) { return same_path(k, path); });
    if (kept) continue;
    remove_or_throw(path);
    removed.push_back(path);
  }
  return removed;
}

void prepare_fresh_output_dir(const std::string& output_dir, bool overwrite) {
  auto dirs = list_checkpoints(output_dir);
  fs::path metrics = fs::path(output_dir) / kMetricsFileName;
  std::error_code ec;
  bool has_metrics = fs::exists(metrics, ec);
  if (dirs.empty() && !has_metrics) return;
  std::string what = dirs.empty() ? str(kMetricsFileName)
                                  : str("checkpoints (", names_of(dirs), ")",
                                        has_metrics ? str(" and ", kMetricsFileName) : "");
  if (!overwrite) {
    throw ConfigError(str("output_dir '", output_dir, "' already holds ", what,
                          " of an earlier run. Continue it with resume_from_checkpoint=latest, "
                          "choose another output_dir, or set overwrite_output_dir: true to delete "
                          "them and start over"));
  }
  log::info("overwrite_output_dir: removing ", what, " from ", output_dir);
  for (const auto& d : dirs)
    remove_or_throw(d.path);
  if (has_metrics) remove_or_throw(metrics);
}

}  // namespace fusebox::train
