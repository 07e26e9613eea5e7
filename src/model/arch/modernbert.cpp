// ModernBERT (model_type "modernbert"): ModernBertForMaskedLM / ModernBertForSequenceClassification /
// ModernBertModel checkpoints, as transformers' modeling_modernbert.py runs them eagerly.
// Pre-norm layers (NormPlacement::pre) whose first has no attn_norm, a fused Wqkv, rotary
// positions (global_rope_theta on full layers, local_rope_theta on sliding ones, or
// rope_parameters per layer type), sliding-window attention (|i - j| <= local_attention / 2) on
// every layer that is not full (layer_types, or every global_attn_every_n_layers-th layer full),
// a GeGLU feed-forward (act(a) * g with [a, g] = Wi x), no token types, no position table, the
// final norm, and a prediction head dense -> classifier_activation -> norm shared by the MLM
// decoder and the classifier (after cls or mean pooling). Biases only where the config's
// norm_bias / attention_bias / mlp_bias / classifier_bias (head.dense's) / decoder_bias ask (the
// weights layer gives absent biases zeros); the classifier always has one.
#include <fmt/format.h>

#include "io/error.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

constexpr KeyName kModernbertKeys[] = {{"hidden_act", "hidden_activation"}, {"layer_norm_eps", "norm_eps"}};

// ModernBertConfig's defaults where they differ from BERT's.
void modernbert_defaults(ModelConfig& c) {
  c.vocab_size = 50368;
  c.hidden_size = 768;
  c.intermediate_size = 1152;
  c.num_hidden_layers = 22;
  c.num_attention_heads = 12;
  c.max_position_embeddings = 8192;
  c.layer_norm_eps = 1e-5;
  c.type_vocab_size = 0;
}

// The bias switches, read where both configure (which knows no file) and the table need them.
struct Biases {
  bool norm, attention, mlp, classifier, decoder;
};
Biases biases(const nlohmann::json& j, const std::string& src) {
  return {config_bool(j, "norm_bias", false, src), config_bool(j, "attention_bias", false, src), config_bool(j, "mlp_bias", false, src),
          config_bool(j, "classifier_bias", false, src), config_bool(j, "decoder_bias", true, src)};
}

void configure_modernbert(ModelConfig& c) {
  c.position_scheme = PositionScheme::from_zero;
  c.norm_placement = NormPlacement::pre;
  c.type_vocab_size = 0;
  c.absolute_positions = false;
  c.gated_ffn = true;
  c.pooler_norm = true;
  c.rotary.enabled = true;
}

// The keys configure cannot check without the file's name: layer layout, rotary thetas, heads.
void read_modernbert_keys(ModelConfig& c, const std::string& src) {
  const auto& j = c.raw;
  (void)biases(j, src);  // type errors name the file now
  c.local_attention = config_int(j, "local_attention", 128, src, 1);
  const auto every = config_int(j, "global_attn_every_n_layers", 3, src, 1);
  const auto layers = c.num_hidden_layers;
  c.sliding_layers.assign(static_cast<std::size_t>(layers), false);
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const auto& types = j["layer_types"];
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) != layers)
      fail(ErrorKind::model, "{}: \"layer_types\" must list one type per layer ({}), found {}", src, layers, types.dump());
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto& t = types[static_cast<std::size_t>(l)];
      if (t == "sliding_attention")
        c.sliding_layers[static_cast<std::size_t>(l)] = true;
      else if (t != "full_attention")
        fail(ErrorKind::model, "{}: layer_types[{}] is {}; ModernBERT knows \"full_attention\" and \"sliding_attention\"",
             src, l, t.dump());
    }
  } else {
    for (std::int64_t l = 0; l < layers; ++l) c.sliding_layers[static_cast<std::size_t>(l)] = l % every != 0;
  }
  // rope_parameters {"full_attention": {"rope_type": "default", "rope_theta": ...}, "sliding_attention": ...}
  // (transformers 5), else the legacy global_rope_theta / local_rope_theta.
  c.rotary.global_theta = config_double(j, "global_rope_theta", 160000.0, src);
  c.rotary.local_theta = config_double(j, "local_rope_theta", c.rotary.global_theta, src);
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    auto theta_of = [&](const char* type, double fallback) {
      if (!rp.contains(type) || rp[type].is_null()) return fallback;
      const auto& p = rp[type];
      if (!p.is_object()) fail(ErrorKind::model, "{}: rope_parameters.{} must be an object, found {}", src, type, p.dump());
      const auto kind = config_string(p, "rope_type", "default", src);
      if (kind != "default")
        fail(ErrorKind::model, "{}: rope_parameters.{}.rope_type \"{}\" is not supported (only \"default\")", src, type, kind);
      return config_double(p, "rope_theta", fallback, src);
    };
    if (rp.contains("rope_theta")) {  // one set for every layer type
      const auto kind = config_string(rp, "rope_type", "default", src);
      if (kind != "default")
        fail(ErrorKind::model, "{}: rope_parameters.rope_type \"{}\" is not supported (only \"default\")", src, kind);
      c.rotary.global_theta = c.rotary.local_theta = config_double(rp, "rope_theta", c.rotary.global_theta, src);
    } else {
      c.rotary.global_theta = theta_of("full_attention", c.rotary.global_theta);
      c.rotary.local_theta = theta_of("sliding_attention", c.rotary.local_theta);
    }
  }
  if (!(c.rotary.global_theta > 0) || !(c.rotary.local_theta > 0))
    fail(ErrorKind::model, "{}: the rotary thetas must be positive", src);
  if (c.head_dim() % 2 != 0)
    fail(ErrorKind::model, "{}: rotary positions need an even head size, {} / {} = {}", src, c.hidden_size,
         c.num_attention_heads, c.head_dim());
  const auto head_act = config_string(j, "classifier_activation", "gelu", src);
  c.mlm_hidden_act = head_act;
  if (head_act == "gelu")
    c.pooler_activation = PoolerActivation::gelu;
  else if (head_act == "tanh")
    c.pooler_activation = PoolerActivation::tanh;
  else if (head_act == "relu")
    c.pooler_activation = PoolerActivation::relu;
  else
    fail(ErrorKind::model, "{}: classifier_activation \"{}\" is not supported (gelu, tanh or relu)", src, head_act);
  const auto pooling = config_string(j, "classifier_pooling", "cls", src);
  if (pooling != "cls" && pooling != "mean")
    fail(ErrorKind::model, "{}: classifier_pooling \"{}\" is not one of \"cls\" and \"mean\"", src, pooling);
  c.pooling = pooling == "mean" ? Pooling::mean : Pooling::first;
  if (c.head_kind() == HeadKind::token_classification)
    fail(ErrorKind::model, "{}: ModernBertForTokenClassification is not supported yet (its head runs on every token)",
         src);
}

std::vector<ParamSpec> modernbert_table(const ModelConfig& c) {
  const auto h = c.hidden_size, inter = c.intermediate_size;
  const auto b = biases(c.raw, "config.json");
  const auto enc = ParamGroup::encoder;
  TableBuilder t(c);
  auto weight_and_bias = [&](const std::string& name, core::Shape shape, bool bias, ParamGroup group,
                             Param EncoderParams::*w, Param EncoderParams::*bp) {
    const auto out = shape[0];
    t.add(name + ".weight", std::move(shape), group, w);
    if (bias) t.add(name + ".bias", {out}, group, bp);
  };
  weight_and_bias("model.embeddings.tok_embeddings", {c.vocab_size, h}, false, enc, &EncoderParams::word_emb, nullptr);
  weight_and_bias("model.embeddings.norm", {h}, b.norm, enc, &EncoderParams::emb_norm_g, &EncoderParams::emb_norm_b);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const auto pre = fmt::format("model.layers.{}.", l);
    auto row = [&](const std::string& name, core::Shape shape, bool bias, Param LayerParams::*w, Param LayerParams::*bp) {
      const auto out = shape[0];
      t.layer_row(pre + name + ".weight", std::move(shape), l, w);
      if (bias) t.layer_row(pre + name + ".bias", {out}, l, bp);
    };
    if (l > 0) row("attn_norm", {h}, b.norm, &LayerParams::attn_norm_g, &LayerParams::attn_norm_b);  // layer 0: Identity
    row("attn.Wqkv", {3 * h, h}, b.attention, &LayerParams::qkv_w, &LayerParams::qkv_b);
    row("attn.Wo", {h, h}, b.attention, &LayerParams::attn_out_w, &LayerParams::attn_out_b);
    row("mlp_norm", {h}, b.norm, &LayerParams::out_norm_g, &LayerParams::out_norm_b);
    row("mlp.Wi", {2 * inter, h}, b.mlp, &LayerParams::ffn_in_w, &LayerParams::ffn_in_b);
    row("mlp.Wo", {h, inter}, b.mlp, &LayerParams::ffn_out_w, &LayerParams::ffn_out_b);
  }
  weight_and_bias("model.final_norm", {h}, b.norm, enc, &EncoderParams::final_norm_g, &EncoderParams::final_norm_b);
  // One prediction head, "head.*", serves the MLM decoder or the classifier: which one the
  // architecture names decides the slots.
  if (c.head_kind() == HeadKind::masked_lm) {
    const auto mlm = ParamGroup::mlm_head;
    weight_and_bias("head.dense", {h, h}, b.classifier, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
    weight_and_bias("head.norm", {h}, b.norm, mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
    t.add("decoder.weight", {c.vocab_size, h}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
    if (b.decoder) t.add("decoder.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  } else {
    const auto pool = ParamGroup::pooler;
    weight_and_bias("head.dense", {h, h}, b.classifier, pool, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
    weight_and_bias("head.norm", {h}, b.norm, pool, &EncoderParams::pooler_norm_g, &EncoderParams::pooler_norm_b);
    // nn.Linear(hidden, num_labels): a bias whatever classifier_bias says (that one is head.dense's).
    weight_and_bias("classifier", {c.num_labels, h}, true, ParamGroup::classifier, &EncoderParams::classifier_w,
                    &EncoderParams::classifier_b);
  }
  return t.take();
}

std::vector<std::string> modernbert_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical.starts_with("model.")) bases.push_back(canonical.substr(6));  // a ModernBertModel saved alone
  return bases;
}

void write_modernbert_config(const ModelConfig& c, nlohmann::json& j) {
  for (const char* k : {"type_vocab_size", "position_embedding_type", "use_cache", "hidden_dropout_prob",
                        "attention_probs_dropout_prob", "classifier_dropout"})
    j.erase(k);
  j["local_attention"] = c.local_attention;
  nlohmann::json types = nlohmann::json::array();
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) types.push_back(c.sliding(l) ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  // Both spellings: transformers 5 reads rope_parameters, 4.x the thetas.
  j["global_rope_theta"] = c.rotary.global_theta;
  j["local_rope_theta"] = c.rotary.local_theta;
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}, {"rope_theta", c.rotary.global_theta}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", c.rotary.local_theta}}}};
  j["classifier_pooling"] = c.pooling == Pooling::mean ? "mean" : "cls";
  j["classifier_activation"] = c.mlm_hidden_act;
  for (const char* k : {"norm_bias", "attention_bias", "mlp_bias", "classifier_bias"}) j[k] = j.value(k, false);
  j["decoder_bias"] = j.value("decoder_bias", true);
  for (const char* k : {"attention_dropout", "embedding_dropout", "mlp_dropout", "classifier_dropout"}) j[k] = j.value(k, 0.0);
  j["tie_word_embeddings"] = j.value("tie_word_embeddings", true);
}

}  // namespace

const Family& modernbert_family() {
  static const Family f{"modernbert",          "ModernBert",         50283, configure_modernbert, modernbert_table,
                        modernbert_names,      write_modernbert_config, kModernbertKeys,     read_modernbert_keys,
                        modernbert_defaults};
  return f;
}

}  // namespace bertscope::model::arch
