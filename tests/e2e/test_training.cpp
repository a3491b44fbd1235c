// End to end: a few dozen training steps on the synthetic task make the loss fall, with
// kernels off and on, and the two runs track each other step by step.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/train_config.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "train/trainer.h"

namespace fusebox::test {
namespace {

config::TrainConfig short_run(const std::string& include_kernels) {
  std::string root = FUSEBOX_SOURCE_DIR;
  return config::load_train_config(
      root + "/configs/qwen3.yaml",
      {"max_steps=40", "warmup_steps=5", "logging_steps=20", "eval_steps=0",
       "eval_dataset=", "synthetic.train_size=2000", "micro_batch_size=32",
       // Pinned to the CPU: on a GPU machine `auto` would train on CUDA with CUDA kernels.
       "kernel_config.include_kernels=" + include_kernels, "kernel_config.device=cpu",
       "log_level=warn", "overwrite_output_dir=true",  // the previous ctest run's output is there
       "output_dir=" +
           (std::filesystem::temp_directory_path() / ("fusebox_e2e_" + include_kernels)).string()});
}

double mean_loss(const train::TrainResult& r, size_t begin, size_t end) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i)
    sum += r.steps[i].loss;
  return sum / static_cast<double>(end - begin);
}

TEST(Training, LossFallsWithAndWithoutKernelsAndRunsAgree) {
  auto off = train::run_training(short_run("false"));
  auto on = train::run_training(short_run("auto"));
  ASSERT_EQ(off.steps.size(), 40u);
  ASSERT_EQ(on.steps.size(), 40u);
  EXPECT_EQ(off.kernels.applied.size(), 0u);
  EXPECT_EQ(on.kernels.count("cpu_fused_rmsnorm"), 9);  // 2 layers x 4 + final norm

  // The loss starts near ln(259) = 5.56 and must clearly fall.
  EXPECT_GT(mean_loss(off, 0, 3), 4.5);
  EXPECT_LT(mean_loss(off, 35, 40), 0.6 * mean_loss(off, 0, 3));
  EXPECT_LT(mean_loss(on, 35, 40), 0.6 * mean_loss(on, 0, 3));

  // The final checkpoint is a Hugging Face directory that loads back.
  ASSERT_FALSE(on.checkpoint_dir.empty());
  auto config = io::read_hf_config(on.checkpoint_dir + "/config.json");
  model::Qwen3ForCausalLM reloaded(config);
  EXPECT_NO_THROW(io::load_hf_weights(reloaded, on.checkpoint_dir));

  // Same seed, same data: the kernel run follows the reference run closely. Differences are
  // fp32 rounding amplified over 40 Adam steps.
  for (size_t i = 0; i < 40; ++i)
    EXPECT_NEAR(on.steps[i].loss, off.steps[i].loss, 2e-3 * (1.0 + static_cast<double>(i) / 4))
        << "step " << i + 1;
}

}  // namespace
}  // namespace fusebox::test
