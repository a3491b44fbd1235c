#include "train/train_state.h"

#include <fstream>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

using json = nlohmann::ordered_json;

// trainer_state.json's layout version; a later layout bumps it and reads older ones.
constexpr int kFormatVersion = 1;

// Typed reads that name the file and the key path on any mismatch.
class Reader {
 public:
  Reader(const json& root, std::string path) : root_(root), path_(std::move(path)) {}

  const json& at(const json& object, const std::string& key, const std::string& where) const {
    auto it = object.find(key);
    if (it == object.end()) fail(where + key, "is missing");
    return *it;
  }
  int64_t integer(const json& object, const std::string& key, const std::string& where = "") const {
    const json& v = at(object, key, where);
    if (!v.is_number_integer()) fail(where + key, str("expected an integer, got ", v.dump()));
    return v.get<int64_t>();
  }
  double number(const json& object, const std::string& key, const std::string& where = "") const {
    const json& v = at(object, key, where);
    if (!v.is_number()) fail(where + key, str("expected a number, got ", v.dump()));
    return v.get<double>();
  }
  std::string text(const json& object, const std::string& key,
                   const std::string& where = "") const {
    const json& v = at(object, key, where);
    if (!v.is_string()) fail(where + key, str("expected a string, got ", v.dump()));
    return v.get<std::string>();
  }
  const json& object(const json& parent, const std::string& key) const {
    const json& v = at(parent, key, "");
    if (!v.is_object()) fail(key, str("expected an object, got ", v.type_name()));
    return v;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw DataError(str(path_, ": key '", key, "' ", problem,
                        " (is this a trainer_state.json written by fusebox's train?)"));
  }
  const json& root() const { return root_; }

 private:
  const json& root_;
  std::string path_;
};

}  // namespace

json resume_settings(const config::TrainConfig& cfg) {
  json s;
  s["train_dataset"] = cfg.train_dataset;
  s["synthetic.max_digits"] = cfg.synthetic.max_digits;
  s["synthetic.train_size"] = cfg.synthetic.train_size;
  s["micro_batch_size"] = cfg.micro_batch_size;
  s["gradient_accumulation_steps"] = cfg.gradient_accumulation_steps;
  s["cutoff_len"] = cfg.cutoff_len;
  s["seed"] = cfg.seed;
  s["learning_rate"] = cfg.learning_rate;
  s["lr_scheduler_type"] = cfg.lr_scheduler_type;
  s["warmup_steps"] = cfg.warmup_steps;
  s["max_steps"] = cfg.max_steps;
  s["num_train_epochs"] = cfg.num_train_epochs;
  s["weight_decay"] = cfg.weight_decay;
  s["adam_beta1"] = cfg.adam_beta1;
  s["adam_beta2"] = cfg.adam_beta2;
  s["adam_epsilon"] = cfg.adam_epsilon;
  s["max_grad_norm"] = cfg.max_grad_norm;
  s["kernel_config.include_kernels"] = cfg.kernel_config.include_kernels;
  return s;
}

std::vector<std::string> changed_settings(const json& saved, const json& now) {
  std::vector<std::string> changes;
  for (const auto& [key, value] : now.items()) {
    auto it = saved.find(key);
    if (it == saved.end()) {
      changes.push_back(str(key, ": not in the checkpoint, now ", value.dump()));
    } else if (*it != value) {
      changes.push_back(str(key, ": saved ", it->dump(), ", now ", value.dump()));
    }
  }
  return changes;
}

std::string trainer_state_to_json(const TrainerState& s) {
  json j;
  j["format_version"] = kFormatVersion;
  j["global_step"] = s.global_step;
  j["total_steps"] = s.total_steps;
  j["epoch"] = s.epoch;
  j["batcher"] = {{"epoch", s.batcher.epoch},
                  {"index", s.batcher.index},
                  {"batches_per_epoch", s.batches_per_epoch}};
  j["tokens_seen"] = s.tokens_seen;
  j["train_seconds"] = s.train_seconds;
  j["logging_window"] = {{"loss_sum", s.window_loss_sum}, {"steps", s.window_steps}};
  j["lr_scheduler"] = {{"type", s.lr_scheduler_type},
                       {"base_learning_rate", s.base_learning_rate},
                       {"warmup_steps", s.warmup_steps},
                       {"total_steps", s.total_steps},
                       {"last_learning_rate", s.last_learning_rate}};
  j["settings"] = s.settings;
  j["log_history"] = s.log_history;
  return j.dump(2) + "\n";
}

TrainerState read_trainer_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(str("cannot read '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw DataError(str(path, ": not valid JSON (", e.what(),
                        "); the checkpoint is damaged: resume from another checkpoint"));
  }
  Reader r(root, path);
  if (!root.is_object()) r.fail("", "expected the top level to be a JSON object");
  int64_t version = r.integer(root, "format_version");
  if (version != kFormatVersion)
    r.fail("format_version", str("is ", version, "; this fusebox reads ", kFormatVersion));
  TrainerState s;
  s.global_step = r.integer(root, "global_step");
  s.total_steps = r.integer(root, "total_steps");
  s.epoch = r.number(root, "epoch");
  const json& batcher = r.object(root, "batcher");
  s.batcher.epoch = r.integer(batcher, "epoch", "batcher.");
  s.batcher.index = r.integer(batcher, "index", "batcher.");
  s.batches_per_epoch = r.integer(batcher, "batches_per_epoch", "batcher.");
  s.tokens_seen = r.integer(root, "tokens_seen");
  s.train_seconds = r.number(root, "train_seconds");
  const json& window = r.object(root, "logging_window");
  s.window_loss_sum = r.number(window, "loss_sum", "logging_window.");
  s.window_steps = r.integer(window, "steps", "logging_window.");
  const json& scheduler = r.object(root, "lr_scheduler");
  s.lr_scheduler_type = r.text(scheduler, "type", "lr_scheduler.");
  s.base_learning_rate = r.number(scheduler, "base_learning_rate", "lr_scheduler.");
  s.warmup_steps = r.integer(scheduler, "warmup_steps", "lr_scheduler.");
  s.last_learning_rate = r.number(scheduler, "last_learning_rate", "lr_scheduler.");
  s.settings = r.object(root, "settings");
  const json& history = r.at(root, "log_history", "");
  if (!history.is_array())
    r.fail("log_history", str("expected an array, got ", history.type_name()));
  for (const auto& record : history) {
    if (!record.is_object() || !record.contains("step"))
      r.fail("log_history", str("expected objects with a step, got ", record.dump()));
    s.log_history.push_back(record);
  }
  if (s.global_step < 0 || s.global_step > s.total_steps)
    r.fail("global_step",
           str("is ", s.global_step, "; expected 0..total_steps (", s.total_steps, ")"));
  return s;
}

}  // namespace fusebox::train
