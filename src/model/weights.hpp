// The parameters of an encoder checkpoint, memory-mapped from safetensors (F32 without a copy;
// F16/BF16/F64 converted to float32 once at load).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "model/config.hpp"

namespace bertscope::io {
class SafetensorsFile;
}

namespace bertscope::model {

// A read-only float32 parameter. `data` is null when the checkpoint does not have it.
struct Param {
  const float* data = nullptr;
  core::Shape shape;
  bool present() const { return data != nullptr; }
  std::int64_t size() const { return core::numel(shape); }
};

// Pre-norm layers (ModernBERT) read attn_norm before the attention (absent in layer 0: the
// identity) and out_norm before the feed-forward (its mlp_norm); their fused Wqkv [3 hidden,
// hidden] is loaded into qkv_w, and query_w / key_w / value_w are views of its three row blocks.
struct LayerParams {
  Param query_w, query_b, key_w, key_b, value_w, value_b;  // [hidden, hidden], [hidden]
  Param qkv_w, qkv_b;                                      // [3 hidden, hidden], [3 hidden]: fused (ModernBERT)
  Param attn_out_w, attn_out_b;                            // [hidden, hidden], [hidden]
  Param attn_norm_g, attn_norm_b;                          // [hidden]
  Param ffn_in_w, ffn_in_b;                                // [intermediate, hidden], [intermediate]
  Param ffn_out_w, ffn_out_b;                              // [hidden, intermediate], [hidden]
  Param out_norm_g, out_norm_b;                            // [hidden]
  // DeBERTa without share_att_key: the relative embeddings' own projections (else query/key's).
  Param pos_query_w, pos_query_b, pos_key_w, pos_key_b;    // [hidden, hidden], [hidden]
};

struct EncoderParams {
  Param word_emb, pos_emb, type_emb, emb_norm_g, emb_norm_b;  // [vocab|positions|types, embedding_dim]
  Param mapping_w, mapping_b;  // ALBERT, ELECTRA (embeddings_project): embedding_dim -> hidden [hidden, embedding_dim], [hidden]
  std::vector<LayerParams> layers;
  Param rel_emb, rel_norm_g, rel_norm_b;  // DeBERTa: [2 * span, hidden] and its optional LayerNorm
  Param final_norm_g, final_norm_b;                           // pre-norm encoders: after the last layer
  Param pooler_w, pooler_b;                                   // optional
  Param pooler_norm_g, pooler_norm_b;                         // ModernBERT's head.norm after the pooler
  Param mlm_dense_w, mlm_dense_b, mlm_norm_g, mlm_norm_b;      // optional MLM head
  Param mlm_decoder_w, mlm_decoder_b;                         // decoder tied to word_emb when absent
  Param classifier_w, classifier_b;                           // [labels, hidden], [labels], optional
  // ELECTRA's discriminator: a dense layer + hidden_act on every token before the one-output classifier.
  Param rtd_dense_w, rtd_dense_b;                             // [hidden, hidden], [hidden], optional

  bool has_embedding_mapping() const { return mapping_w.present(); }
  bool has_pooler() const { return pooler_w.present(); }
  bool has_mlm_head() const { return mlm_dense_w.present(); }
  bool has_classifier() const { return classifier_w.present(); }
};

// Which parameters belong together: a group is loaded whole or not at all.
enum class ParamGroup { encoder, pooler, mlm_head, classifier };

// One row of a family's canonical-name table: the Hugging Face name (the family's ForMaskedLM /
// ForSequenceClassification layout), the shape the config implies, and the slot it fills.
struct ParamSpec {
  std::string name;
  core::Shape shape;
  ParamGroup group;
  bool optional_in_group;  // e.g. the MLM decoder weight, tied to the word embeddings
  std::function<Param&(EncoderParams&)> slot;
};

// The full table for a config (its family's, model/arch/); heads for the architecture's head kind.
std::vector<ParamSpec> param_table(const ModelConfig& config);

// Names a tensor may carry in real checkpoints for a canonical name, most common first:
// with or without the base-model prefix ("bert."), LayerNorm weight/bias or gamma/beta, decoder
// bias spellings (the family's own list, model/arch/).
std::vector<std::string> checkpoint_names(const ModelConfig& config, const std::string& canonical);
// A group's tensors for messages, e.g. "bert.pooler.dense.*".
std::string group_name(const ModelConfig& config, ParamGroup group);

// The loaded parameters plus the mappings and buffers that back them.
class Weights {
 public:
  Weights(Weights&&) = default;
  Weights& operator=(Weights&&) = default;
  Weights(const Weights&) = delete;  // params point into this object's buffers

  // Loads model.safetensors or a sharded model.safetensors.index.json from `dir`. Every missing
  // or mis-shaped tensor is reported at once in one Error(model) naming the file.
  static Weights load(const std::filesystem::path& dir, const ModelConfig& config);
  // Parameters held in memory (a generated or trained model); keys are canonical names.
  static Weights from_tensors(const ModelConfig& config, std::map<std::string, core::Tensor> tensors);

  const EncoderParams& params() const { return params_; }
  // Copies of every parameter present, by canonical name; a tied decoder is not listed.
  std::map<std::string, core::Tensor> to_tensors(const ModelConfig& config) const;
  // The parameters of a model made by from_tensors, which training updates in place (the
  // pointers in params() stay valid). Error(internal) for memory-mapped weights.
  std::map<std::string, core::Tensor>& owned_tensors();
  std::int64_t parameter_count() const;            // distinct parameters, tied decoder counted once
  std::int64_t mapped_bytes() const;               // bytes used in place from the mapping
  std::int64_t converted_bytes() const;            // bytes converted to float32 copies
  bool mapped(const void* p) const;                // p lies in a mapped file (read-only, file-backed)
  const std::vector<std::string>& unused_tensors() const { return unused_; }  // e.g. an NSP head

 private:
  Weights() = default;
  // After the table is read: fused projections split into views, zero biases where a family has
  // none (so every layer runs one code path), shared layers pointed at their group's tensors.
  void complete(const ModelConfig& config);
  EncoderParams params_;
  std::vector<std::shared_ptr<io::SafetensorsFile>> files_;
  std::deque<core::FloatBuffer> converted_;
  std::set<const float*> synthesized_;  // zero biases of bias-free families: not parameters
  std::map<std::string, core::Tensor> owned_;
  std::vector<std::string> unused_;
  std::int64_t mapped_bytes_ = 0;
};

}  // namespace bertscope::model
