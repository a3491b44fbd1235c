#include "train/run_setup.h"

#include <cmath>
#include <filesystem>

#include "data/byte_tokenizer.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "train/checkpoint_dirs.h"
#include "train/data_setup.h"
#include "train/threads.h"
#include "train/training_checkpoint.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

namespace fs = std::filesystem;

model::Qwen3Config load_model_config(const config::TrainConfig& cfg) {
  std::string path = io::find_hf_config(config::resolve_path(cfg, cfg.model));
  model::Qwen3Config mc = io::read_hf_config(path);
  log::info("model: ", mc.describe(), " (", path, ")");
  return mc;
}

// transformers' Trainer: no weight decay on biases and norm weights (1-D parameters).
// The optimizer steps the tensors MasterWeights hands it (fp32 masters under bf16).
std::vector<torch::optim::OptimizerParamGroup> param_groups(const MasterWeights& master,
                                                            const config::TrainConfig& cfg) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : master.optimizer_parameters())
    (item.value().dim() >= 2 ? decay : no_decay).push_back(item.value());
  auto options = [&](double wd) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(cfg.learning_rate);
    o->betas({cfg.adam_beta1, cfg.adam_beta2}).eps(cfg.adam_epsilon).weight_decay(wd);
    return o;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(cfg.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  return groups;
}

std::string find_resume_dir(const config::TrainConfig& cfg) {
  const std::string& spec = cfg.resume_from_checkpoint;
  if (spec.empty()) return "";
  if (spec == "latest") {
    if (cfg.output_dir.empty())
      throw ConfigError("resume_from_checkpoint: latest needs an output_dir to look in");
    return resolve_resume_checkpoint(spec, cfg.output_dir);
  }
  return resolve_resume_checkpoint(config::resolve_path(cfg, spec), cfg.output_dir);
}

model::Qwen3ForCausalLM build_model(const config::TrainConfig& cfg, bool resuming) {
  model::Qwen3ForCausalLM model(load_model_config(cfg));
  // A model directory with weights starts from them; a bare config.json is random init. A
  // resumed run takes the checkpoint's weights instead (loaded later, over these).
  std::string model_path = config::resolve_path(cfg, cfg.model);
  if (resuming) {
    log::info("weights: from the checkpoint");
  } else if (fs::is_directory(model_path) && io::has_weights(model_path)) {
    io::load_hf_weights(model, model_path);
    log::info("weights: loaded from ", model_path);
  } else {
    log::info("weights: random init (seed ", cfg.seed, ")");
  }
  return model;
}

TrainerState fresh_state(const config::TrainConfig& cfg, const RunSetup& run) {
  TrainerState s;
  s.total_steps = run.total_steps;
  s.batches_per_epoch = run.batcher->batches_per_epoch();
  s.lr_scheduler_type = cfg.lr_scheduler_type;
  s.base_learning_rate = cfg.learning_rate;
  s.warmup_steps = cfg.warmup_steps;
  s.settings = resume_settings(cfg);
  return s;
}

// Loads the checkpoint and puts the data where the interrupted run was. Settings that
// change what the next steps compute are warned about, not refused: extending a run
// (max_steps) or changing the learning rate on resume is legitimate, but it is no longer
// the run the checkpoint came from.
void resume(const config::TrainConfig& cfg, RunSetup& run) {
  TrainerState saved =
      load_training_checkpoint(run.resume_dir, run.model, *run.master, *run.optimizer, run.device);
  for (const auto& change : changed_settings(saved.settings, resume_settings(cfg)))
    log::warn("resume: ", change, "; the run will not continue exactly as the saved one would");
  if (saved.global_step > run.total_steps) {
    throw ConfigError(str("resume_from_checkpoint: ", run.resume_dir, " is at step ",
                          saved.global_step, ", but this run has only ", run.total_steps,
                          " steps; raise max_steps (or num_train_epochs) to continue it"));
  }
  if (saved.total_steps != run.total_steps) {
    log::warn("resume: the checkpoint's run had ", saved.total_steps, " steps, this one has ",
              run.total_steps, ": the learning-rate schedule changes from here on");
  }
  run.batcher->set_position(saved.batcher.epoch, saved.batcher.index);
  TrainerState fresh = fresh_state(cfg, run);
  saved.total_steps = fresh.total_steps;
  saved.batches_per_epoch = fresh.batches_per_epoch;
  saved.lr_scheduler_type = fresh.lr_scheduler_type;
  saved.base_learning_rate = fresh.base_learning_rate;
  saved.warmup_steps = fresh.warmup_steps;
  saved.settings = fresh.settings;
  run.state = std::move(saved);
  run.resume_step = run.state.global_step;
  log::info("resumed from ", run.resume_dir, " at step ", run.resume_step, "/", run.total_steps,
            " (epoch ", run.state.epoch, ")");
}

}  // namespace

int64_t total_steps_of(const config::TrainConfig& cfg, int64_t batches_per_epoch) {
  int64_t total = cfg.max_steps > 0
                      ? cfg.max_steps
                      : static_cast<int64_t>(std::ceil(
                            cfg.num_train_epochs * static_cast<double>(batches_per_epoch) /
                            static_cast<double>(cfg.gradient_accumulation_steps)));
  return std::max<int64_t>(total, 1);
}

RunSetup set_up_run(const config::TrainConfig& cfg, kernels::KernelizeReport* kernels_report) {
  int threads = configure_threads(cfg.threads);
  if (keep_freed_memory_for_reuse())
    log::debug("malloc: freed blocks are kept for reuse (FUSEBOX_MALLOC_KEEP=0 turns this off)");
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  kernels::KernelizeOptions kopts;
  kopts.mode = kernels::KernelMode::kTraining;
  kopts.device = kernels::resolve_device(cfg.kernel_config.device);
  kopts.strict = cfg.kernel_config.strict;
  RunSetup run;
  run.device = kopts.device.type == kernels::DeviceType::kCUDA
                   ? torch::Device(torch::kCUDA, kopts.device.index)
                   : torch::Device(torch::kCPU);
  log::info("device: ", kopts.device.describe(), ", threads: ", threads);

  run.resume_dir = find_resume_dir(cfg);
  if (!cfg.output_dir.empty() && run.resume_dir.empty())
    prepare_fresh_output_dir(cfg.output_dir, cfg.overwrite_output_dir);

  run.model = build_model(cfg, !run.resume_dir.empty());
  run.model->to(run.device);
  run.master =
      std::make_unique<MasterWeights>(*run.model, cfg.bf16 ? torch::kBFloat16 : torch::kFloat32);
  if (cfg.bf16) log::info("precision: bf16 compute, fp32 master weights and optimizer state");
  run.model->model->set_activation_checkpointing(cfg.enable_activation_checkpointing);
  if (cfg.enable_activation_checkpointing)
    log::info("activation checkpointing: on (each decoder layer recomputed in the backward)");
  auto attn = model::parse_attention_implementation(cfg.attn_implementation);
  model::set_attention_implementation(*run.model, attn);
  log::info("attention: ", model::attention_implementation_name(attn),
            " where no Attention kernel is installed");
  int64_t values = 0;
  for (auto& p : run.model->parameters())
    values += p.numel();
  log::info("parameters: ", run.model->parameters().size(), " tensors, ", values, " values");
  *kernels_report = kernels::kernelize(
      *run.model, kernels::IncludeKernels::parse(cfg.kernel_config.include_kernels), kopts);
  kernels_report->log();

  // The tokenizer is checked against the model's vocab_size there.
  TrainingData training_data = load_training_data(cfg, run.model->config().vocab_size);
  run.tokenizer = std::move(training_data.tokenizer);
  run.train_set = std::move(training_data.train);
  run.eval_set = std::move(training_data.eval);
  run.batcher =
      std::make_unique<data::Batcher>(*run.train_set, cfg.micro_batch_size, cfg.cutoff_len,
                                      static_cast<uint64_t>(cfg.seed), run.tokenizer->pad_id());
  run.total_steps = total_steps_of(cfg, run.batcher->batches_per_epoch());
  log::info("training: ", run.total_steps, " steps x ", cfg.gradient_accumulation_steps, " x ",
            cfg.micro_batch_size, " sequences (", run.train_set->size(), " examples, ",
            run.batcher->batches_per_epoch(), " micro-batches per epoch)");

  run.optimizer = std::make_unique<torch::optim::AdamW>(param_groups(*run.master, cfg));
  run.state = fresh_state(cfg, run);
  if (!run.resume_dir.empty()) resume(cfg, run);

  if (!cfg.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cfg.output_dir, ec);
    if (ec) throw DataError(str("cannot create output_dir '", cfg.output_dir, "': ", ec.message()));
    run.metrics = run.resume_dir.empty()
                      ? MetricsLog::start_fresh(cfg.output_dir)
                      : MetricsLog::resume(cfg.output_dir, run.resume_step, run.state.log_history);
  }
  return run;
}

}  // namespace fusebox::train
