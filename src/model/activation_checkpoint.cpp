#include "model/activation_checkpoint.h"

#include <cstdint>

#include "model/decoder_layer.h"

namespace fusebox::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Outputs: {hidden_out} for a dense layer, {hidden_out, router_logits} for a sparse one.
tensor_list run_layer(Qwen3DecoderLayerImpl& layer, const torch::Tensor& hidden,
                      const torch::Tensor& position_ids) {
  std::vector<torch::Tensor> logits;
  auto out = layer.forward(hidden, position_ids, layer.is_sparse() ? &logits : nullptr);
  tensor_list outputs{out};
  for (auto& l : logits)
    outputs.push_back(l);
  return outputs;
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // Function::apply runs this with grad mode off: nothing inside the layer is recorded.
  static tensor_list forward(AutogradContext* ctx, Qwen3DecoderLayerImpl* layer,
                             const torch::Tensor& hidden, const torch::Tensor& position_ids) {
    // The layer is owned by the model, which outlives every graph built through it.
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->save_for_backward({hidden, position_ids});
    return run_layer(*layer, hidden, position_ids);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto* layer = reinterpret_cast<Qwen3DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    auto saved = ctx->get_saved_variables();
    auto hidden = saved[0].detach().requires_grad_(true);
    tensor_list outputs;
    {
      torch::AutoGradMode enable(true);
      outputs = run_layer(*layer, hidden, saved[1]);
    }
    // An output nobody used (e.g. router logits without an aux loss) has no gradient.
    tensor_list used_outputs, used_grads;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (!grads[i].defined()) continue;
      used_outputs.push_back(outputs[i]);
      used_grads.push_back(grads[i]);
    }
    // backward(), not grad(): the layer's parameters are leaves and receive their gradients
    // exactly as in an uncheckpointed backward (accumulated into .grad).
    torch::autograd::backward(used_outputs, used_grads);
    return {torch::Tensor(), hidden.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed_layer_forward(Qwen3DecoderLayerImpl& layer, const torch::Tensor& hidden,
                                         const torch::Tensor& position_ids,
                                         std::vector<torch::Tensor>* router_logits) {
  auto outputs = CheckpointFunction::apply(&layer, hidden, position_ids);
  if (router_logits && outputs.size() > 1) router_logits->push_back(outputs[1]);
  return outputs[0];
}

}  // namespace fusebox::model
