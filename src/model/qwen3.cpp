#include "model/qwen3.h"

#include "model/activation_checkpoint.h"
#include "model/loss.h"
#include "model/moe_aux_loss.h"

namespace fusebox::model {

Qwen3ModelImpl::Qwen3ModelImpl(const Qwen3Config& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers->push_back(Qwen3DecoderLayer(c, i));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor Qwen3ModelImpl::forward(const torch::Tensor& input_ids,
                                      std::vector<torch::Tensor>* router_logits) {
  auto b = input_ids.size(0), s = input_ids.size(1);
  auto position_ids = torch::arange(s, input_ids.options().dtype(torch::kInt64)).expand({b, s});
  auto h = embed_tokens(input_ids);
  bool checkpoint = activation_checkpointing_ && torch::GradMode::is_enabled();
  for (const auto& layer : *layers) {
    auto* decoder = layer->as<Qwen3DecoderLayer>();
    h = checkpoint ? checkpointed_layer_forward(*decoder, h, position_ids, router_logits)
                   : decoder->forward(h, position_ids, router_logits);
  }
  return norm(h);
}

torch::Tensor Qwen3ModelImpl::forward(const torch::Tensor& input_ids, KVCache& cache) {
  auto b = input_ids.size(0), s = input_ids.size(1);
  cache.check_room(s);
  int64_t start = cache.length();
  auto position_ids =
      torch::arange(start, start + s, input_ids.options().dtype(torch::kInt64)).expand({b, s});
  auto h = embed_tokens(input_ids);
  int64_t index = 0;
  for (const auto& layer : *layers)
    h = layer->as<Qwen3DecoderLayer>()->forward(h, position_ids, nullptr, &cache.layer(index++),
                                                start);
  cache.advance(s);
  return norm(h);
}

Qwen3ForCausalLMImpl::Qwen3ForCausalLMImpl(const Qwen3Config& c) : config_(c) {
  c.validate("model config");
  model = register_module("model", Qwen3Model(c));
  if (!c.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head",
        torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  }
  loss_head = register_module("loss_head", LMHeadLoss());
  init_weights();
}

torch::Tensor Qwen3ForCausalLMImpl::next_token_logits(const torch::Tensor& input_ids,
                                                      KVCache& cache) {
  auto hidden = model->forward(input_ids, cache);
  auto last = hidden.select(1, hidden.size(1) - 1);
  return torch::linear(last, lm_head_weight()).to(torch::kFloat32);
}

const torch::Tensor& Qwen3ForCausalLMImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

CausalLMOutput Qwen3ForCausalLMImpl::forward(const torch::Tensor& input_ids,
                                             const torch::Tensor& labels, double loss_normalizer,
                                             const torch::Tensor& attention_mask) {
  CausalLMOutput out;
  bool aux = config_.is_moe() && config_.output_router_logits;
  auto hidden = model->forward(input_ids, aux ? &out.router_logits : nullptr);
  if (labels.defined() && loss_head->kernelized()) {
    // The fused kernel never holds the full logits, so none are returned.
    out.loss = loss_head(hidden, lm_head_weight(), labels, loss_normalizer);
  } else {
    // The loss head's reference math, reusing the logits the caller also gets.
    out.logits = torch::linear(hidden, lm_head_weight());
    if (labels.defined()) out.loss = causal_lm_loss(out.logits, labels, loss_normalizer);
  }
  if (aux) {
    out.aux_loss = load_balancing_loss(out.router_logits, config_.num_experts,
                                       config_.num_experts_per_tok, attention_mask);
    // Added once per forward, whatever loss_normalizer is, as transformers does.
    if (out.loss.defined())
      out.loss = out.loss + config_.router_aux_loss_coef * out.aux_loss.to(out.loss.device());
  }
  return out;
}

void Qwen3ForCausalLMImpl::init_weights() {
  torch::NoGradGuard no_grad;
  double std = config_.initializer_range;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, std);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, std);
    } else if (auto* norm = module->as<RMSNorm>()) {
      norm->weight.fill_(1.0);
    }
  }
}

}  // namespace fusebox::model
