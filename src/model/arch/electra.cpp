// ELECTRA (model_type "electra"): ElectraForMaskedLM (the generator) / ElectraForPreTraining (the
// discriminator) / ElectraForSequenceClassification / ElectraForTokenClassification / ElectraModel
// checkpoints. BERT's embeddings in embedding_size dims, then electra.embeddings_project [hidden,
// embedding_size] when the widths differ, then BERT's encoder layers under "electra."; no pooler.
// Heads: the generator's generator_predictions.dense [E, H] -> gelu -> LayerNorm [E] ->
// generator_lm_head [V, E] (tied to the word embeddings); the discriminator's
// discriminator_predictions.dense -> hidden_act -> dense_prediction [1, H] on every token; the
// classification head classifier.dense -> gelu -> classifier.out_proj on the first token, which
// fills the pooler (GELU) and classifier slots.
#include "io/error.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

// ElectraConfig's defaults (electra-small) where they differ from BERT's, for keys a config.json
// leaves out.
void apply_electra_defaults(ModelConfig& c) {
  const auto absent = [&](const char* key) { return !c.raw.contains(key) || c.raw[key].is_null(); };
  if (absent("hidden_size")) c.hidden_size = 256;
  if (absent("num_attention_heads")) c.num_attention_heads = 4;
  if (absent("intermediate_size")) c.intermediate_size = 1024;
}

void configure_electra(ModelConfig& c) {
  apply_electra_defaults(c);
  c.mlm_hidden_act = "gelu";                     // ElectraGeneratorPredictions: get_activation("gelu")
  c.pooler_activation = PoolerActivation::gelu;  // ElectraClassificationHead: gelu, not BERT's tanh
}

void read_electra_keys(ModelConfig& c, const std::string& source) {
  c.embedding_size = config_int(c.raw, "embedding_size", 128, source, 1);
}

std::vector<ParamSpec> electra_table(const ModelConfig& c) {
  const auto h = c.hidden_size, e = c.embedding_dim();
  TableBuilder t(c);
  t.embeddings("electra.");
  if (c.has_embedding_mapping())
    t.dense("electra.embeddings_project", h, e, ParamGroup::encoder, &EncoderParams::mapping_w,
            &EncoderParams::mapping_b);
  t.encoder_layers("electra.");
  const auto mlm = ParamGroup::mlm_head;
  t.dense("generator_predictions.dense", e, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
  t.norm("generator_predictions.LayerNorm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b, e);
  t.add("generator_lm_head.weight", {c.vocab_size, e}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
  t.add("generator_lm_head.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  const auto cls = ParamGroup::classifier;
  switch (c.head_kind()) {
    case HeadKind::sequence_classification:
      t.dense("classifier.dense", h, h, ParamGroup::pooler, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
      t.dense("classifier.out_proj", c.num_labels, h, cls, &EncoderParams::classifier_w, &EncoderParams::classifier_b);
      break;
    case HeadKind::token_classification:
      t.dense("classifier", c.num_labels, h, cls, &EncoderParams::classifier_w, &EncoderParams::classifier_b);
      break;
    case HeadKind::replaced_token_detection:
      t.dense("discriminator_predictions.dense", h, h, cls, &EncoderParams::rtd_dense_w, &EncoderParams::rtd_dense_b);
      t.dense("discriminator_predictions.dense_prediction", 1, h, cls, &EncoderParams::classifier_w,
              &EncoderParams::classifier_b);
      break;
    default: break;  // ElectraModel, ElectraForMaskedLM: no classifier
  }
  return t.take();
}

std::vector<std::string> electra_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical.starts_with("electra.")) bases.push_back(canonical.substr(8));  // an ElectraModel saved alone
  return with_legacy_norm_names(bases);
}

void write_electra_config(const ModelConfig& c, nlohmann::json& j) {
  j["embedding_size"] = c.embedding_dim();
  j["summary_type"] = j.value("summary_type", "first");
  j["summary_use_proj"] = j.value("summary_use_proj", true);
  j["summary_activation"] = j.value("summary_activation", "gelu");
  j["summary_last_dropout"] = j.value("summary_last_dropout", 0.1);
}

}  // namespace

const Family& electra_family() {
  static const Family f{"electra", "Electra", 0, configure_electra, electra_table, electra_names,
                        write_electra_config, {}, read_electra_keys};
  return f;
}

}  // namespace bertscope::model::arch
