#include "train/training_checkpoint.h"

#include <filesystem>

#include "io/checkpoint.h"
#include "io/checkpoint_fs.h"
#include "train/checkpoint_dirs.h"
#include "train/optimizer_state.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::train {
namespace fs = std::filesystem;

void save_training_checkpoint(const std::string& dir, const TrainingSnapshot& snap) {
  io::CheckpointSaveOptions options;
  options.write_extra_files = [&](const std::string& staging) {
    auto in = [&](const char* name) { return (fs::path(staging) / name).string(); };
    save_adamw_state(*snap.optimizer, snap.master->optimizer_parameters(), in(kOptimizerStateName));
    save_rng_state(snap.device, in(kRngStateName));
    if (!snap.tokenizer_json.empty()) {
      fs::path source(snap.tokenizer_json);
      for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
        fs::path file = source.parent_path() / name;
        if (name == std::string("tokenizer.json")) file = source;
        std::error_code ec;
        if (fs::exists(file, ec)) fs::copy_file(file, in(name), ec);
        if (ec)
          throw DataError(
              str("cannot copy ", file.string(), " into the checkpoint: ", ec.message()));
      }
    }
    io::write_file_durably(in(kTrainingConfigName), config::to_yaml(*snap.config));
    io::write_file_durably(in(kTrainerStateName), trainer_state_to_json(*snap.state));
  };
  snap.master->with_master_weights([&] { io::save_hf_checkpoint(*snap.model, dir, options); });
}

TrainerState load_training_checkpoint(const std::string& dir, model::Qwen3ForCausalLM& model,
                                      MasterWeights& master, torch::optim::AdamW& optimizer,
                                      const torch::Device& device) {
  auto in = [&](const char* name) { return (fs::path(dir) / name).string(); };
  TrainerState state = read_trainer_state(in(kTrainerStateName));
  if (!fs::exists(in(kOptimizerStateName))) {
    throw DataError(str("checkpoint '", dir, "' has no ", kOptimizerStateName,
                        " (AdamW moments and step counts), so training cannot continue exactly "
                        "from it. To start a new run from its weights, use model=",
                        dir));
  }
  // Into the fp32 masters under bf16, then rounded into the model.
  master.with_master_weights([&] { io::load_hf_weights(model, dir); });
  master.copy_masters_to_model();
  load_adamw_state(optimizer, master.optimizer_parameters(), in(kOptimizerStateName));
  load_rng_state(device, in(kRngStateName));
  return state;
}

}  // namespace fusebox::train
