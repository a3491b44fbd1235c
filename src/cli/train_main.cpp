// train --config x.yaml [key.path=value ...]
#include <CLI/CLI.hpp>

#include <iostream>

#include "config/train_config.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/log.h"

int main(int argc, char** argv) {
  CLI::App app{"fusebox train: train a Qwen3 model from a YAML config"};
  std::string config_path;
  std::vector<std::string> overrides;
  app.add_option("--config,-c", config_path, "YAML config file")->required();
  app.add_option("overrides", overrides,
                 "dotted overrides applied after the file, e.g. max_steps=20 "
                 "kernel_config.include_kernels=false");
  CLI11_PARSE(app, argc, argv);
  try {
    auto cfg = fusebox::config::load_train_config(config_path, overrides);
    fusebox::log::set_level(fusebox::log::parse_level(cfg.log_level));
    fusebox::log::info("config: ", config_path,
                       overrides.empty() ? "" : " with overrides " + fusebox::join(overrides, " "));
    fusebox::train::run_training(cfg);
    return 0;
  } catch (const fusebox::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
