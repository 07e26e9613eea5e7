// Random-weight Hugging Face BERT folders (config.json, model.safetensors with transformers'
// exact tensor names, vocab.txt, tokenizer_config.json) that transformers loads unchanged.
// Tests get their models here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/tensor.hpp"
#include "io/safetensors.hpp"
#include "model/config.hpp"

namespace bertscope::model {

struct GeneratorOptions {
  std::int64_t layers = 2;
  std::int64_t hidden = 96;
  std::int64_t heads = 3;
  std::int64_t intermediate = 200;
  std::int64_t max_positions = 512;
  std::int64_t type_vocab = 2;
  std::int64_t labels = 0;       // 0: BertForMaskedLM; K > 0: BertForSequenceClassification with K labels
  std::string hidden_act = "gelu";
  std::filesystem::path vocab;   // vocab.txt to copy; its size sets vocab_size
  std::uint64_t seed = 0;
  // transformers initialises weights N(0, initializer_range), biases 0, LayerNorm (1, 0).
  // Larger values make attention sharp and biases/norms non-trivial, so parity tests see bugs
  // that near-uniform attention would hide.
  double init_std = 0.02;
  double bias_std = 0.0;
  double norm_std = 0.0;
  io::DType dtype = io::DType::f32;  // f32, f16 or bf16
  std::optional<bool> lowercase;     // unset: uncased unless the vocabulary has upper-case tokens
};

// The canonical-name tensors of a random model (as Weights::from_tensors takes them).
std::map<std::string, core::Tensor> random_parameters(const ModelConfig& config, const GeneratorOptions& options);
ModelConfig generator_config(const GeneratorOptions& options, std::int64_t vocab_size);

// Writes a complete model folder to `out` (created; must not exist or be empty).
void make_model(const GeneratorOptions& options, const std::filesystem::path& out);

// Writes config.json + model.safetensors (canonical names, transformers' save layout: the tied
// MLM decoder is not stored) for in-memory parameters, e.g. after training.
void save_model_files(const ModelConfig& config, const std::map<std::string, core::Tensor>& params,
                      const std::filesystem::path& dir, io::DType dtype = io::DType::f32);

}  // namespace bertscope::model
