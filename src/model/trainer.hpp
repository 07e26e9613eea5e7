// Training loops: masked-language-model pre-training and sequence-classification fine-tuning,
// with AdamW, dropout, checkpoints that are Hugging Face folders plus optimizer state, exact
// resumption (data, dropout and updates depend only on the seed and the step), and progress.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/safetensors.hpp"
#include "model/config.hpp"
#include "model/mlm_eval.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"
#include "model/pretraining.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::model {

struct TrainProgress {
  std::int64_t step = 0, total = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, seconds_left = 0;
};
using ProgressFn = std::function<void(const TrainProgress&)>;

struct MlmTrainOptions {
  MlmInstanceOptions data;
  std::int64_t batch = 32;
  std::int64_t steps = 1000;
  AdamWOptions adam;
  std::int64_t checkpoint_every = 200;
  std::int64_t eval_instances = 256;  // held-out sequences (model/mlm_eval.hpp's protocol)
  std::int64_t stop_after = 0;  // stop (after checkpointing) once this step is reached, as an interruption would; 0: never
  // bf16: the encoder's matrix products (forward and backward) take bfloat16 inputs; master
  // weights, optimizer state, norms, softmax, losses and every reduction stay float32.
  Precision precision = Precision::f32;
  // Keep a loadable Hugging Face folder dir/steps/step-NNNNNN (weights in keep_dtype, plus
  // step.json: step, tokens_seen, loss) every keep_every steps; 0: none. Not a training option:
  // a resumed run may change it without changing the result.
  std::int64_t keep_every = 0;
  io::DType keep_dtype = io::DType::f32;
};

struct MlmTrainResult {
  std::int64_t steps = 0, tokens_seen = 0, start_step = 0;
  double last_loss = 0;
  std::optional<MlmEvalResult> eval;  // on the held-out corpus, at the end
};

// The held-out evaluation a training run does: the protocol's fixed seed (not the training
// seed, so `evaluate mlm` on the saved folder reproduces it), the run's sequence length and
// masking rate, and the 80/10/10 figure beside it.
MlmEvalOptions mlm_eval_options(const MlmTrainOptions& options);

// Trains in `dir`. If dir/checkpoint holds a checkpoint it resumes from it (and checks that
// the options match); otherwise it starts from `init`. Writes dir/checkpoint every
// checkpoint_every steps and at the end, and dir/steps/step-NNNNNN every keep_every steps
// (kept_step_folder).
MlmTrainResult train_mlm(const ModelConfig& config, std::map<std::string, core::Tensor> init, const Tokenizer& tokenizer,
                         const MlmCorpus& train, const MlmCorpus* held_out, const MlmTrainOptions& options,
                         const std::filesystem::path& dir, const ProgressFn& progress = {});

struct ClassifyExample {
  std::vector<std::int32_t> ids, type_ids;
  std::int64_t label = 0;  // class, or ignored for regression
  double value = 0;        // regression target
};

struct ClassifyTrainOptions {
  std::int64_t batch = 32;
  std::int64_t epochs = 3;
  AdamWOptions adam;  // total_steps is set from the data and epochs
  std::uint64_t seed = 0;
  std::int64_t checkpoint_every = 200;
  bool regression = false;
  std::int64_t stop_after = 0;  // as in MlmTrainOptions
  Precision precision = Precision::f32;  // as in MlmTrainOptions
};

struct ClassifyTrainResult {
  std::int64_t steps = 0, start_step = 0;
  double last_loss = 0;
  std::vector<std::int64_t> dev_predictions;  // class per dev example (classification)
  std::vector<double> dev_values;             // regression outputs
};

ClassifyTrainResult train_classifier(const ModelConfig& config, std::map<std::string, core::Tensor> init,
                                     const Tokenizer& tokenizer, const std::vector<ClassifyExample>& train,
                                     const std::vector<ClassifyExample>& dev, const ClassifyTrainOptions& options,
                                     const std::filesystem::path& dir, const ProgressFn& progress = {});

// Classifier predictions (argmax, or the single output for regression) in batches.
std::vector<std::vector<float>> classifier_logits(const ModelConfig& config,
                                                  const std::map<std::string, core::Tensor>& params,
                                                  const std::vector<ClassifyExample>& examples, std::int64_t batch);

// dir/steps/step-000500: where train_mlm keeps the model of a step.
std::filesystem::path kept_step_folder(const std::filesystem::path& dir, std::int64_t step);

// Writes a loadable Hugging Face folder: config.json, model.safetensors (dtype), vocab.txt and
// tokenizer_config.json from the tokenizer.
void save_hf_folder(const ModelConfig& config, const std::map<std::string, core::Tensor>& params,
                    const Tokenizer& tokenizer, const std::filesystem::path& dir, io::DType dtype = io::DType::f32);

// Parameters for a new head on a pre-trained encoder, initialised as transformers does
// (N(0, initializer_range) weights, zero biases).
void add_classifier_head(const ModelConfig& config, std::map<std::string, core::Tensor>& params, std::uint64_t seed);

}  // namespace bertscope::model
