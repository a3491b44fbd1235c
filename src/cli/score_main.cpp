// score --model DIR --input-ids FILE.json --output OUT.json [--include-kernels ...]
//       [--dtype float32|bfloat16]
// The model's numbers for given input ids: mean next-token cross-entropy with labels =
// input_ids (the transformers convention) and the full logits. INFERENCE-mode kernels.
#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>

#include "cli/score_io.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "kernels/api.h"
#include "model/loss.h"
#include "model/qwen3.h"
#include "train/threads.h"
#include "util/error.h"
#include "util/log.h"

int main(int argc, char** argv) {
  CLI::App app{"fusebox score: loss and logits of a Hugging Face model directory"};
  std::string model_dir, input_path, output_path, include_kernels = "false", dtype = "float32",
                                                  device = "auto";
  int threads = 0;
  app.add_option("--model", model_dir, "Hugging Face model directory")->required();
  app.add_option("--input-ids", input_path, "JSON file {\"input_ids\": [[...], ...]}")->required();
  app.add_option("--output", output_path, "where to write {loss, logits} as JSON");
  app.add_option("--include-kernels", include_kernels,
                 "kernel_config.include_kernels: false, auto or id1,id2");
  app.add_option("--dtype", dtype, "float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  app.add_option("--device", device, "auto, cpu or cuda");
  app.add_option("--threads", threads, "intra-op threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  namespace fb = fusebox;
  try {
    fb::train::configure_threads(threads);
    fb::kernels::KernelizeOptions kopts;
    kopts.mode = fb::kernels::KernelMode::kInference;
    kopts.device = fb::kernels::resolve_device(device);
    torch::Device dev = kopts.device.type == fb::kernels::DeviceType::kCUDA
                            ? torch::Device(torch::kCUDA, kopts.device.index)
                            : torch::Device(torch::kCPU);
    auto config = fb::io::read_hf_config(fb::io::find_hf_config(model_dir));
    fb::model::Qwen3ForCausalLM model(config);
    fb::io::load_hf_weights(model, model_dir);
    model->to(dev, dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
    model->eval();
    fb::kernels::apply_default_kernels(*model, include_kernels, kopts).log();

    auto ids = fb::cli::read_input_ids(input_path, config.vocab_size).to(dev);
    torch::NoGradGuard no_grad;
    // Without labels: score writes the logits, which a fused loss kernel would not materialise.
    auto out = model->forward(ids);
    double loss = fb::model::causal_lm_loss(out.logits, ids).item<double>();
    std::cout << "loss " << loss << "\nperplexity " << std::exp(loss) << "\n";
    if (!output_path.empty()) {
      fb::cli::write_score_json(output_path, loss, out.logits);
      fb::log::info("wrote ", output_path);
    }
    return 0;
  } catch (const fb::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
