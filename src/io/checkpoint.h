// Hugging Face model directories in and out: config.json plus safetensors weights named as
// transformers names them, so a directory saved here loads with
// AutoModelForCausalLM.from_pretrained and a downloaded Qwen3 loads here.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "model/qwen3.h"

namespace fusebox::io {

struct CheckpointSaveOptions {
  // Store the weights in this dtype (and say so in config.json); nullopt keeps each
  // parameter's own.
  std::optional<torch::ScalarType> dtype;
  uint64_t max_shard_bytes = 5'000'000'000;  // transformers' default "5GB"
  // Called with each file's path once it is written into the staging directory. Tests throw
  // from it (or _exit) to check that a failed save leaves the previous checkpoint intact.
  std::function<void(const std::string& path)> after_file_written;
  // Called with the staging directory once the model files are in it, before the commit:
  // a training checkpoint writes its optimizer and trainer state there, so that they appear
  // together with the weights or not at all.
  std::function<void(const std::string& staging_dir)> write_extra_files;
};

// Writes config.json and the weights into `dir`, atomically: everything goes into
// `<dir>.tmp-<pid>`, is fsynced, and replaces `dir` in one rename (see StagedDirectory in
// checkpoint_fs.h for what a crash can leave behind: never a partial `dir`). An existing
// `dir` is replaced as a whole, so files the save does not write (a tokenizer) are not kept.
// Refuses to replace a non-empty directory that holds no config.json and no weights: a
// mistyped path must not delete someone's data. Throws fusebox::DataError.
void save_hf_checkpoint(const model::Qwen3ForCausalLM& model, const std::string& dir,
                        const CheckpointSaveOptions& options = {});

// Puts the model files of the model directory `from` (config.json and the weights, single
// or sharded) into the directory `to`, leaving its other files alone: the final model of a
// run goes into output_dir beside its checkpoint-* directories, which a whole-directory
// replace would delete. Each file is hard-linked (copied where links fail) to a temporary
// name and renamed over its target, config.json last, so every file is whole at any time;
// weight files of an earlier save that the new set does not have (other shards) are removed.
// `from` should be a complete, committed directory. Throws DataError.
void publish_hf_model(const std::string& from, const std::string& to);

// Copies the weights in `dir` (model.safetensors or a sharded index) into `model`'s
// parameters of the same names, converted to each parameter's dtype and device. Every
// name, shape and dtype is checked before the first copy, so on error the model is
// unchanged. Errors (fusebox::DataError) name the file and tensors: missing or unexpected
// tensors (a few listed, and how many), a shape that disagrees with the model's config.
// Ignored: `*.rotary_emb.inv_freq` (a buffer older transformers saved) and, in a model with
// tied embeddings, `lm_head.weight` (debug log).
void load_hf_weights(model::Qwen3ForCausalLM& model, const std::string& dir);

// The weights file of a model directory: model.safetensors, else
// model.safetensors.index.json (transformers' order). Throws DataError naming what the
// directory holds instead (a pytorch_model.bin is called out: fusebox reads safetensors only).
std::string find_model_weights(const std::string& dir);
bool has_weights(const std::string& dir);

}  // namespace fusebox::io
