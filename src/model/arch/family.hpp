// Architecture as data: what differs between encoder families is listed here, one file per
// family (bert.cpp, roberta.cpp): the family's config.json keys and defaults, its weight table
// (Hugging Face tensor names and shapes -> canonical slots of EncoderParams) and the config it
// writes. The encoder itself (model/layers, model/encoder) reads only ModelConfig and
// EncoderParams.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.hpp"
#include "model/weights.hpp"

namespace bertscope::model::arch {

struct Family {
  std::string_view model_type;    // config.json "model_type"
  std::string_view class_prefix;  // of transformers' classes: "Bert" in BertForMaskedLM
  std::int64_t default_pad_token_id;
  // The family's flags, set after the keys every family shares were read.
  void (*configure)(ModelConfig& config);
  // Canonical tensor names (Hugging Face's, as the family's ForMaskedLM / ForSequenceClassification
  // save them), shapes and slots; heads for the config's head kind.
  std::vector<ParamSpec> (*param_table)(const ModelConfig& config);
  // Other names a tensor may carry in real checkpoints (without the base-model prefix, older
  // LayerNorm names, tied-bias spellings), most common first, the canonical one first.
  std::vector<std::string> (*checkpoint_names)(const std::string& canonical);
  // The family's keys of a config.json as transformers writes it.
  void (*write_config)(const ModelConfig& config, nlohmann::json& json);
};

// The family of a model_type; Error(model) naming `source` and listing the supported ones.
const Family& family(std::string_view model_type, const std::string& source);
const Family& family(const ModelConfig& config);
std::vector<std::string_view> supported_model_types();

// The families' own definitions (arch/bert.cpp, arch/roberta.cpp).
const Family& bert_family();
const Family& roberta_family();
const Family& xlm_roberta_family();

// Builds weight tables: the rows every post-norm BERT-layer family shares.
class TableBuilder {
 public:
  explicit TableBuilder(const ModelConfig& config) : c_(config) {}
  void add(std::string name, core::Shape shape, ParamGroup group, Param EncoderParams::*slot, bool optional = false);
  // {prefix}embeddings.* (word, position, token type, LayerNorm).
  void embeddings(const std::string& prefix);
  // {prefix}encoder.layer.{l}.* for every layer.
  void encoder_layers(const std::string& prefix);
  // A dense layer {name}.weight [out, in] and {name}.bias [out].
  void dense(const std::string& name, std::int64_t out, std::int64_t in, ParamGroup group, Param EncoderParams::*w,
             Param EncoderParams::*b);
  // A LayerNorm {name}.weight and {name}.bias [hidden].
  void norm(const std::string& name, ParamGroup group, Param EncoderParams::*g, Param EncoderParams::*b);
  std::vector<ParamSpec> take() { return std::move(table_); }

 private:
  const ModelConfig& c_;
  std::vector<ParamSpec> table_;
};

// Adds the old LayerNorm spellings (gamma/beta) after each name.
std::vector<std::string> with_legacy_norm_names(const std::vector<std::string>& names);

}  // namespace bertscope::model::arch
