// ALBERT (model_type "albert"): AlbertForMaskedLM / AlbertForSequenceClassification /
// AlbertForTokenClassification / AlbertModel checkpoints. Embeddings of width embedding_size,
// mapped to hidden_size by albert.encoder.embedding_hidden_mapping_in; num_hidden_groups groups
// of inner_group_num layers whose weights every layer of the group reuses: config layer i runs
// all inner layers of group i / (num_hidden_layers / num_hidden_groups). bertscope runs (and
// traces) each inner layer as a layer of its own, so a model runs num_hidden_layers *
// inner_group_num layers, as many as transformers returns attentions for; every run layer's
// LayerParams point at its group's shared tensors, so their gradients add up over every use.
// The pooler is a Linear named "pooler" (tanh); the MLM head predictions.{dense, LayerNorm,
// decoder} works in embedding_size.
#include <fmt/format.h>

#include "io/error.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

// AlbertConfig's defaults (the xxlarge sizes) for keys a config.json leaves out.
void configure_albert(ModelConfig& c) {
  const auto& j = c.raw;
  const auto absent = [&](const char* key) { return !j.contains(key) || j[key].is_null(); };
  if (absent("vocab_size")) c.vocab_size = 30000;
  if (absent("hidden_size")) c.hidden_size = 4096;
  if (absent("num_attention_heads")) c.num_attention_heads = 64;
  if (absent("intermediate_size")) c.intermediate_size = 16384;
  if (absent("hidden_act")) c.hidden_act = "gelu_new";
  c.position_scheme = PositionScheme::from_zero;
  c.mlm_hidden_act = c.hidden_act;  // AlbertMLMHead: ACT2FN[config.hidden_act]
  c.pooler_activation = PoolerActivation::tanh;
}

void read_albert_keys(ModelConfig& c, const std::string& source) {
  c.embedding_size = config_int(c.raw, "embedding_size", 128, source, 1);
  c.num_hidden_groups = config_int(c.raw, "num_hidden_groups", 1, source, 1);
  c.inner_group_num = config_int(c.raw, "inner_group_num", 1, source, 1);
  // transformers picks group int(i / (layers / groups)); bertscope asks for equal groups, the
  // only layout ALBERT's checkpoints use.
  if (c.num_hidden_layers % c.num_hidden_groups != 0)
    fail(ErrorKind::model,
         "{}: num_hidden_layers {} is not a multiple of num_hidden_groups {} (ALBERT shares each group's layers over "
         "num_hidden_layers / num_hidden_groups layers)",
         source, c.num_hidden_layers, c.num_hidden_groups);
  c.shares_layers = true;
  c.num_hidden_layers *= c.inner_group_num;
}

std::vector<ParamSpec> albert_table(const ModelConfig& c) {
  const auto h = c.hidden_size, e = c.embedding_dim(), inter = c.intermediate_size;
  TableBuilder t(c);
  t.embeddings("albert.");
  t.dense("albert.encoder.embedding_hidden_mapping_in", h, e, ParamGroup::encoder, &EncoderParams::mapping_w,
          &EncoderParams::mapping_b);
  const auto per_group = c.config_layers() / c.num_hidden_groups;
  for (std::int64_t g = 0; g < c.num_hidden_groups; ++g)
    for (std::int64_t k = 0; k < c.inner_group_num; ++k) {
      const auto pre = fmt::format("albert.encoder.albert_layer_groups.{}.albert_layers.{}.", g, k);
      const auto layer = g * per_group * c.inner_group_num + k;  // the first run layer that uses it
      auto dense = [&](const char* module, std::int64_t out, std::int64_t in, Param LayerParams::*w,
                       Param LayerParams::*b) {
        t.layer_row(pre + module + ".weight", {out, in}, layer, w);
        t.layer_row(pre + module + ".bias", {out}, layer, b);
      };
      dense("attention.query", h, h, &LayerParams::query_w, &LayerParams::query_b);
      dense("attention.key", h, h, &LayerParams::key_w, &LayerParams::key_b);
      dense("attention.value", h, h, &LayerParams::value_w, &LayerParams::value_b);
      dense("attention.dense", h, h, &LayerParams::attn_out_w, &LayerParams::attn_out_b);
      t.layer_row(pre + "attention.LayerNorm.weight", {h}, layer, &LayerParams::attn_norm_g);
      t.layer_row(pre + "attention.LayerNorm.bias", {h}, layer, &LayerParams::attn_norm_b);
      dense("ffn", inter, h, &LayerParams::ffn_in_w, &LayerParams::ffn_in_b);
      dense("ffn_output", h, inter, &LayerParams::ffn_out_w, &LayerParams::ffn_out_b);
      t.layer_row(pre + "full_layer_layer_norm.weight", {h}, layer, &LayerParams::out_norm_g);
      t.layer_row(pre + "full_layer_layer_norm.bias", {h}, layer, &LayerParams::out_norm_b);
    }
  t.dense("albert.pooler", h, h, ParamGroup::pooler, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
  const auto mlm = ParamGroup::mlm_head;
  t.dense("predictions.dense", e, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
  t.norm("predictions.LayerNorm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b, e);
  t.add("predictions.decoder.weight", {c.vocab_size, e}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
  t.add("predictions.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  t.dense("classifier", c.num_labels, h, ParamGroup::classifier, &EncoderParams::classifier_w,
          &EncoderParams::classifier_b);
  return t.take();
}

std::vector<std::string> albert_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical == "predictions.bias") bases.push_back("predictions.decoder.bias");
  if (canonical.starts_with("albert.")) bases.push_back(canonical.substr(7));  // an AlbertModel saved alone
  return with_legacy_norm_names(bases);
}

void write_albert_config(const ModelConfig& c, nlohmann::json& j) {
  j["num_hidden_layers"] = c.config_layers();
  j["embedding_size"] = c.embedding_dim();
  j["num_hidden_groups"] = c.num_hidden_groups;
  j["inner_group_num"] = c.inner_group_num;
  j.erase("classifier_dropout");
  j.erase("use_cache");
  j["classifier_dropout_prob"] = j.value("classifier_dropout_prob", 0.1);
  j["bos_token_id"] = j.value("bos_token_id", 2);
  j["eos_token_id"] = j.value("eos_token_id", 3);
}

}  // namespace

const Family& albert_family() {
  static const Family f{"albert",          "Albert",           0, configure_albert, albert_table, albert_names,
                        write_albert_config, {},               read_albert_keys};
  return f;
}

}  // namespace bertscope::model::arch
