#include "model/arch/family.hpp"

#include <fmt/format.h>

#include "io/error.hpp"

namespace bertscope::model::arch {

namespace {

const std::vector<const Family*>& all_families() {
  static const std::vector<const Family*> list{&bert_family(), &roberta_family(), &xlm_roberta_family(),
                                                    &distilbert_family(), &albert_family(), &deberta_v2_family(),
                                                    &electra_family(), &modernbert_family()};
  return list;
}

}  // namespace

std::vector<std::string_view> supported_model_types() {
  std::vector<std::string_view> out;
  for (const auto* f : all_families()) out.push_back(f->model_type);
  return out;
}

const Family& family(std::string_view model_type, const std::string& source) {
  for (const auto* f : all_families())
    if (f->model_type == model_type) return *f;
  fail(ErrorKind::model, "{}: model_type is \"{}\"; bertscope runs {}", source, model_type,
       fmt::join(supported_model_types(), ", "));
}

std::string wordpiece_tokenizer_class(const ModelConfig& config) {
  const auto& f = family(config);
  const bool own_class = f.model_type == "distilbert" || f.model_type == "electra";
  return own_class ? std::string(f.class_prefix) + "Tokenizer" : std::string("BertTokenizer");
}

const Family& family(const ModelConfig& config) { return family(config.model_type, "config"); }

void TableBuilder::add(std::string name, core::Shape shape, ParamGroup group, Param EncoderParams::*slot, bool optional) {
  table_.push_back({std::move(name), std::move(shape), group, optional,
                    [slot](EncoderParams& p) -> Param& { return p.*slot; }});
}

void TableBuilder::dense(const std::string& name, std::int64_t out, std::int64_t in, ParamGroup group,
                         Param EncoderParams::*w, Param EncoderParams::*b) {
  add(name + ".weight", {out, in}, group, w);
  add(name + ".bias", {out}, group, b);
}

void TableBuilder::norm(const std::string& name, ParamGroup group, Param EncoderParams::*g, Param EncoderParams::*b,
                        std::int64_t width) {
  const auto w = width > 0 ? width : c_.hidden_size;
  add(name + ".weight", {w}, group, g);
  add(name + ".bias", {w}, group, b);
}

void TableBuilder::layer_row(std::string name, core::Shape shape, std::int64_t layer, Param LayerParams::*member) {
  table_.push_back({std::move(name), std::move(shape), ParamGroup::encoder, false,
                    [layer, member](EncoderParams& p) -> Param& { return p.layers[static_cast<std::size_t>(layer)].*member; }});
}

void TableBuilder::embeddings(const std::string& prefix) {
  const auto h = c_.embedding_dim();
  const auto enc = ParamGroup::encoder;
  add(prefix + "embeddings.word_embeddings.weight", {c_.vocab_size, h}, enc, &EncoderParams::word_emb);
  if (c_.absolute_positions)
    add(prefix + "embeddings.position_embeddings.weight", {c_.max_position_embeddings, h}, enc, &EncoderParams::pos_emb);
  if (c_.has_token_types())
    add(prefix + "embeddings.token_type_embeddings.weight", {c_.type_vocab_size, h}, enc, &EncoderParams::type_emb);
  norm(prefix + "embeddings.LayerNorm", enc, &EncoderParams::emb_norm_g, &EncoderParams::emb_norm_b, h);
}

void TableBuilder::encoder_layers(const std::string& prefix, const LayerNames& names) {
  const std::int64_t h = c_.hidden_size, inter = c_.intermediate_size;
  const auto enc = ParamGroup::encoder;
  for (std::int64_t l = 0; l < c_.num_hidden_layers; ++l) {
    const auto pre = fmt::format("{}{}.{}.", prefix, names.stack, l);
    auto row = [&](std::string_view module, std::string_view leaf, core::Shape shape, Param LayerParams::*member) {
      table_.push_back({fmt::format("{}{}.{}", pre, module, leaf), std::move(shape), enc, false, [l, member](EncoderParams& p) -> Param& {
                          return p.layers[static_cast<std::size_t>(l)].*member;
                        }});
    };
    row(names.query, "weight", {h, h}, &LayerParams::query_w);
    row(names.query, "bias", {h}, &LayerParams::query_b);
    row(names.key, "weight", {h, h}, &LayerParams::key_w);
    row(names.key, "bias", {h}, &LayerParams::key_b);
    row(names.value, "weight", {h, h}, &LayerParams::value_w);
    row(names.value, "bias", {h}, &LayerParams::value_b);
    row(names.attn_out, "weight", {h, h}, &LayerParams::attn_out_w);
    row(names.attn_out, "bias", {h}, &LayerParams::attn_out_b);
    row(names.attn_norm, "weight", {h}, &LayerParams::attn_norm_g);
    row(names.attn_norm, "bias", {h}, &LayerParams::attn_norm_b);
    row(names.ffn_in, "weight", {inter, h}, &LayerParams::ffn_in_w);
    row(names.ffn_in, "bias", {inter}, &LayerParams::ffn_in_b);
    row(names.ffn_out, "weight", {h, inter}, &LayerParams::ffn_out_w);
    row(names.ffn_out, "bias", {h}, &LayerParams::ffn_out_b);
    row(names.out_norm, "weight", {h}, &LayerParams::out_norm_g);
    row(names.out_norm, "bias", {h}, &LayerParams::out_norm_b);
  }
}

std::vector<std::string> with_legacy_norm_names(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& b : names) {
    out.push_back(b);
    if (b.ends_with("LayerNorm.weight")) out.push_back(b.substr(0, b.size() - 6) + "gamma");
    if (b.ends_with("LayerNorm.bias")) out.push_back(b.substr(0, b.size() - 4) + "beta");
  }
  return out;
}

}  // namespace bertscope::model::arch
