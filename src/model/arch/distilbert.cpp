// DistilBERT (model_type "distilbert"): DistilBertForMaskedLM / DistilBertForSequenceClassification /
// DistilBertForTokenClassification / DistilBertModel checkpoints. Its own config keys (dim,
// n_layers, n_heads, hidden_dim, activation), no token type embeddings, every LayerNorm's eps fixed
// at 1e-12, layers under "distilbert.transformer.layer.{l}" with their own names, an MLM head
// vocab_transform -> activation -> vocab_layer_norm -> vocab_projector, and in
// ForSequenceClassification pre_classifier -> ReLU -> classifier on the first token, which fills
// the pooler (with ReLU) and classifier slots. sinusoidal_pos_embds makes the position table the
// fixed sinusoid; checkpoints store it all the same.
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

constexpr KeyName kDistilbertKeys[] = {{"hidden_size", "dim"},
                                       {"num_hidden_layers", "n_layers"},
                                       {"num_attention_heads", "n_heads"},
                                       {"intermediate_size", "hidden_dim"},
                                       {"hidden_act", "activation"}};

void configure_distilbert(ModelConfig& c) {
  c.position_scheme = PositionScheme::from_zero;
  c.type_vocab_size = 0;   // no token_type_embeddings
  c.layer_norm_eps = 1e-12;  // nn.LayerNorm(dim, eps=1e-12) everywhere, whatever the config says
  c.mlm_hidden_act = c.hidden_act;  // DistilBertForMaskedLM: get_activation(config.activation)
  c.pooler_activation = PoolerActivation::relu;  // pre_classifier -> ReLU
}

std::vector<ParamSpec> distilbert_table(const ModelConfig& c) {
  const auto h = c.hidden_size;
  TableBuilder t(c);
  t.embeddings("distilbert.");
  t.encoder_layers("distilbert.", {.stack = "transformer.layer",
                                   .query = "attention.q_lin",
                                   .key = "attention.k_lin",
                                   .value = "attention.v_lin",
                                   .attn_out = "attention.out_lin",
                                   .attn_norm = "sa_layer_norm",
                                   .ffn_in = "ffn.lin1",
                                   .ffn_out = "ffn.lin2",
                                   .out_norm = "output_layer_norm"});
  t.dense("pre_classifier", h, h, ParamGroup::pooler, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
  const auto mlm = ParamGroup::mlm_head;
  t.dense("vocab_transform", h, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
  t.norm("vocab_layer_norm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
  t.add("vocab_projector.weight", {c.vocab_size, h}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
  t.add("vocab_projector.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  t.dense("classifier", c.num_labels, h, ParamGroup::classifier, &EncoderParams::classifier_w,
          &EncoderParams::classifier_b);
  return t.take();
}

std::vector<std::string> distilbert_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical.starts_with("distilbert.")) bases.push_back(canonical.substr(11));  // a DistilBertModel saved alone
  return bases;
}

void write_distilbert_config(const ModelConfig& c, nlohmann::json& j) {
  // BERT's keys that DistilBertConfig does not have (its eps is fixed, it has no token types).
  for (const char* k : {"type_vocab_size", "layer_norm_eps", "position_embedding_type", "hidden_dropout_prob",
                        "attention_probs_dropout_prob", "classifier_dropout", "use_cache"})
    j.erase(k);
  j["dropout"] = j.value("dropout", 0.1);
  j["attention_dropout"] = j.value("attention_dropout", 0.1);
  j["qa_dropout"] = j.value("qa_dropout", 0.1);
  j["seq_classif_dropout"] = j.value("seq_classif_dropout", 0.2);
  j["sinusoidal_pos_embds"] = c.sinusoidal_positions;
  j["tie_weights_"] = j.value("tie_weights_", true);
}

}  // namespace

const Family& distilbert_family() {
  static const Family f{"distilbert",         "DistilBert", 0, configure_distilbert, distilbert_table, distilbert_names,
                        write_distilbert_config, kDistilbertKeys};
  return f;
}

}  // namespace bertscope::model::arch
