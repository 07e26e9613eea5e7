// BERT (model_type "bert"): BertForMaskedLM / BertForSequenceClassification /
// BertForTokenClassification / BertModel checkpoints.
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

void configure_bert(ModelConfig& c) {
  c.position_scheme = PositionScheme::from_zero;
  c.mlm_hidden_act = c.hidden_act;  // BertPredictionHeadTransform uses config.hidden_act
}

std::vector<ParamSpec> bert_table(const ModelConfig& c) {
  const auto h = c.hidden_size;
  TableBuilder t(c);
  t.embeddings("bert.");
  t.encoder_layers("bert.");
  t.dense("bert.pooler.dense", h, h, ParamGroup::pooler, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
  const auto mlm = ParamGroup::mlm_head;
  t.dense("cls.predictions.transform.dense", h, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
  t.norm("cls.predictions.transform.LayerNorm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
  t.add("cls.predictions.decoder.weight", {c.vocab_size, h}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
  t.add("cls.predictions.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  t.dense("classifier", c.num_labels, h, ParamGroup::classifier, &EncoderParams::classifier_w,
          &EncoderParams::classifier_b);
  return t.take();
}

std::vector<std::string> bert_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical == "cls.predictions.bias") bases.push_back("cls.predictions.decoder.bias");
  if (canonical.starts_with("bert.")) bases.push_back(canonical.substr(5));  // a BertModel saved alone
  return with_legacy_norm_names(bases);
}

void write_bert_config(const ModelConfig&, nlohmann::json& j) { j["position_embedding_type"] = "absolute"; }

}  // namespace

const Family& bert_family() {
  static const Family f{"bert", "Bert", 0, configure_bert, bert_table, bert_names, write_bert_config};
  return f;
}

}  // namespace bertscope::model::arch
