// generate --model DIR --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K]
//          [--top-p P] [--seed S] [--include-kernels ...] [--dtype ...] [--device ...]
// Text from a Hugging Face model directory with a KV cache and INFERENCE-mode kernels. The
// generated text goes to stdout; what ran and how fast goes to the log (stderr).
#include <CLI/CLI.hpp>

#include <iostream>

#include <filesystem>

#include "data/byte_tokenizer.h"
#include "data/hf_tokenizer.h"
#include "infer/generate.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "kernels/api.h"
#include "model/qwen3.h"
#include "train/threads.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

int main(int argc, char** argv) {
  namespace fb = fusebox;
  CLI::App app{"fusebox generate: text from a Hugging Face model directory, with a KV cache"};
  std::string model_dir, prompt, include_kernels = "auto", dtype = "float32", device = "auto";
  fb::infer::GenerateOptions options;
  int threads = 0;
  bool add_bos = true;
  app.add_option("--model", model_dir, "Hugging Face model directory (config.json + weights)")
      ->required();
  app.add_option("--prompt", prompt, "the text to continue")->required();
  app.add_option("--max-new-tokens", options.max_new_tokens, "at most this many new tokens");
  app.add_option("--temperature", options.sampling.temperature, "0 = greedy (default)");
  app.add_option("--top-k", options.sampling.top_k, "sample among the k most likely; 0 = all");
  app.add_option("--top-p", options.sampling.top_p, "nucleus sampling threshold; 1 = off");
  app.add_option("--seed", options.sampling.seed, "sampling seed");
  app.add_option("--include-kernels", include_kernels,
                 "kernel_config.include_kernels: false, auto or id1,id2");
  app.add_option("--dtype", dtype, "float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  app.add_option("--device", device, "auto, cpu or cuda");
  app.add_option("--threads", threads, "intra-op threads (0 = all cores)");
  app.add_option("--add-bos", add_bos, "start the prompt with the tokenizer's bos token");
  CLI11_PARSE(app, argc, argv);
  try {
    fb::infer::validate(options.sampling);
    int used_threads = fb::train::configure_threads(threads);
    fb::kernels::KernelizeOptions kopts;
    kopts.mode = fb::kernels::KernelMode::kInference;
    kopts.device = fb::kernels::resolve_device(device);
    torch::Device dev = kopts.device.type == fb::kernels::DeviceType::kCUDA
                            ? torch::Device(torch::kCUDA, kopts.device.index)
                            : torch::Device(torch::kCPU);
    auto config = fb::io::read_hf_config(fb::io::find_hf_config(model_dir));
    if (!fb::io::has_weights(model_dir))
      throw fb::DataError(fb::str(model_dir, ": no model.safetensors (or index) to generate with"));
    fb::model::Qwen3ForCausalLM model(config);
    fb::io::load_hf_weights(model, model_dir);
    model->to(dev, dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
    model->eval();
    fb::kernels::apply_default_kernels(*model, include_kernels, kopts).log();
    fb::log::info("device: ", kopts.device.describe(), ", threads: ", used_threads, ", dtype ",
                  dtype);

    // The model directory's tokenizer.json when it has one (a run on text saves it there),
    // else the byte-level tokenizer of the built-in tasks.
    std::unique_ptr<fb::data::Tokenizer> tokenizer;
    if (std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer.json"))
      tokenizer = fb::data::load_hf_tokenizer(model_dir);
    else
      tokenizer = std::make_unique<fb::data::ByteTokenizer>();
    fb::log::info("tokenizer: ", tokenizer->describe());
    auto ids = tokenizer->encode(prompt);
    if (add_bos && tokenizer->bos_id()) ids.insert(ids.begin(), *tokenizer->bos_id());
    options.stop_ids = {tokenizer->eos_id()};
    auto result = fb::infer::generate(model, ids, options);
    auto shown = result.tokens;
    if (result.stop_reason == "stop token") shown.pop_back();  // eos is not part of the text
    std::cout << tokenizer->decode(shown) << std::endl;
    fb::log::info("prompt ", ids.size(), " tokens; generated ", result.tokens.size(), " tokens (",
                  result.stop_reason, "); prefill ", fb::format_duration(result.prefill_seconds),
                  ", decode ", static_cast<int64_t>(result.decode_tokens_per_second()),
                  " tokens/s");
    return 0;
  } catch (const fb::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
