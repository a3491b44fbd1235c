#include "train/trainer.h"

#include <cmath>
#include <filesystem>

#include "data/batcher.h"
#include "data/hf_tokenizer.h"
#include "io/checkpoint.h"
#include "kernels/kernelize.h"
#include "model/qwen3.h"
#include "train/checkpoint_dirs.h"
#include "train/loss_curve_svg.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/run_setup.h"
#include "train/signals.h"
#include "train/train_state.h"
#include "train/training_checkpoint.h"
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

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

std::string format_eval(const EvalResult& r) {
  std::string out =
      str("eval loss ", r.loss, ", perplexity ", r.perplexity, " over ", r.examples, " examples");
  if (r.exact_match) out += str(", exact-match accuracy ", 100.0 * *r.exact_match, "%");
  return out;
}

struct StepOutcome {
  double loss = 0;
  double grad_norm = -1;  // < 0: clipping disabled, not computed
  int64_t tokens = 0;
};

// The loop of one run and the state it carries from step to step. Checkpoints, metrics and
// the progress bar each live in their own file; this class only decides when they happen.
class Trainer {
 public:
  Trainer(const config::TrainConfig& cfg, RunSetup& run, TrainResult& result)
      : cfg_(cfg), run_(run), state_(run.state), result_(result) {
    for (const auto& item : run.master->optimizer_parameters())
      optimizer_tensors_.push_back(item.value());
  }

  void train() {
    initial_eval();
    StopSignals signals;  // from here on, Ctrl-C saves a checkpoint before exiting
    Progress progress(run_.total_steps, state_.global_step,
                      progress_bar_enabled(cfg_.progress_bar));
    progress_ = &progress;
    prior_seconds_ = state_.train_seconds;
    clock_.reset();  // time and tokens/s count training, not the setup or the first eval
    for (int64_t step = state_.global_step; step < run_.total_steps; ++step) {
      if (int signo = StopSignals::requested()) return stop(signo);
      run_step(step);
    }
    if (int signo = StopSignals::requested()) return stop(signo);
    progress.finish();
    finish();
  }

 private:
  double elapsed() const { return prior_seconds_ + clock_.seconds(); }
  double epoch() const {
    auto p = run_.batcher->position();
    return static_cast<double>(p.epoch) +
           static_cast<double>(p.index) / static_cast<double>(run_.batcher->batches_per_epoch());
  }

  void record(const MetricsRecord& r) {
    state_.log_history.push_back(r);
    if (run_.metrics) run_.metrics->append(r);
  }

  // Before training, on a fresh run only: a resumed run has its step-0 eval in its history.
  void initial_eval() {
    if (!run_.eval_set || !run_.resume_dir.empty()) return;
    result_.initial_eval = evaluate(run_.model, *run_.eval_set, eval_batch(), run_.device);
    log::info("before training: ", format_eval(*result_.initial_eval));
    record(eval_record(0, 0.0, *result_.initial_eval, 0.0));
  }

  int64_t eval_batch() const { return cfg_.micro_batch_size * 4; }

  StepOutcome forward_backward(double lr) {
    auto& model = run_.model;
    set_lr(*run_.optimizer, lr);
    run_.master->zero_gradients();
    // The loss is normalised by the label tokens of the whole accumulated batch, so
    // accumulation gives the same gradient as one large batch (transformers >= 4.46).
    std::vector<data::Batch> micro;
    int64_t label_tokens = 0;
    for (int64_t m = 0; m < cfg_.gradient_accumulation_steps; ++m) {
      micro.push_back(run_.batcher->next());
      label_tokens += micro.back().num_label_tokens;
    }
    StepOutcome out;
    for (const auto& batch : micro) {
      auto ids = to_tensor(batch.input_ids, batch.batch_size, batch.seq_len, run_.device);
      auto labels = to_tensor(batch.labels, batch.batch_size, batch.seq_len, run_.device);
      // Padding is kept out of the MoE router's aux loss, as transformers' Trainer does.
      auto mask = to_tensor(batch.attention_mask, batch.batch_size, batch.seq_len, run_.device);
      auto result = model->forward(ids, labels,
                                   static_cast<double>(std::max<int64_t>(label_tokens, 1)), mask);
      result.loss.backward();
      run_.master->accumulate_gradients();  // bf16 grads into the fp32 masters' (no-op in fp32)
      out.loss += result.loss.item<double>();
      out.tokens += batch.batch_size * batch.seq_len;
    }
    if (cfg_.max_grad_norm > 0)
      out.grad_norm = torch::nn::utils::clip_grad_norm_(optimizer_tensors_, cfg_.max_grad_norm);
    return out;
  }

  void run_step(int64_t step) {
    double lr = lr_at(cfg_.lr_scheduler_type, cfg_.learning_rate, step, cfg_.warmup_steps,
                      run_.total_steps);
    StepOutcome o = forward_backward(lr);
    if (!std::isfinite(o.loss))
      throw Error(str("training diverged: loss is ", o.loss, " at step ", step + 1));
    run_.optimizer->step();
    run_.master->copy_masters_to_model();
    const int64_t done = step + 1;
    state_.global_step = done;
    state_.last_learning_rate = lr;
    state_.tokens_seen += o.tokens;
    session_tokens_ += o.tokens;
    state_.window_loss_sum += o.loss;
    ++state_.window_steps;
    result_.steps.push_back({done, o.loss, lr, std::max(o.grad_norm, 0.0)});

    ProgressValues pv{done, o.loss, lr, o.grad_norm, tokens_per_second(), elapsed()};
    const bool last = done == run_.total_steps;
    if (done % cfg_.logging_steps == 0 || last) {
      pv.loss = state_.window_loss_sum / static_cast<double>(state_.window_steps);
      progress_->report(pv);
      record(train_record({done, epoch(), pv.loss, lr, o.grad_norm, pv.tokens_per_second,
                           state_.tokens_seen, pv.elapsed_seconds},
                          run_.device));
      state_.window_loss_sum = 0;
      state_.window_steps = 0;
    }
    progress_->update(pv);
    // A stop request skips the eval: the user is waiting, and the checkpoint comes next.
    if (run_.eval_set && cfg_.eval_steps > 0 && done % cfg_.eval_steps == 0 && !last &&
        !StopSignals::requested()) {
      auto r = evaluate(run_.model, *run_.eval_set, eval_batch(), run_.device);
      log::info("step ", done, ": ", format_eval(r));
      record(eval_record(done, epoch(), r, elapsed()));
    }
    if (cfg_.save_steps > 0 && done % cfg_.save_steps == 0 && !last) save(done);
  }

  double tokens_per_second() const {
    return static_cast<double>(session_tokens_) / std::max(clock_.seconds(), 1e-9);
  }

  void save(int64_t step) {
    if (cfg_.output_dir.empty()) return;
    std::string dir = checkpoint_path(cfg_.output_dir, step);
    state_.epoch = epoch();
    state_.batcher = run_.batcher->position();
    state_.train_seconds = elapsed();
    save_training_checkpoint(dir, {&run_.model, run_.master.get(), tokenizer_json(),
                                   run_.optimizer.get(), &state_, &cfg_, run_.device});
    log::info("saved checkpoint ", dir);
    result_.last_checkpoint = dir;
    last_saved_step_ = step;
    write_loss_curve();
    for (const auto& removed :
         prune_checkpoints(cfg_.output_dir, cfg_.save_total_limit, {run_.resume_dir, dir}))
      log::info("removed ", removed, " (save_total_limit: ", cfg_.save_total_limit, ")");
  }

  std::string tokenizer_json() const {
    auto* hf = dynamic_cast<const data::HFTokenizer*>(run_.tokenizer.get());
    return hf ? hf->path() : std::string();
  }

  void write_loss_curve() const {
    if (cfg_.output_dir.empty()) return;
    std::string title = cfg_.run_name.empty()
                            ? std::filesystem::path(cfg_.output_dir).filename().string()
                            : cfg_.run_name;
    write_loss_curve_svg((std::filesystem::path(cfg_.output_dir) / "loss_curve.svg").string(),
                         loss_curve_of(state_.log_history, title));
  }

  void stop(int signo) {
    progress_->finish();
    result_.stopped_by_signal = signo;
    int64_t step = state_.global_step;
    if (step == 0 || step == run_.resume_step) {
      log::warn(stop_signal_name(signo), ": stopped before the first step of this run; ",
                "nothing new to save");
      return;
    }
    log::warn(stop_signal_name(signo), ": stopping after step ", step, " of ", run_.total_steps);
    if (cfg_.output_dir.empty()) {
      log::warn("output_dir is empty: no checkpoint saved");
      return;
    }
    if (last_saved_step_ != step) save(step);
  }

  void finish() {
    result_.seconds = clock_.seconds();
    result_.tokens_per_second = tokens_per_second();
    result_.peak_rss_bytes = peak_rss_bytes();
    int64_t steps = static_cast<int64_t>(result_.steps.size());
    log::info("trained ", steps, " steps in ", format_duration(result_.seconds), " (",
              static_cast<int64_t>(result_.tokens_per_second), " tokens/s, peak RSS ",
              format_bytes(static_cast<double>(result_.peak_rss_bytes)), ")");
    // A run resumed from its last step has trained nothing: its final eval and checkpoint
    // are already in the checkpoint it resumed from.
    std::string final_dir = run_.resume_dir;
    if (steps > 0) {
      if (run_.eval_set) {
        result_.final_eval = evaluate(run_.model, *run_.eval_set, eval_batch(), run_.device);
        log::info("final: ", format_eval(*result_.final_eval));
        record(eval_record(run_.total_steps, epoch(), *result_.final_eval, elapsed()));
      }
      save(run_.total_steps);
      final_dir = result_.last_checkpoint;
    }
    if (cfg_.output_dir.empty()) return;
    // The final model also goes into output_dir itself, where transformers and `model=`
    // look for it; the files are links to the checkpoint's, not copies.
    io::publish_hf_model(final_dir, cfg_.output_dir);
    result_.checkpoint_dir = cfg_.output_dir;
    write_loss_curve();
    log::info("saved Hugging Face checkpoint to ", cfg_.output_dir, " (from ", final_dir, ")");
  }

  const config::TrainConfig& cfg_;
  RunSetup& run_;
  TrainerState& state_;
  TrainResult& result_;
  Progress* progress_ = nullptr;
  Stopwatch clock_;
  double prior_seconds_ = 0;
  int64_t session_tokens_ = 0;
  int64_t last_saved_step_ = -1;
  std::vector<torch::Tensor> optimizer_tensors_;  // what clipping and the optimizer see
};

}  // namespace

TrainResult run_training(const config::TrainConfig& cfg) {
  TrainResult result;
  RunSetup run = set_up_run(cfg, &result.kernels);
  result.resumed_from = run.resume_dir;
  Trainer(cfg, run, result).train();
  return result;
}

}  // namespace fusebox::train
