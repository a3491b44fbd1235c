#include "train/master_weights.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::train {

MasterWeights::MasterWeights(torch::nn::Module& model, torch::ScalarType compute_dtype)
    : model_(model), compute_dtype_(compute_dtype), enabled_(compute_dtype != torch::kFloat32) {
  if (compute_dtype != torch::kFloat32 && compute_dtype != torch::kBFloat16)
    throw ConfigError(str("mixed precision: compute dtype ", c10::toString(compute_dtype),
                          " is not supported (float32 or bfloat16)"));
  for (const auto& p : model.named_parameters()) {
    model_params_.push_back(p.value());
    if (!enabled_) {
      optimizer_params_.insert(p.key(), p.value());
      continue;
    }
    // detach().clone(): a leaf of its own, not a view of the parameter that is cast below.
    auto master = p.value().detach().to(torch::kFloat32).clone().requires_grad_(true);
    optimizer_params_.insert(p.key(), master);
  }
  if (enabled_) model.to(compute_dtype);
}

void MasterWeights::zero_gradients() {
  for (auto& item : optimizer_params_) {
    auto& t = item.value();
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  if (!enabled_) return;
  for (auto& p : model_params_)
    p.mutable_grad() = torch::Tensor();
}

void MasterWeights::accumulate_gradients() {
  if (!enabled_) return;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < model_params_.size(); ++i) {
    auto& p = model_params_[i];
    if (!p.grad().defined()) continue;
    auto& master = optimizer_params_[i].value();
    if (master.grad().defined())
      master.mutable_grad().add_(p.grad().to(torch::kFloat32));
    else
      master.mutable_grad() = p.grad().to(torch::kFloat32);
    p.mutable_grad() = torch::Tensor();
  }
}

void MasterWeights::copy_masters_to_model() {
  if (!enabled_) return;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < model_params_.size(); ++i)
    model_params_[i].copy_(optimizer_params_[i].value());
}

void MasterWeights::swap_in_masters(bool masters) {
  torch::NoGradGuard no_grad;
  if (masters) {
    parked_.clear();
    for (std::size_t i = 0; i < model_params_.size(); ++i) {
      parked_.push_back(model_params_[i].data());
      model_params_[i].set_data(optimizer_params_[i].value().data());
    }
  } else {
    for (std::size_t i = 0; i < model_params_.size() && i < parked_.size(); ++i)
      model_params_[i].set_data(parked_[i]);
    parked_.clear();
  }
}

}  // namespace fusebox::train
