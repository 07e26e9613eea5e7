#include <fmt/format.h>

#include "cli/commands.hpp"
#include "model/model.hpp"

namespace bertscope::cli {

namespace {

std::string head_kind_name(model::HeadKind kind) {
  switch (kind) {
    case model::HeadKind::none: return "none (BertModel)";
    case model::HeadKind::masked_lm: return "masked LM";
    case model::HeadKind::sequence_classification: return "sequence classification";
    case model::HeadKind::token_classification: return "token classification";
    case model::HeadKind::replaced_token_detection: return "replaced-token detection (ELECTRA discriminator)";
  }
  return "?";
}

}  // namespace

namespace {

void add_info_command(CLI::App& app) {
  struct Args {
    std::string model;
    bool json = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("info", "Describe a model folder: architecture, parameters, heads present, vocabulary.");
  cmd->add_option("--model", args->model, "Hugging Face model folder")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    const auto m = model::Model::load(args->model);
    const auto& c = m.config();
    const auto& p = m.params();
    nlohmann::json j{
        {"model", args->model},
        {"family", c.model_type},
        {"architecture", c.architectures.empty() ? "" : c.architectures.front()},
        {"task_head", head_kind_name(c.head_kind())},
        {"layers", c.num_hidden_layers},
        {"heads", c.num_attention_heads},
        {"hidden_size", c.hidden_size},
        {"head_dim", c.head_dim()},
        {"intermediate_size", c.intermediate_size},
        {"hidden_act", c.hidden_act},
        {"max_position_embeddings", c.max_position_embeddings},
        {"type_vocab_size", c.type_vocab_size},
        {"sinusoidal_positions", c.sinusoidal_positions},
        {"embedding_size", c.embedding_dim()},
        {"shared_layers", c.shares_layers ? nlohmann::json{{"config_layers", c.config_layers()},
                                                           {"num_hidden_groups", c.num_hidden_groups},
                                                           {"inner_group_num", c.inner_group_num}}
                                          : nlohmann::json()},
        {"vocab_size", c.vocab_size},
        {"parameters", m.weights().parameter_count()},
        {"weights_mapped_bytes", m.weights().mapped_bytes()},
        {"weights_converted_bytes", m.weights().converted_bytes()},
        {"has_pooler", p.has_pooler()},
        {"has_mlm_head", p.has_mlm_head()},
        {"mlm_decoder_tied", p.has_mlm_head() && p.mlm_decoder_w.data == p.word_emb.data},
        {"has_classifier", p.has_classifier()},
        {"unused_tensors", m.weights().unused_tensors()},
    };
    const auto& rel = c.relative;
    if (rel.enabled)
      j["relative_attention"] = {{"position_buckets", rel.position_buckets},
                                 {"max_relative_positions", rel.max_relative_positions},
                                 {"c2p", rel.c2p},
                                 {"p2c", rel.p2c},
                                 {"share_att_key", rel.share_att_key},
                                 {"absolute_positions", c.absolute_positions}};
    if (c.rotary.enabled) {
      nlohmann::json types = nlohmann::json::array();
      for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) types.push_back(c.sliding(l) ? "sliding_attention" : "full_attention");
      j["rotary"] = {{"global_rope_theta", c.rotary.global_theta},
                     {"local_rope_theta", c.rotary.local_theta},
                     {"local_attention", c.local_attention},
                     {"layer_types", std::move(types)}};
    }
    if (p.has_classifier()) {
      nlohmann::json labels = nlohmann::json::array();
      for (std::int64_t i = 0; i < c.num_labels; ++i) labels.push_back(c.label(i));
      j["labels"] = labels;
    }
    if (m.has_tokenizer()) {
      const auto& s = m.tokenizer().settings();
      j["tokenizer"] = {{"vocab_size", m.tokenizer().vocab_size()},
                        {"lowercase", s.lowercase},
                        {"strip_accents", s.strip_accents.value_or(s.lowercase)},
                        {"tokenize_chinese_chars", s.tokenize_chinese_chars},
                        {"max_length", m.max_length()}};
    }
    if (args->json) {
      fmt::print("{}\n", j.dump(2));
      return;
    }
    fmt::print("model          {}\n", args->model);
    fmt::print("family         {}\n", c.model_type);
    fmt::print("architecture   {} (task head: {})\n", j["architecture"].get<std::string>(), head_kind_name(c.head_kind()));
    fmt::print("encoder        {} layers x {} heads, hidden {} (head dim {}), feed-forward {} ({}{})\n",
               c.num_hidden_layers, c.num_attention_heads, c.hidden_size, c.head_dim(), c.intermediate_size,
               c.hidden_act, c.gated_ffn ? ", gated: act(a) * g" : "");
    if (c.shares_layers)
      fmt::print("sharing        {} config layers in {} group(s) of {} inner layer(s), each run as a layer; embeddings "
                 "{} wide, mapped to {}\n",
                 c.config_layers(), c.num_hidden_groups, c.inner_group_num, c.embedding_dim(), c.hidden_size);
    if (c.model_type == "electra" && c.has_embedding_mapping())
      fmt::print("embeddings     {} wide, projected to {} (embeddings_project)\n", c.embedding_dim(), c.hidden_size);
    fmt::print("positions      {}{}{} (token types {})\n", c.max_position_embeddings,
               c.absolute_positions ? "" : " (no absolute table)",
               c.sinusoidal_positions ? ", sinusoidal" : "",
               c.has_token_types() ? std::to_string(c.type_vocab_size) : std::string("none"));
    if (rel.enabled)
      fmt::print("relative       disentangled attention ({}{}{}), span {}{}, {} keys{}\n", rel.c2p ? "c2p" : "",
                 rel.c2p && rel.p2c ? "+" : "", rel.p2c ? "p2c" : "", rel.span(),
                 rel.position_buckets > 0 ? fmt::format(" log buckets up to {}", rel.max_relative_positions) : "",
                 rel.share_att_key ? "shared" : "own positional", c.absolute_positions ? ", absolute positions too" : "");
    if (c.rotary.enabled) {
      std::int64_t sliding = 0;
      for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) sliding += c.sliding(l);
      fmt::print("rotary         theta {} on full layers, {} on sliding layers; {} of {} layers see |i - j| <= {} "
                 "(local_attention {}); pre-norm layers and a final norm\n",
                 c.rotary.global_theta, c.rotary.local_theta, sliding, c.num_hidden_layers, c.local_attention / 2,
                 c.local_attention);
    }
    fmt::print("parameters     {} ({:.1f} M); {:.1f} MB mapped in place, {:.1f} MB converted to float32\n",
               m.weights().parameter_count(), m.weights().parameter_count() / 1e6, m.weights().mapped_bytes() / 1e6,
               m.weights().converted_bytes() / 1e6);
    std::string heads;
    if (p.has_mlm_head()) heads += std::string("MLM") + (j["mlm_decoder_tied"].get<bool>() ? " (decoder tied)" : "");
    if (p.has_pooler()) heads += std::string(heads.empty() ? "" : ", ") + "pooler";
    if (p.has_classifier()) {
      std::string labels;
      for (std::int64_t i = 0; i < c.num_labels; ++i) labels += (i ? ", " : "") + c.label(i);
      heads += fmt::format("{}classifier ({} labels: {})", heads.empty() ? "" : ", ", c.num_labels, labels);
    }
    fmt::print("heads present  {}\n", heads.empty() ? "none" : heads);
    if (m.has_tokenizer()) {
      const auto& s = m.tokenizer().settings();
      fmt::print("vocabulary     {} tokens, {}, max length {}\n", m.tokenizer().vocab_size(),
                 s.lowercase ? "uncased" : "cased", m.max_length());
    } else {
      fmt::print("vocabulary     none (no vocab.txt or tokenizer.json)\n");
    }
    if (!m.weights().unused_tensors().empty()) {
      std::string names;
      for (const auto& n : m.weights().unused_tensors()) names += (names.empty() ? "" : ", ") + n;
      fmt::print("not used       {}\n", names);
    }
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 10, add_info_command);

}  // namespace bertscope::cli
