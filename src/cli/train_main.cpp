// train --config x.yaml [key.path=value ...]
#include <CLI/CLI.hpp>

#include <cctype>
#include <iostream>

#include "config/train_config.h"
#include "train/signals.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/log.h"

namespace {

// Quotes `arg` for a POSIX shell when it holds anything but plainly safe characters.
std::string shell_quote(const std::string& arg) {
  const std::string safe = "-_./=:,+@%";
  bool plain = !arg.empty();
  for (char c : arg)
    plain =
        plain && (std::isalnum(static_cast<unsigned char>(c)) || safe.find(c) != std::string::npos);
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The command that continues a stopped run: this one's, with resume_from_checkpoint set to
// the checkpoint just saved (replacing an earlier resume_from_checkpoint override).
std::string resume_command(const char* program, const std::string& config_path,
                           const std::vector<std::string>& overrides,
                           const std::string& checkpoint) {
  std::string line = shell_quote(program) + " --config " + shell_quote(config_path);
  for (const auto& o : overrides)
    if (o.rfind("resume_from_checkpoint=", 0) != 0) line += " " + shell_quote(o);
  return line + " " + shell_quote("resume_from_checkpoint=" + checkpoint);
}

}  // namespace

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
    auto result = fusebox::train::run_training(cfg);
    if (result.stopped_by_signal == 0) return 0;
    const std::string& checkpoint =
        result.last_checkpoint.empty() ? result.resumed_from : result.last_checkpoint;
    if (!checkpoint.empty()) {
      fusebox::log::warn("to resume: ",
                         resume_command(argv[0], config_path, overrides, checkpoint));
    }
    return fusebox::train::exit_code_for_signal(result.stopped_by_signal);
  } catch (const fusebox::Error& e) {
    fusebox::log::clear_status_line();
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    fusebox::log::clear_status_line();
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
