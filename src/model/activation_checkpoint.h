// Activation checkpointing per decoder layer (transformers' gradient_checkpointing): the
// forward runs the layer without recording a graph and keeps only its input; the backward
// runs the layer's forward again with autograd on and backpropagates through that. Memory for
// activations drops from every layer's intermediates to one hidden state per layer, for about
// one extra forward of compute.
//
// Qwen3 has no dropout, so recomputation needs no saved RNG state: the second forward is the
// same function of the same input. Kernels installed in the layer run in both forwards.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace fusebox::model {

class Qwen3DecoderLayerImpl;

// layer.forward(hidden, position_ids, router_logits), checkpointed. A sparse layer's router
// logits are appended to *router_logits as the plain forward does, with their gradient path
// (to the router and, through the recomputation, to everything before it) intact.
torch::Tensor checkpointed_layer_forward(Qwen3DecoderLayerImpl& layer, const torch::Tensor& hidden,
                                         const torch::Tensor& position_ids,
                                         std::vector<torch::Tensor>* router_logits);

}  // namespace fusebox::model
