// RoBERTa and XLM-RoBERTa (model_type "roberta", "xlm-roberta"): BERT's encoder layers under
// "roberta.", positions counted from padding_idx + 1, an MLM head lm_head.* with exact GELU, and
// in ForSequenceClassification a head classifier.dense -> tanh -> classifier.out_proj on the
// first token, which fills the pooler and classifier slots (ForMaskedLM and
// ForSequenceClassification have no roberta.pooler). XLM-R differs only in its names.
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

void configure_roberta(ModelConfig& c) {
  c.position_scheme = PositionScheme::after_padding;
  c.mlm_hidden_act = "gelu";  // RobertaLMHead calls gelu whatever hidden_act says
}

std::vector<ParamSpec> roberta_table(const ModelConfig& c) {
  const auto h = c.hidden_size;
  TableBuilder t(c);
  t.embeddings("roberta.");
  t.encoder_layers("roberta.");
  const bool sequence_head = c.head_kind() == HeadKind::sequence_classification;
  // The classification head's dense + tanh is a pooler that reads the first token.
  t.dense(sequence_head ? "classifier.dense" : "roberta.pooler.dense", h, h, ParamGroup::pooler,
          &EncoderParams::pooler_w, &EncoderParams::pooler_b);
  const auto mlm = ParamGroup::mlm_head;
  t.dense("lm_head.dense", h, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
  t.norm("lm_head.layer_norm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
  t.add("lm_head.decoder.weight", {c.vocab_size, h}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
  t.add("lm_head.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  t.dense(sequence_head ? "classifier.out_proj" : "classifier", c.num_labels, h, ParamGroup::classifier,
          &EncoderParams::classifier_w, &EncoderParams::classifier_b);
  return t.take();
}

std::vector<std::string> roberta_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical == "lm_head.bias") bases.push_back("lm_head.decoder.bias");
  if (canonical.starts_with("roberta.")) bases.push_back(canonical.substr(8));  // a RobertaModel saved alone
  return with_legacy_norm_names(bases);
}

void write_roberta_config(const ModelConfig& c, nlohmann::json& j) {
  j["position_embedding_type"] = "absolute";
  j["bos_token_id"] = c.raw.value("bos_token_id", 0);
  j["eos_token_id"] = c.raw.value("eos_token_id", 2);
}

}  // namespace

const Family& roberta_family() {
  static const Family f{"roberta", "Roberta", 1, configure_roberta, roberta_table, roberta_names, write_roberta_config};
  return f;
}

const Family& xlm_roberta_family() {
  static const Family f{"xlm-roberta", "XLMRoberta", 1, configure_roberta, roberta_table, roberta_names,
                        write_roberta_config};
  return f;
}

}  // namespace bertscope::model::arch
