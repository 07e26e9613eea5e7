// Random-weight Hugging Face encoder folders (config.json with the family's keys,
// model.safetensors with transformers' exact tensor names, the tokenizer files) that
// transformers loads unchanged. Tests get their models here.
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
  std::string family = "bert";  // model_type: bert, roberta, xlm-roberta, distilbert, albert, deberta-v2, electra or modernbert
  std::int64_t layers = 2;
  std::int64_t hidden = 96;
  std::int64_t heads = 3;
  std::int64_t intermediate = 200;
  std::int64_t max_positions = 0;  // 0: the family's (BERT 512, RoBERTa 514 = 512 tokens after padding_idx 1)
  std::int64_t type_vocab = 0;     // 0: the family's (BERT 2, RoBERTa 1)
  std::int64_t labels = 0;       // 0: ...ForMaskedLM; K > 0: ...ForSequenceClassification with K labels
  std::string hidden_act = "gelu";
  bool sinusoidal_positions = false;  // DistilBERT's sinusoidal_pos_embds: the fixed sinusoid table
  // ALBERT and ELECTRA: the embeddings' width (0: half the hidden size); ALBERT's groups (0: two
  // where the layer count is even) and inner layers (0: one).
  std::int64_t embedding_size = 0, hidden_groups = 0, inner_group_num = 0;
  bool discriminator = false;  // ELECTRA: an ElectraForPreTraining (replaced-token detection) model
  // DeBERTa-v2's relative attention; the defaults are DeBERTa-v3's published configs.
  struct Deberta {
    std::int64_t position_buckets = 256;      // <= 0: none (v2: distances clamped to the span)
    std::int64_t max_relative_positions = -1;  // -1: max_position_embeddings
    std::string pos_att_type = "p2c|c2p";
    bool share_att_key = true;                 // false: pos_key_proj / pos_query_proj of their own
    std::string norm_rel_ebd = "layer_norm";
    bool position_biased_input = false;        // true: an absolute position table too (v2)
  } deberta;
  // ModernBERT's layout; the defaults are ModernBertConfig's.
  struct Modernbert {
    std::int64_t local_attention = 128;
    std::int64_t global_every = 3;
    double global_theta = 160000.0, local_theta = 10000.0;
    std::string pooling = "cls";
    bool biases = false;  // norm_bias, attention_bias, mlp_bias and classifier_bias all true
  } modernbert;
  // The vocabulary, one of: a vocab.txt to copy (BERT); a folder whose tokenizer files are copied
  // (tokenizer.json, vocab.json + merges.txt, sentencepiece.bpe.model, ...); or only a size.
  // The tokenizer's size sets vocab_size.
  std::filesystem::path vocab;
  std::filesystem::path tokenizer;
  std::int64_t vocab_size = 0;
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
