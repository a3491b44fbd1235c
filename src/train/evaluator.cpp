#include "train/evaluator.h"

#include <cmath>

#include "data/addition_task.h"
#include "data/byte_tokenizer.h"
#include "model/loss.h"

namespace fusebox::train {
namespace {

torch::Tensor rows_to_tensor(const std::vector<std::vector<int64_t>>& rows) {
  int64_t b = static_cast<int64_t>(rows.size()), s = static_cast<int64_t>(rows[0].size());
  auto t = torch::empty({b, s}, torch::kInt64);
  auto* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i)
    std::copy(rows[i].begin(), rows[i].end(), p + i * s);
  return t;
}

// Greedy decoding of the fixed-width answer; all prompts have the same length, so a batch
// needs no padding. Without a KV cache each step re-runs the (short) prefix.
double addition_exact_match(model::Qwen3ForCausalLM& model, const data::AdditionDataset& ds,
                            int64_t batch_size, const torch::Device& device) {
  const auto& task = ds.task();
  data::ByteTokenizer tokenizer;
  int64_t correct = 0, n = static_cast<int64_t>(ds.size());
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t end = std::min(n, start + batch_size);
    std::vector<std::vector<int64_t>> prompts;
    for (int64_t i = start; i < end; ++i) {
      auto [a, b] = ds.operands(i);
      prompts.push_back(task.prompt_ids(a, b));
    }
    auto ids = rows_to_tensor(prompts).to(device);
    for (int64_t step = 0; step < task.answer_length(); ++step) {
      auto logits = model->forward(ids).logits.select(1, ids.size(1) - 1);
      ids = torch::cat({ids, logits.argmax(-1, /*keepdim=*/true)}, 1);
    }
    auto answers = ids.slice(1, task.prompt_length()).to(torch::kCPU).contiguous();
    for (int64_t i = start; i < end; ++i) {
      auto row = answers[i - start];
      std::vector<int64_t> tokens(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
      auto [a, b] = ds.operands(i);
      auto value = task.parse_answer(tokenizer.decode(tokens));
      if (value && *value == a + b) ++correct;
    }
  }
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(n, 1));
}

}  // namespace

EvalResult evaluate(model::Qwen3ForCausalLM& model, const data::Dataset& dataset,
                    int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  bool was_training = model->is_training();
  model->eval();
  double loss_sum = 0;
  int64_t tokens = 0;
  int64_t n = static_cast<int64_t>(dataset.size());
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t end = std::min(n, start + batch_size);
    std::vector<std::vector<int64_t>> ids, labels;
    size_t len = 0;
    for (int64_t i = start; i < end; ++i) {
      auto ex = dataset.get(i);
      len = std::max(len, ex.input_ids.size());
      ids.push_back(ex.input_ids);
      labels.push_back(ex.labels);
    }
    // Right padding; pad labels never count, and under the causal mask no real position sees
    // a pad, so any id does: 0 is in every vocabulary (a tokenizer's pad id may not be in a
    // model smaller than the byte tokenizer's 259 ids).
    for (size_t i = 0; i < ids.size(); ++i) {
      ids[i].resize(len, 0);
      labels[i].resize(len, model::kIgnoreIndex);
    }
    auto label_t = rows_to_tensor(labels).to(device);
    int64_t count = model::count_label_tokens(label_t);
    // The LM loss alone: an MoE model's loss also holds the router's aux term.
    auto logits = model->forward(rows_to_tensor(ids).to(device)).logits;
    loss_sum += model::causal_lm_loss(logits, label_t, 1.0).item<double>();  // a sum
    tokens += count;
  }
  EvalResult result;
  result.examples = n;
  result.loss = loss_sum / static_cast<double>(std::max<int64_t>(tokens, 1));
  result.perplexity = std::exp(result.loss);
  if (const auto* addition = dynamic_cast<const data::AdditionDataset*>(&dataset))
    result.exact_match = addition_exact_match(model, *addition, batch_size, device);
  if (was_training) model->train();
  return result;
}

}  // namespace fusebox::train
