#include "train/optimizer_state.h"

#include <ATen/Context.h>

#include <filesystem>
#include <mutex>
#include <sstream>
#include <type_traits>

#include "io/safetensors_reader.h"
#include "io/safetensors_writer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

using StateMap = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>;

// The key AdamW files a parameter's state under. libtorch 1.13 uses the TensorImpl address
// printed as a string; 2.x uses the address itself. A template on the map's key type, so that
// only the branch for the libtorch at hand is compiled and the same source builds with both.
template <typename Key>
Key state_key_of(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << static_cast<const void*>(p.unsafeGetTensorImpl());
    return s.str();
  } else {
    return static_cast<Key>(static_cast<void*>(p.unsafeGetTensorImpl()));
  }
}

StateMap::key_type state_key(const torch::Tensor& p) {
  return state_key_of<StateMap::key_type>(p);
}

std::string shape_string(c10::IntArrayRef shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape)
    dims.push_back(std::to_string(d));
  return "[" + join(dims, ", ") + "]";
}

const char* kMoments[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

// Checks one moment tensor of `name` and loads it onto the parameter's device and dtype;
// an undefined tensor when absent and optional.
torch::Tensor load_moment(const io::SafetensorsFile& file, const std::string& moment,
                          const std::string& name, const torch::Tensor& param, bool required) {
  std::string key = moment + "." + name;
  if (!file.contains(key)) {
    if (!required) return {};
    throw DataError(str(file.path(), ": no tensor '", key, "'; expected AdamW's ", moment,
                        " for parameter '", name, "' (the checkpoint is incomplete)"));
  }
  const auto& info = file.info(key);
  if (c10::IntArrayRef(info.shape) != param.sizes()) {
    throw DataError(str(file.path(), ": tensor '", key, "' has shape ", shape_string(info.shape),
                        ", but parameter '", name, "' has shape ", shape_string(param.sizes()),
                        " (the checkpoint is for another model)"));
  }
  return file.load(key, param.scalar_type()).to(param.device());
}

}  // namespace

void save_adamw_state(const torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::string& path) {
  io::NamedTensors tensors;
  for (const auto& p : params) {
    auto it = optimizer.state().find(state_key(p.value()));
    if (it == optimizer.state().end()) continue;  // never stepped
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    tensors.emplace_back("step." + p.key(), torch::tensor(s.step(), torch::kInt64));
    tensors.emplace_back("exp_avg." + p.key(), s.exp_avg());
    tensors.emplace_back("exp_avg_sq." + p.key(), s.exp_avg_sq());
    if (s.max_exp_avg_sq().defined())
      tensors.emplace_back("max_exp_avg_sq." + p.key(), s.max_exp_avg_sq());
  }
  io::SafetensorsWriteOptions options;
  options.metadata = {{"format", "pt"}, {"optimizer", "AdamW"}};
  io::write_safetensors(path, tensors, options);
}

void load_adamw_state(torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw DataError(str("'", path, "' does not exist: the checkpoint has no optimizer state ",
                        "(AdamW moments and step counts), so it cannot be resumed exactly. ",
                        "To only start from its weights, use model=<the checkpoint directory>"));
  }
  io::SafetensorsFile file(path);
  // Every tensor must belong to a parameter of this model.
  for (const auto& info : file.header().tensors) {
    auto dot = info.name.find('.');
    std::string name = dot == std::string::npos ? "" : info.name.substr(dot + 1);
    if (!params.contains(name)) {
      throw DataError(
          str(path, ": tensor '", info.name, "' is state for parameter '", name,
              "', which this model does not have (the checkpoint is for another model)"));
    }
  }
  std::vector<std::pair<torch::Tensor, std::unique_ptr<torch::optim::AdamWParamState>>> loaded;
  for (const auto& p : params) {
    std::string step_key = "step." + p.key();
    if (!file.contains(step_key)) {
      throw DataError(str(path, ": no optimizer state for parameter '", p.key(), "' (expected ",
                          step_key, ", exp_avg.", p.key(), " and exp_avg_sq.", p.key(), ")"));
    }
    auto step_tensor = file.load(step_key);
    if (step_tensor.numel() != 1 || step_tensor.scalar_type() != torch::kInt64 ||
        step_tensor.item<int64_t>() < 1) {
      throw DataError(
          str(path, ": tensor '", step_key, "' must be one int64 >= 1 (AdamW's step count)"));
    }
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(step_tensor.item<int64_t>());
    state->exp_avg(load_moment(file, kMoments[0], p.key(), p.value(), true));
    state->exp_avg_sq(load_moment(file, kMoments[1], p.key(), p.value(), true));
    auto max_sq = load_moment(file, kMoments[2], p.key(), p.value(), false);
    if (max_sq.defined()) state->max_exp_avg_sq(max_sq);
    loaded.emplace_back(p.value(), std::move(state));
  }
  auto& map = optimizer.state();
  map.clear();
  for (auto& [param, state] : loaded)
    map[state_key(param)] = std::move(state);
  log::debug("loaded AdamW state of ", loaded.size(), " parameters from ", path);
}

void save_rng_state(const torch::Device& device, const std::string& path) {
  io::NamedTensors states;
  auto capture = [&](const c10::Device& d, const std::string& name) {
    at::Generator gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.emplace_back(name, gen.get_state());
  };
  capture(c10::Device(c10::kCPU), "cpu");
  if (device.is_cuda()) {
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i)
      capture(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)), str("cuda:", i));
  }
  io::write_safetensors(path, states);
}

void load_rng_state(const torch::Device& device, const std::string& path) {
  if (!std::filesystem::exists(path))
    throw DataError(str("'", path, "' does not exist: the checkpoint has no RNG state"));
  io::SafetensorsFile file(path);
  if (!file.contains("cpu"))
    throw DataError(str(path, ": no tensor 'cpu'; expected the CPU generator's state"));
  int cuda_devices = device.is_cuda() ? static_cast<int>(torch::cuda::device_count()) : 0;
  for (const auto& info : file.header().tensors) {
    c10::Device d(c10::kCPU);
    if (info.name != "cpu") {
      int index = -1;
      if (info.name.rfind("cuda:", 0) == 0) index = std::atoi(info.name.c_str() + 5);
      if (index < 0 || index >= cuda_devices) {
        log::info(path, ": not restoring '", info.name, "' (this run does not use that device)");
        continue;
      }
      d = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    at::Generator gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    try {
      gen.set_state(file.load(info.name));
    } catch (const c10::Error& e) {
      throw DataError(str(path, ": tensor '", info.name, "' is not a valid generator state for ",
                          d.str(), ": ", e.what_without_backtrace()));
    }
  }
}

}  // namespace fusebox::train
