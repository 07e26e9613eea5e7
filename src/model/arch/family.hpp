// Architecture as data: what differs between encoder families is listed here, one file per
// family (bert.cpp, roberta.cpp): the family's config.json keys and defaults, its weight table
// (Hugging Face tensor names and shapes -> canonical slots of EncoderParams) and the config it
// writes. The encoder itself (model/layers, model/encoder) reads only ModelConfig and
// EncoderParams.
#pragma once

#include <string>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.hpp"
#include "model/weights.hpp"

namespace bertscope::model::arch {

// A config.json key the family spells its own way ("dim" for "hidden_size").
struct KeyName {
  std::string_view common, own;
};

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
  // The shared keys (BERT's spelling) this family spells its own way.
  std::span<const KeyName> key_names = {};
  // Reads the family's own keys after configure (ALBERT's groups) and checks them; errors name
  // `source`. Null when the family has none.
  void (*read_own_keys)(ModelConfig& config, const std::string& source) = nullptr;
  // Defaults of shared keys that differ from BERT's, set before config.json is read (may be null).
  void (*defaults)(ModelConfig& config) = nullptr;
  // The family's spelling of a shared config key.
  std::string key(std::string_view common) const {
    for (const auto& k : key_names)
      if (k.common == common) return std::string(k.own);
    return std::string(common);
  }
};

// The family of a model_type; Error(model) naming `source` and listing the supported ones.
const Family& family(std::string_view model_type, const std::string& source);
const Family& family(const ModelConfig& config);
std::vector<std::string_view> supported_model_types();
// tokenizer_config.json's tokenizer_class for a WordPiece vocab.txt: the family's own class where
// transformers has one (DistilBertTokenizer returns no token_type_ids; ElectraTokenizer), else BertTokenizer.
std::string wordpiece_tokenizer_class(const ModelConfig& config);

// The families' own definitions (arch/bert.cpp, arch/roberta.cpp).
const Family& bert_family();
const Family& roberta_family();
const Family& xlm_roberta_family();
const Family& distilbert_family();
const Family& albert_family();
const Family& electra_family();
const Family& deberta_v2_family();
const Family& modernbert_family();

// The module names of one post-norm encoder layer (BERT's by default).
struct LayerNames {
  std::string_view stack = "encoder.layer";
  std::string_view query = "attention.self.query", key = "attention.self.key", value = "attention.self.value";
  std::string_view attn_out = "attention.output.dense", attn_norm = "attention.output.LayerNorm";
  std::string_view ffn_in = "intermediate.dense", ffn_out = "output.dense", out_norm = "output.LayerNorm";
};

// Builds weight tables: the rows every post-norm BERT-layer family shares.
class TableBuilder {
 public:
  explicit TableBuilder(const ModelConfig& config) : c_(config) {}
  void add(std::string name, core::Shape shape, ParamGroup group, Param EncoderParams::*slot, bool optional = false);
  // {prefix}embeddings.* (word, position, token type when the config has types, LayerNorm), as
  // wide as config.embedding_dim().
  void embeddings(const std::string& prefix);
  // {prefix}{names.stack}.{l}.* for every layer, each tensor under the family's name.
  void encoder_layers(const std::string& prefix, const LayerNames& names = LayerNames{});
  // A dense layer {name}.weight [out, in] and {name}.bias [out].
  void dense(const std::string& name, std::int64_t out, std::int64_t in, ParamGroup group, Param EncoderParams::*w,
             Param EncoderParams::*b);
  // A LayerNorm {name}.weight and {name}.bias [width] (0: hidden_size).
  void norm(const std::string& name, ParamGroup group, Param EncoderParams::*g, Param EncoderParams::*b,
            std::int64_t width = 0);
  // A row for one tensor of a layer (a slot of LayerParams in layer `layer`).
  void layer_row(std::string name, core::Shape shape, std::int64_t layer, Param LayerParams::*member);
  std::vector<ParamSpec> take() { return std::move(table_); }

 private:
  const ModelConfig& c_;
  std::vector<ParamSpec> table_;
};

// Adds the old LayerNorm spellings (gamma/beta) after each name.
std::vector<std::string> with_legacy_norm_names(const std::vector<std::string>& names);

}  // namespace bertscope::model::arch
