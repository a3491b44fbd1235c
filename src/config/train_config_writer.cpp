// TrainConfig -> YAML, so a run can save the config it actually used (after overrides and
// defaults) next to its checkpoints; reading that file back gives the same TrainConfig.
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <string>

#include "config/train_config.h"

namespace fusebox::config {
namespace {

// Shortest text that reads back to the same double: 0.9 stays "0.9", not "0.90000000000000002".
std::string shortest(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// Strings are always quoted: a model path such as "1e3" or "null" must not read back as a
// number or as null.
void put_string(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

void put_double(YAML::Emitter& out, const char* key, double value) {
  out << YAML::Key << key << YAML::Value << shortest(value);
}

}  // namespace

std::string to_yaml(const TrainConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  put_string(out, "model", cfg.model);
  out << YAML::Key << "kernel_config" << YAML::Value << YAML::BeginMap;
  put_string(out, "name", cfg.kernel_config.name);
  put_string(out, "include_kernels", cfg.kernel_config.include_kernels);
  put_string(out, "device", cfg.kernel_config.device);
  out << YAML::Key << "strict" << YAML::Value << cfg.kernel_config.strict;
  out << YAML::EndMap;
  put_string(out, "train_dataset", cfg.train_dataset);
  put_string(out, "eval_dataset", cfg.eval_dataset);
  out << YAML::Key << "synthetic" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_digits" << YAML::Value << cfg.synthetic.max_digits;
  out << YAML::Key << "train_size" << YAML::Value << cfg.synthetic.train_size;
  out << YAML::Key << "eval_size" << YAML::Value << cfg.synthetic.eval_size;
  out << YAML::EndMap;
  put_string(out, "tokenizer", cfg.tokenizer);
  put_string(out, "text_field", cfg.text_field);
  out << YAML::Key << "packing" << YAML::Value << cfg.packing;
  put_string(out, "output_dir", cfg.output_dir);
  out << YAML::Key << "micro_batch_size" << YAML::Value << cfg.micro_batch_size;
  out << YAML::Key << "gradient_accumulation_steps" << YAML::Value
      << cfg.gradient_accumulation_steps;
  out << YAML::Key << "cutoff_len" << YAML::Value << cfg.cutoff_len;
  put_double(out, "learning_rate", cfg.learning_rate);
  out << YAML::Key << "max_steps" << YAML::Value << cfg.max_steps;
  put_double(out, "num_train_epochs", cfg.num_train_epochs);
  out << YAML::Key << "warmup_steps" << YAML::Value << cfg.warmup_steps;
  put_string(out, "lr_scheduler_type", cfg.lr_scheduler_type);
  put_double(out, "weight_decay", cfg.weight_decay);
  put_double(out, "adam_beta1", cfg.adam_beta1);
  put_double(out, "adam_beta2", cfg.adam_beta2);
  put_double(out, "adam_epsilon", cfg.adam_epsilon);
  put_double(out, "max_grad_norm", cfg.max_grad_norm);
  out << YAML::Key << "seed" << YAML::Value << cfg.seed;
  out << YAML::Key << "logging_steps" << YAML::Value << cfg.logging_steps;
  out << YAML::Key << "eval_steps" << YAML::Value << cfg.eval_steps;
  out << YAML::Key << "bf16" << YAML::Value << cfg.bf16;
  out << YAML::Key << "enable_activation_checkpointing" << YAML::Value
      << cfg.enable_activation_checkpointing;
  put_string(out, "attn_implementation", cfg.attn_implementation);
  out << YAML::Key << "threads" << YAML::Value;
  if (cfg.threads == 0) {
    out << "auto";
  } else {
    out << cfg.threads;
  }
  put_string(out, "log_level", cfg.log_level);
  out << YAML::Key << "save_steps" << YAML::Value << cfg.save_steps;
  out << YAML::Key << "save_total_limit" << YAML::Value << cfg.save_total_limit;
  put_string(out, "resume_from_checkpoint", cfg.resume_from_checkpoint);
  out << YAML::Key << "overwrite_output_dir" << YAML::Value << cfg.overwrite_output_dir;
  put_string(out, "run_name", cfg.run_name);
  // Unquoted: read back through the same choice check as the file's own value.
  out << YAML::Key << "progress_bar" << YAML::Value << cfg.progress_bar;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace fusebox::config
