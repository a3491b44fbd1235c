#include "train/trainer.h"

#include <cmath>
#include <filesystem>

#include "data/batcher.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "kernels/kernelize.h"
#include "model/qwen3.h"
#include "train/data_setup.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/threads.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/strings.h"
#include "util/timer.h"

namespace fusebox::train {
namespace {

torch::Tensor to_tensor(const std::vector<int64_t>& values, int64_t rows, int64_t cols,
                        const torch::Device& device) {
  return torch::from_blob(const_cast<int64_t*>(values.data()), {rows, cols}, torch::kInt64)
      .clone()
      .to(device);
}

// transformers' Trainer: no weight decay on biases and norm weights (1-D parameters).
std::vector<torch::optim::OptimizerParamGroup> param_groups(model::Qwen3ForCausalLM& model,
                                                            const config::TrainConfig& cfg) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters())
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
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

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

model::Qwen3Config load_model_config(const config::TrainConfig& cfg) {
  std::string path = io::find_hf_config(config::resolve_path(cfg, cfg.model));
  model::Qwen3Config mc = io::read_hf_config(path);
  log::info("model: ", mc.describe(), " (", path, ")");
  return mc;
}

std::string format_eval(const EvalResult& r) {
  std::string out =
      str("eval loss ", r.loss, ", perplexity ", r.perplexity, " over ", r.examples, " examples");
  if (r.exact_match) out += str(", exact-match accuracy ", 100.0 * *r.exact_match, "%");
  return out;
}

}  // namespace

TrainResult run_training(const config::TrainConfig& cfg) {
  if (cfg.bf16) {
    throw ConfigError(
        str(cfg.source_path, ": bf16: true is not available yet in this build ",
            "(mixed precision with fp32 master weights is planned); set bf16: false"));
  }
  int threads = configure_threads(cfg.threads);
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  kernels::KernelizeOptions kopts;
  kopts.mode = kernels::KernelMode::kTraining;
  kopts.device = kernels::resolve_device(cfg.kernel_config.device);
  kopts.strict = cfg.kernel_config.strict;
  torch::Device device = kopts.device.type == kernels::DeviceType::kCUDA
                             ? torch::Device(torch::kCUDA, kopts.device.index)
                             : torch::Device(torch::kCPU);
  log::info("device: ", kopts.device.describe(), ", threads: ", threads);

  model::Qwen3ForCausalLM model(load_model_config(cfg));
  // A model directory with weights starts from them; a bare config.json is random init.
  std::string model_path = config::resolve_path(cfg, cfg.model);
  if (std::filesystem::is_directory(model_path) && io::has_weights(model_path)) {
    io::load_hf_weights(model, model_path);
    log::info("weights: loaded from ", model_path);
  } else {
    log::info("weights: random init (seed ", cfg.seed, ")");
  }
  model->to(device);
  log::info(
      "parameters: ", model->parameters().size(), " tensors, ",
      [&] {
        int64_t n = 0;
        for (auto& p : model->parameters())
          n += p.numel();
        return n;
      }(),
      " values");

  TrainResult result;
  result.kernels = kernels::kernelize(
      *model, kernels::IncludeKernels::parse(cfg.kernel_config.include_kernels), kopts);
  result.kernels.log();

  // The tokenizer is checked against the model's vocab_size there.
  TrainingData training_data = load_training_data(cfg, model->config().vocab_size);
  const data::Dataset* train_set = training_data.train.get();
  const data::Dataset* eval_set = training_data.eval.get();
  data::Batcher batcher(*train_set, cfg.micro_batch_size, cfg.cutoff_len,
                        static_cast<uint64_t>(cfg.seed), training_data.tokenizer->pad_id());

  int64_t total_steps =
      cfg.max_steps > 0
          ? cfg.max_steps
          : static_cast<int64_t>(
                std::ceil(cfg.num_train_epochs * static_cast<double>(batcher.batches_per_epoch()) /
                          static_cast<double>(cfg.gradient_accumulation_steps)));
  total_steps = std::max<int64_t>(total_steps, 1);
  log::info("training: ", total_steps, " steps x ", cfg.gradient_accumulation_steps, " x ",
            cfg.micro_batch_size, " sequences (", train_set->size(), " examples, ",
            batcher.batches_per_epoch(), " micro-batches per epoch)");

  if (eval_set) {
    result.initial_eval = evaluate(model, *eval_set, cfg.micro_batch_size * 4, device);
    log::info("before training: ", format_eval(*result.initial_eval));
  }

  torch::optim::AdamW optimizer(param_groups(model, cfg));
  model->train();
  Progress progress(total_steps);
  Stopwatch clock;
  int64_t tokens_seen = 0;
  double window_loss = 0;
  int64_t window_steps = 0;
  for (int64_t step = 0; step < total_steps; ++step) {
    double lr =
        lr_at(cfg.lr_scheduler_type, cfg.learning_rate, step, cfg.warmup_steps, total_steps);
    set_lr(optimizer, lr);
    optimizer.zero_grad();
    // The loss is normalised by the label tokens of the whole accumulated batch, so
    // accumulation gives the same gradient as one large batch (transformers >= 4.46).
    std::vector<data::Batch> micro;
    int64_t label_tokens = 0;
    for (int64_t m = 0; m < cfg.gradient_accumulation_steps; ++m) {
      micro.push_back(batcher.next());
      label_tokens += micro.back().num_label_tokens;
    }
    double step_loss = 0;
    for (const auto& batch : micro) {
      auto ids = to_tensor(batch.input_ids, batch.batch_size, batch.seq_len, device);
      auto labels = to_tensor(batch.labels, batch.batch_size, batch.seq_len, device);
      // Padding is kept out of the MoE router's aux loss, as transformers' Trainer does.
      auto mask = to_tensor(batch.attention_mask, batch.batch_size, batch.seq_len, device);
      auto out = model->forward(ids, labels,
                                static_cast<double>(std::max<int64_t>(label_tokens, 1)), mask);
      out.loss.backward();
      step_loss += out.loss.item<double>();
      tokens_seen += batch.batch_size * batch.seq_len;
    }
    double grad_norm = cfg.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(
                                                   model->parameters(), cfg.max_grad_norm)
                                             : 0.0;
    if (!std::isfinite(step_loss))
      throw Error(str("training diverged: loss is ", step_loss, " at step ", step + 1));
    optimizer.step();
    result.steps.push_back({step + 1, step_loss, lr, grad_norm});
    window_loss += step_loss;
    ++window_steps;
    bool last = step + 1 == total_steps;
    if ((step + 1) % cfg.logging_steps == 0 || last) {
      progress.report(step + 1, window_loss / window_steps, lr, grad_norm,
                      static_cast<double>(tokens_seen) / clock.seconds(), clock.seconds());
      window_loss = 0;
      window_steps = 0;
    }
    if (eval_set && cfg.eval_steps > 0 && (step + 1) % cfg.eval_steps == 0 && !last)
      log::info("step ", step + 1, ": ",
                format_eval(evaluate(model, *eval_set, cfg.micro_batch_size * 4, device)));
  }
  result.seconds = clock.seconds();
  result.tokens_per_second = static_cast<double>(tokens_seen) / std::max(result.seconds, 1e-9);
  result.peak_rss_bytes = peak_rss_bytes();
  log::info("trained ", total_steps, " steps in ", format_duration(result.seconds), " (",
            static_cast<int64_t>(result.tokens_per_second), " tokens/s, peak RSS ",
            format_bytes(static_cast<double>(result.peak_rss_bytes)), ")");
  if (eval_set) {
    result.final_eval = evaluate(model, *eval_set, cfg.micro_batch_size * 4, device);
    log::info("final: ", format_eval(*result.final_eval));
  }
  if (!cfg.output_dir.empty()) {
    // The checkpoint must not depend on which kernels ran: kernels only fill forward slots,
    // the parameters and their names are the model's own.
    io::save_hf_checkpoint(model, cfg.output_dir);
    result.checkpoint_dir = cfg.output_dir;
    log::info("saved Hugging Face checkpoint to ", cfg.output_dir);
  }
  return result;
}

}  // namespace fusebox::train
