// DeBERTa-v2 and v3 (model_type "deberta-v2" for both): DebertaV2ForMaskedLM /
// DebertaV2ForSequenceClassification / DebertaV2ForTokenClassification / DebertaV2Model
// checkpoints. Disentangled attention over relative positions (config.relative), BERT-named
// output and feed-forward layers, no token types and no absolute positions unless the config
// asks, LayerNorm eps 1e-7, the ContextPooler (dense -> gelu) before the classifier, and the MLM
// head under cls.predictions.* (legacy) or lm_predictions.lm_head.* (decoder = word embeddings).
#include <cctype>

#include <fmt/format.h>

#include "io/error.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model::arch {

namespace {

// DebertaV2Config's defaults where they differ from BERT's.
void deberta_defaults(ModelConfig& c) {
  c.type_vocab_size = 0;
  c.layer_norm_eps = 1e-7;
  c.vocab_size = 128100;
}

std::int64_t deberta_int(const nlohmann::json& j, const char* key, std::int64_t fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number_integer())
    fail(ErrorKind::model, "{}: \"{}\" must be an integer, found {}", src, key, j[key].dump());
  return j[key].get<std::int64_t>();
}

// pos_att_type: a list as it is, or one string that DebertaV2Config lower-cases, splits on '|'
// and trims.
std::vector<std::string> pos_att_types(const nlohmann::json& j, const std::string& src) {
  std::vector<std::string> out;
  if (!j.contains("pos_att_type") || j["pos_att_type"].is_null()) return out;
  const auto& v = j["pos_att_type"];
  auto add_trimmed = [&](std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    while (!s.empty() && s.back() == ' ') s.pop_back();
    if (!s.empty()) out.push_back(s);  // "p2c|c2p|": transformers ignores the empty entry
  };
  if (v.is_string()) {
    auto s = v.get<std::string>();
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::size_t start = 0;
    for (std::size_t bar; (bar = s.find('|', start)) != std::string::npos; start = bar + 1)
      add_trimmed(s.substr(start, bar - start));
    add_trimmed(s.substr(start));
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) fail(ErrorKind::model, "{}: \"pos_att_type\" must list strings, found {}", src, e.dump());
      out.push_back(e.get<std::string>());
    }
  } else {
    fail(ErrorKind::model, "{}: \"pos_att_type\" must be a list or a \"p2c|c2p\" string, found {}", src, v.dump());
  }
  return out;
}

void configure_deberta(ModelConfig& c) {
  const auto& j = c.raw;
  const std::string src = "config.json";
  c.position_scheme = PositionScheme::from_zero;
  c.mlm_hidden_act = c.hidden_act;  // the MLM transform uses config.hidden_act
  c.mask_embeddings = true;
  c.mask_query_rows = true;
  c.absolute_positions = config_bool(j, "position_biased_input", true, src);
  c.legacy_mlm_head = config_bool(j, "legacy", true, src);
  const auto pooler_act = j.value("pooler_hidden_act", std::string("gelu"));
  if (pooler_act != "gelu")
    fail(ErrorKind::model, "{}: pooler_hidden_act \"{}\" is not supported (only \"gelu\")", src, pooler_act);
  c.pooler_activation = PoolerActivation::gelu;
  if (deberta_int(j, "pooler_hidden_size", c.hidden_size, src) != c.hidden_size)
    fail(ErrorKind::model, "{}: pooler_hidden_size {} differs from hidden_size {}; bertscope needs them equal", src,
         j["pooler_hidden_size"].dump(), c.hidden_size);
  if (deberta_int(j, "embedding_size", c.hidden_size, src) != c.hidden_size)
    fail(ErrorKind::model, "{}: embedding_size {} differs from hidden_size {} (embed_proj); not supported yet", src,
         j["embedding_size"].dump(), c.hidden_size);
  if (deberta_int(j, "attention_head_size", c.head_dim(), src) != c.head_dim())
    fail(ErrorKind::model, "{}: attention_head_size {} differs from hidden_size / num_attention_heads {}; not supported",
         src, j["attention_head_size"].dump(), c.head_dim());
  if (deberta_int(j, "conv_kernel_size", 0, src) > 0)
    fail(ErrorKind::model, "{}: conv_kernel_size {} (the ConvLayer of deberta-v2-xlarge) is not supported yet", src,
         j["conv_kernel_size"].dump());

  auto& r = c.relative;
  r = {};
  for (const auto& t : pos_att_types(j, src)) {
    if (t == "c2p")
      r.c2p = true;
    else if (t == "p2c")
      r.p2c = true;
    else
      fail(ErrorKind::model, "{}: pos_att_type has \"{}\"; DeBERTa knows \"c2p\" and \"p2c\"", src, t);
  }
  // transformers adds 1 per kind present (a repeated entry counts once), with or without
  // relative attention.
  r.scale_factor = 1 + int(r.c2p) + int(r.p2c);
  r.enabled = config_bool(j, "relative_attention", false, src);
  if (!r.enabled) {
    r.c2p = r.p2c = false;  // no rel_embeddings: the positional terms are skipped, but the scale keeps them
    return;
  }
  r.max_relative_positions = deberta_int(j, "max_relative_positions", -1, src);
  if (r.max_relative_positions < 1) r.max_relative_positions = c.max_position_embeddings;
  r.position_buckets = deberta_int(j, "position_buckets", -1, src);
  r.share_att_key = config_bool(j, "share_att_key", false, src);
  const auto norm = j.value("norm_rel_ebd", std::string("none"));
  r.norm_rel_embeddings = norm.find("layer_norm") != std::string::npos;
}

std::vector<ParamSpec> deberta_table(const ModelConfig& c) {
  const auto h = c.hidden_size;
  const auto enc = ParamGroup::encoder;
  TableBuilder t(c);
  t.embeddings("deberta.");
  t.encoder_layers("deberta.", {.query = "attention.self.query_proj",
                                .key = "attention.self.key_proj",
                                .value = "attention.self.value_proj"});
  auto& r = c.relative;
  std::vector<ParamSpec> rows = t.take();
  if (r.enabled) {
    for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
      auto row = [&](const char* module, const char* leaf, core::Shape shape, Param LayerParams::*member) {
        rows.push_back({fmt::format("deberta.encoder.layer.{}.attention.self.{}.{}", l, module, leaf), std::move(shape),
                        enc, false, [l, member](EncoderParams& p) -> Param& {
                          return p.layers[static_cast<std::size_t>(l)].*member;
                        }});
      };
      if (!r.share_att_key && r.c2p) {
        row("pos_key_proj", "weight", {h, h}, &LayerParams::pos_key_w);
        row("pos_key_proj", "bias", {h}, &LayerParams::pos_key_b);
      }
      if (!r.share_att_key && r.p2c) {
        row("pos_query_proj", "weight", {h, h}, &LayerParams::pos_query_w);
        row("pos_query_proj", "bias", {h}, &LayerParams::pos_query_b);
      }
    }
  }
  TableBuilder rest(c);
  if (r.enabled) rest.add("deberta.encoder.rel_embeddings.weight", {2 * r.span(), h}, enc, &EncoderParams::rel_emb);
  if (r.enabled && r.norm_rel_embeddings)
    rest.norm("deberta.encoder.LayerNorm", enc, &EncoderParams::rel_norm_g, &EncoderParams::rel_norm_b);
  rest.dense("pooler.dense", h, h, ParamGroup::pooler, &EncoderParams::pooler_w, &EncoderParams::pooler_b);
  const auto mlm = ParamGroup::mlm_head;
  if (c.legacy_mlm_head) {
    rest.dense("cls.predictions.transform.dense", h, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
    rest.norm("cls.predictions.transform.LayerNorm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
    rest.add("cls.predictions.decoder.weight", {c.vocab_size, h}, mlm, &EncoderParams::mlm_decoder_w, true);  // tied
    rest.add("cls.predictions.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  } else {
    // logits = h . word_embeddings^T + bias: the decoder is always the word table.
    rest.dense("lm_predictions.lm_head.dense", h, h, mlm, &EncoderParams::mlm_dense_w, &EncoderParams::mlm_dense_b);
    rest.norm("lm_predictions.lm_head.LayerNorm", mlm, &EncoderParams::mlm_norm_g, &EncoderParams::mlm_norm_b);
    rest.add("lm_predictions.lm_head.bias", {c.vocab_size}, mlm, &EncoderParams::mlm_decoder_b);
  }
  rest.dense("classifier", c.num_labels, h, ParamGroup::classifier, &EncoderParams::classifier_w,
             &EncoderParams::classifier_b);
  for (auto& spec : rest.take()) rows.push_back(std::move(spec));
  return rows;
}

std::vector<std::string> deberta_names(const std::string& canonical) {
  std::vector<std::string> bases{canonical};
  if (canonical == "cls.predictions.bias") bases.push_back("cls.predictions.decoder.bias");
  if (canonical.starts_with("deberta.")) bases.push_back(canonical.substr(8));  // a DebertaV2Model saved alone
  return bases;
}

void write_deberta_config(const ModelConfig& c, nlohmann::json& j) {
  for (const char* k : {"position_embedding_type", "use_cache", "classifier_dropout"}) j.erase(k);
  const auto& r = c.relative;
  j["relative_attention"] = r.enabled;
  j["position_biased_input"] = c.absolute_positions;
  j["legacy"] = c.legacy_mlm_head;
  if (!j.contains("pos_att_type")) {
    nlohmann::json types = nlohmann::json::array();
    if (r.p2c) types.push_back("p2c");
    if (r.c2p) types.push_back("c2p");
    j["pos_att_type"] = types;
  }
  if (r.enabled) {
    j["max_relative_positions"] = j.value("max_relative_positions", -1);
    j["position_buckets"] = r.position_buckets;
    j["share_att_key"] = r.share_att_key;
    j["norm_rel_ebd"] = r.norm_rel_embeddings ? "layer_norm" : "none";
  }
  j["pooler_hidden_size"] = c.hidden_size;
  j["pooler_hidden_act"] = "gelu";
  j["pooler_dropout"] = j.value("pooler_dropout", 0);
}

}  // namespace

const Family& deberta_v2_family() {
  static const Family f{"deberta-v2", "DebertaV2", 0, configure_deberta, deberta_table, deberta_names,
                        write_deberta_config, {}, nullptr, deberta_defaults};
  return f;
}

}  // namespace bertscope::model::arch
