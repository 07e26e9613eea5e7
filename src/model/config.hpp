// The architecture of an encoder checkpoint, read from (and written to) a Hugging Face
// config.json. Neutral across families: what a family changes is data here (position scheme,
// head activation, ...) set by its definition in model/arch/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kernels.hpp"

namespace bertscope::model {

// Which task head the checkpoint's architecture puts on the encoder.
// replaced_token_detection: ELECTRA's discriminator (ElectraForPreTraining), one logit per token.
enum class HeadKind { none, masked_lm, sequence_classification, token_classification, replaced_token_detection };

// How position ids are numbered: BERT counts from 0; RoBERTa counts real tokens from
// padding_idx + 1 and gives padding tokens padding_idx (cumsum(ids != pad) * (ids != pad) + pad).
enum class PositionScheme { from_zero, after_padding };

// The activation of the pooler / classification head's dense layer on the first token: tanh
// (BERT's pooler, RoBERTa's classification head), ReLU (DistilBERT's pre_classifier), erf GELU
// (DeBERTa's ContextPooler, pooler_hidden_act; ELECTRA's classification head).
enum class PoolerActivation { tanh, relu, gelu };

// Where the LayerNorms sit: after each residual sum (BERT, RoBERTa), or before each branch with
// a final norm after the last layer (ModernBERT: x + attn(norm1(x)), then + mlp(norm2(.))).
enum class NormPlacement { post, pre };

// What the classification head reads: the first token (BERT's pooler) or the mean over the
// input's tokens (ModernBERT's classifier_pooling "mean").
enum class Pooling { first, mean };

struct ModelConfig {
  std::string model_type = "bert";
  std::int64_t vocab_size = 30522;
  std::int64_t hidden_size = 768;
  // The layers the encoder runs. ALBERT's config.json num_hidden_layers times its
  // inner_group_num: every inner layer of a group runs (and is traced) on its own.
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;  // 0: the family has no token type embeddings (DistilBERT)
  std::int64_t pad_token_id = 0;
  PositionScheme position_scheme = PositionScheme::from_zero;
  NormPlacement norm_placement = NormPlacement::post;
  std::string mlm_hidden_act = "gelu";  // the MLM head's activation (BERT: hidden_act; RoBERTa: gelu)
  PoolerActivation pooler_activation = PoolerActivation::tanh;
  // DistilBERT's sinusoidal_pos_embds: the position table is the fixed sinusoid (stored anyway).
  bool sinusoidal_positions = false;
  // ALBERT, ELECTRA: embeddings of width embedding_size mapped to hidden_size by a linear layer
  // (0: no mapping, embeddings as wide as the hidden states; ELECTRA has the mapping,
  // embeddings_project, only where embedding_size differs from hidden_size), and (ALBERT) layers
  // shared in num_hidden_groups groups of inner_group_num layers each.
  std::int64_t embedding_size = 0;
  bool shares_layers = false;
  std::int64_t num_hidden_groups = 1;
  std::int64_t inner_group_num = 1;
  double initializer_range = 0.02;
  // DeBERTa-v2/v3's disentangled attention (model/arch/deberta.cpp): scores add content->position
  // and position->content terms read from relative-position embeddings at log-bucketed distances.
  struct RelativeAttention {
    bool enabled = false;                 // relative_attention
    std::int64_t max_relative_positions = 0;  // -1 in config.json means max_position_embeddings
    std::int64_t position_buckets = 0;    // <= 0: no buckets, distances clamped to the span
    bool c2p = false, p2c = false;        // pos_att_type
    bool share_att_key = false;           // positions projected by the layer's own query/key
    bool norm_rel_embeddings = false;     // norm_rel_ebd contains "layer_norm"
    // Embeddings of 2 * span distances; span = buckets, or max_relative_positions without.
    std::int64_t span() const { return position_buckets > 0 ? position_buckets : max_relative_positions; }
    // 1 + the number of position terms named in pos_att_type: the scores divide by
    // sqrt(head_dim * factor) (counted even when relative_attention is off, as transformers does).
    int scale_factor = 1;
  } relative;
  bool absolute_positions = true;  // DeBERTa's position_biased_input: a position table is added
  bool mask_embeddings = false;    // DeBERTa multiplies the embeddings by the attention mask
  bool mask_query_rows = false;    // DeBERTa masks padded query rows too: their probabilities are uniform 1/N
  bool legacy_mlm_head = true;     // DeBERTa's legacy: cls.predictions.* (else lm_predictions.lm_head.*)
  // ModernBERT (model/arch/modernbert.cpp): rotary positions, sliding-window attention on the
  // layers that are not global, a gated (GeGLU) feed-forward, a norm after the pooler's
  // activation, and the final norm (NormPlacement::pre).
  struct Rotary {
    bool enabled = false;
    double global_theta = 160000.0, local_theta = 10000.0;  // rope_theta of full / sliding layers
  } rotary;
  std::int64_t local_attention = 0;  // a sliding layer's window: |i - j| <= local_attention / 2
  std::vector<bool> sliding_layers;  // per layer: sliding-window attention (empty: none)
  bool gated_ffn = false;            // ffn_in gives [a, g] (2 x intermediate): act(a) * g
  Pooling pooling = Pooling::first;
  bool pooler_norm = false;          // LayerNorm after the pooler's activation (ModernBERT's head.norm)
  std::vector<std::string> architectures;
  std::map<std::int64_t, std::string> id2label;  // empty when the config names no labels
  std::int64_t num_labels = 2;
  std::string problem_type;  // "", "single_label_classification", "regression", ...
  nlohmann::json raw;        // the whole file, so keys bertscope does not use survive a rewrite

  bool has_token_types() const { return type_vocab_size > 0; }
  // The classifier reads every token (token classification, replaced-token detection), not the pooler.
  bool per_token_head() const {
    return head_kind() == HeadKind::token_classification || head_kind() == HeadKind::replaced_token_detection;
  }
  // The classifier's outputs per position: num_labels, or one replaced-token logit.
  std::int64_t classifier_outputs() const {
    return head_kind() == HeadKind::replaced_token_detection ? 1 : num_labels;
  }
  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool sliding(std::int64_t layer) const {
    return !sliding_layers.empty() && sliding_layers[static_cast<std::size_t>(layer)];
  }
  // A layer's rotary theta (0: no rotary positions) and attention window half-width (-1: all keys).
  double rope_theta(std::int64_t layer) const {
    return !rotary.enabled ? 0.0 : sliding(layer) ? rotary.local_theta : rotary.global_theta;
  }
  std::int64_t window_half(std::int64_t layer) const { return sliding(layer) ? local_attention / 2 : -1; }
  // ALBERT always maps (its checkpoints hold embedding_hidden_mapping_in even where the widths
  // agree); ELECTRA only where embedding_size differs from hidden_size (no embeddings_project).
  bool has_embedding_mapping() const {
    return embedding_size > 0 && (model_type != "electra" || embedding_size != hidden_size);
  }
  // The width of the embedding tables (and of given word embeddings).
  std::int64_t embedding_dim() const { return embedding_size > 0 ? embedding_size : hidden_size; }
  // The layers config.json counts (ALBERT: each runs its group's inner_group_num layers).
  std::int64_t config_layers() const { return num_hidden_layers / inner_group_num; }
  // The run layer whose weights `layer` shares: itself, except in ALBERT where layer
  // i * inner_group_num + k runs inner layer k of group g = i / (layers / groups), whose
  // weights sit in the first run layer of that group and inner index.
  std::int64_t shared_layer(std::int64_t layer) const;
  core::Activation activation() const;
  core::Activation mlm_activation() const;
  // The head implied by `architectures` (first entry: ...ForSequenceClassification,
  // ...ForTokenClassification, ...Model); masked_lm when none is named.
  HeadKind head_kind() const;
  // The longest input the position table allows.
  std::int64_t max_tokens() const;
  // The position id of every token of an input.
  std::vector<std::int32_t> position_ids(const std::vector<std::int32_t>& ids) const;
  std::string label(std::int64_t id) const;  // id2label entry or "LABEL_{id}"
};

// DistilBERT's fixed position table: enc[p][j] = p / 10000^(2 floor(j/2) / dim) in float64,
// sin on even and cos on odd columns, rounded to float; [positions, dim] row-major.
std::vector<float> sinusoidal_position_table(std::int64_t positions, std::int64_t dim);

// Reads and validates config.json; errors name the file and the key.
ModelConfig load_config(const std::filesystem::path& config_json);
ModelConfig parse_config(const nlohmann::json& json, const std::string& source_name);
// An integer key of a config (fallback when absent or null), at least min_value; errors name
// the source and the key.
std::int64_t config_int(const nlohmann::json& json, const char* key, std::int64_t fallback, const std::string& source,
                        std::int64_t min_value);

// A boolean, number or string key of a config (fallback when absent or null); errors name the
// source and the key.
bool config_bool(const nlohmann::json& json, const char* key, bool fallback, const std::string& source);
double config_double(const nlohmann::json& json, const char* key, double fallback, const std::string& source);
std::string config_string(const nlohmann::json& json, const char* key, const std::string& fallback,
                          const std::string& source);

// A config.json as transformers writes it for this architecture.
nlohmann::json config_to_json(const ModelConfig& config);

}  // namespace bertscope::model
