// tokenizer.json: one function per component kind, each naming the file and the component in
// its errors.
#include <nlohmann/json.hpp>

#include "io/base64.hpp"
#include "io/error.hpp"
#include "tokenizer/load.hpp"

namespace bertscope::tokenizer {

namespace {

using json = nlohmann::json;

struct Reader {
  const std::filesystem::path& file;
  const LoadOptions& options;

  [[noreturn]] void bad(std::string_view component, std::string_view problem) const {
    fail(ErrorKind::format, "{}: {}: {}", file.string(), component, problem);
  }
  std::string type_of(const json& j, std::string_view kind) const {
    if (!j.is_object()) bad(kind, fmt::format("expected an object, found {}", j.dump()));
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) bad(kind, "no \"type\"");
    return it->get<std::string>();
  }
  bool flag(const json& j, const char* key, bool fallback, std::string_view component) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) bad(component, fmt::format("\"{}\" must be true or false, not {}", key, it->dump()));
    return it->get<bool>();
  }
  std::optional<std::string> optional_string(const json& j, const char* key, std::string_view component) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) bad(component, fmt::format("\"{}\" must be a string, not {}", key, it->dump()));
    return it->get<std::string>();
  }
  std::string string(const json& j, const char* key, std::string_view component) const {
    auto s = optional_string(j, key, component);
    if (!s) bad(component, fmt::format("\"{}\" is missing", key));
    return *s;
  }
  std::string where(std::string_view component) const { return fmt::format("{}: {}", file.string(), component); }

  Pattern pattern(const json& j, std::string_view component) const {
    auto it = j.find("pattern");
    if (it == j.end() || !it->is_object()) bad(component, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
    if (auto s = it->find("String"); s != it->end() && s->is_string()) return Pattern::literal(s->get<std::string>());
    if (auto r = it->find("Regex"); r != it->end() && r->is_string()) return Pattern::regex(r->get<std::string>(), where(component));
    bad(component, fmt::format("\"pattern\" must be {{\"String\": ...}} or {{\"Regex\": ...}}, not {}", it->dump()));
  }

  SplitBehavior behavior(const json& j, std::string_view component, SplitBehavior fallback) const {
    auto name = optional_string(j, "behavior", component);
    if (!name) return fallback;
    if (*name == "Removed") return SplitBehavior::removed;
    if (*name == "Isolated") return SplitBehavior::isolated;
    if (*name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
    if (*name == "MergedWithNext") return SplitBehavior::merged_with_next;
    if (*name == "Contiguous") return SplitBehavior::contiguous;
    bad(component, fmt::format("unknown behavior \"{}\"", *name));
  }

  std::unique_ptr<Normalizer> normalizer(const json& j) const {
    const std::string type = type_of(j, "normalizer");
    const std::string component = "normalizer " + type;
    if (type == "Sequence") {
      std::vector<std::unique_ptr<Normalizer>> steps;
      auto it = j.find("normalizers");
      if (it == j.end() || !it->is_array()) bad(component, "\"normalizers\" must be an array");
      for (const auto& step : *it) steps.push_back(normalizer(step));
      return std::make_unique<NormalizerSequence>(std::move(steps));
    }
    if (type == "BertNormalizer") {
      BertNormalizerOptions o;
      o.clean_text = flag(j, "clean_text", true, component);
      o.handle_chinese_chars = flag(j, "handle_chinese_chars", true, component);
      if (auto it = j.find("strip_accents"); it != j.end() && !it->is_null()) o.strip_accents = flag(j, "strip_accents", false, component);
      o.lowercase = flag(j, "lowercase", true, component);
      o.rules = options.bert_rules;
      return std::make_unique<BertNormalizer>(o);
    }
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfc);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfd);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkc);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkd);
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "StripAccents") return std::make_unique<StripAccents>();
    if (type == "Strip") return std::make_unique<Strip>(flag(j, "strip_left", true, component), flag(j, "strip_right", true, component));
    if (type == "Replace") return std::make_unique<Replace>(pattern(j, component), string(j, "content", component));
    if (type == "Prepend") return std::make_unique<Prepend>(string(j, "prepend", component));
    if (type == "Precompiled") {
      auto charsmap = optional_string(j, "precompiled_charsmap", component);
      if (!charsmap || charsmap->empty()) return std::make_unique<NormalizerSequence>(std::vector<std::unique_ptr<Normalizer>>{});
      return std::make_unique<Precompiled>(io::base64_decode(*charsmap, where(component)), where(component));
    }
    bad("normalizer", fmt::format("unknown type \"{}\" (supported: Sequence, BertNormalizer, NFC, NFD, NFKC, NFKD, "
                                  "Lowercase, StripAccents, Strip, Replace, Prepend, Precompiled)", type));
  }

  std::unique_ptr<PreTokenizer> pre_tokenizer(const json& j) const {
    const std::string type = type_of(j, "pre_tokenizer");
    const std::string component = "pre_tokenizer " + type;
    if (type == "Sequence") {
      std::vector<std::unique_ptr<PreTokenizer>> steps;
      auto it = j.find("pretokenizers");
      if (it == j.end() || !it->is_array()) bad(component, "\"pretokenizers\" must be an array");
      for (const auto& step : *it) steps.push_back(pre_tokenizer(step));
      return std::make_unique<PreTokenizerSequence>(std::move(steps));
    }
    if (type == "BertPreTokenizer") return PatternSplit::bert(options.bert_rules);
    if (type == "ByteLevel") {
      return std::make_unique<ByteLevelPreTokenizer>(flag(j, "add_prefix_space", true, component), flag(j, "use_regex", true, component));
    }
    if (type == "Metaspace") {
      const std::u32string replacement = to_u32(string(j, "replacement", component));
      if (replacement.size() != 1) bad(component, "\"replacement\" must be one character");
      PrependScheme scheme = PrependScheme::always;
      if (auto s = optional_string(j, "prepend_scheme", component)) {
        if (*s == "always") scheme = PrependScheme::always;
        else if (*s == "first") scheme = PrependScheme::first;
        else if (*s == "never") scheme = PrependScheme::never;
        else bad(component, fmt::format("unknown prepend_scheme \"{}\"", *s));
      }
      if (!flag(j, "add_prefix_space", true, component)) scheme = PrependScheme::never;
      return std::make_unique<Metaspace>(replacement[0], scheme, flag(j, "split", true, component));
    }
    if (type == "Whitespace") return PatternSplit::whitespace(where(component));
    if (type == "WhitespaceSplit") return PatternSplit::whitespace_split();
    if (type == "Punctuation") return PatternSplit::punctuation(behavior(j, component, SplitBehavior::isolated));
    if (type == "Digits") return PatternSplit::digits(flag(j, "individual_digits", false, component));
    if (type == "Split") {
      std::vector<PatternSplit::Step> steps;
      steps.push_back({pattern(j, component), behavior(j, component, SplitBehavior::removed), flag(j, "invert", false, component)});
      return std::make_unique<PatternSplit>(std::move(steps));
    }
    bad("pre_tokenizer", fmt::format("unknown type \"{}\" (supported: Sequence, BertPreTokenizer, ByteLevel, Metaspace, "
                                     "Whitespace, WhitespaceSplit, Punctuation, Digits, Split)", type));
  }

  std::vector<std::string> token_vocab(const json& vocab, std::string_view component) const {
    if (!vocab.is_object() || vocab.empty()) bad(component, "\"vocab\" must be a non-empty object of token: id");
    std::vector<std::string> tokens(vocab.size());
    std::vector<bool> seen(vocab.size(), false);
    for (const auto& [token, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= static_cast<std::int64_t>(vocab.size()) ||
          seen[id.get<std::size_t>()]) {
        bad(component, fmt::format("\"vocab\" must number its {} tokens 0..{} once each; \"{}\" has {}", vocab.size(),
                                   vocab.size() - 1, token, id.dump()));
      }
      seen[id.get<std::size_t>()] = true;
      tokens[id.get<std::size_t>()] = token;
    }
    return tokens;
  }

  std::unique_ptr<Model> model(const json& j) const {
    if (!j.is_object()) bad("model", "expected an object");
    std::string type;
    if (auto it = j.find("type"); it != j.end() && it->is_string()) {
      type = it->get<std::string>();
    } else if (j.contains("merges")) {
      type = "BPE";
    } else if (j.contains("vocab") && j["vocab"].is_array()) {
      type = "Unigram";
    } else {
      type = "WordPiece";
    }
    const std::string component = "model " + type;
    if (type == "WordPiece") {
      std::size_t max_chars = 100;
      if (auto it = j.find("max_input_chars_per_word"); it != j.end() && it->is_number_unsigned()) max_chars = it->get<std::size_t>();
      return std::make_unique<WordPiece>(Vocabulary(token_vocab(j.value("vocab", json()), component)),
                                         optional_string(j, "unk_token", component).value_or("[UNK]"),
                                         optional_string(j, "continuing_subword_prefix", component).value_or("##"), max_chars);
    }
    if (type == "BPE") {
      BpeOptions o;
      o.unk_token = optional_string(j, "unk_token", component);
      o.continuing_subword_prefix = optional_string(j, "continuing_subword_prefix", component);
      o.end_of_word_suffix = optional_string(j, "end_of_word_suffix", component);
      o.fuse_unk = flag(j, "fuse_unk", false, component);
      o.byte_fallback = flag(j, "byte_fallback", false, component);
      o.ignore_merges = flag(j, "ignore_merges", false, component);
      std::vector<std::pair<std::string, std::string>> merges;
      auto it = j.find("merges");
      if (it == j.end() || !it->is_array()) bad(component, "\"merges\" must be an array");
      for (const auto& m : *it) {
        if (m.is_string()) {
          const std::string s = m.get<std::string>();
          const auto space = s.find(' ');
          if (space == std::string::npos) bad(component, fmt::format("merge \"{}\" is not two tokens separated by a space", s));
          merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
          merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
          bad(component, fmt::format("merge {} is not \"a b\" or [\"a\", \"b\"]", m.dump()));
        }
      }
      return std::make_unique<Bpe>(Vocabulary(token_vocab(j.value("vocab", json()), component)), merges, o, where(component));
    }
    if (type == "Unigram") {
      auto it = j.find("vocab");
      if (it == j.end() || !it->is_array()) bad(component, "\"vocab\" must be an array of [piece, score]");
      std::vector<std::pair<std::string, double>> pieces;
      pieces.reserve(it->size());
      for (const auto& p : *it) {
        if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_number()) {
          bad(component, fmt::format("vocabulary entry {} is not [piece, score]", p.dump()));
        }
        pieces.emplace_back(p[0].get<std::string>(), p[1].get<double>());
      }
      std::optional<std::int32_t> unk_id;
      if (auto u = j.find("unk_id"); u != j.end() && u->is_number_integer()) unk_id = u->get<std::int32_t>();
      return std::make_unique<Unigram>(std::move(pieces), unk_id, flag(j, "byte_fallback", false, component), where(component));
    }
    bad("model", fmt::format("unknown type \"{}\" (supported: WordPiece, BPE, Unigram)", type));
  }

  SpecialToken named_token(const json& j, const char* key, std::string_view component) const {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string() || !(*it)[1].is_number_integer()) {
      bad(component, fmt::format("\"{}\" must be [token, id]", key));
    }
    return {(*it)[0].get<std::string>(), (*it)[1].get<std::int32_t>()};
  }

  std::vector<TemplateProcessor::Piece> template_pieces(const json& j, const char* key, const json& specials,
                                                        std::string_view component) const {
    std::vector<TemplateProcessor::Piece> out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) bad(component, fmt::format("\"{}\" must be an array", key));
    for (const auto& p : *it) {
      TemplateProcessor::Piece piece{};
      if (auto s = p.find("Sequence"); s != p.end()) {
        piece.is_sequence = true;
        piece.sequence = s->value("id", std::string("A")) == "B" ? 1 : 0;
        piece.type_id = s->value("type_id", 0);
      } else if (auto t = p.find("SpecialToken"); t != p.end()) {
        const std::string name = t->value("id", std::string());
        piece.type_id = t->value("type_id", 0);
        auto sp = specials.find(name);
        if (sp == specials.end()) bad(component, fmt::format("special token \"{}\" is not in \"special_tokens\"", name));
        static const json missing;
        const auto ids_it = sp->is_object() ? sp->find("ids") : sp->end();
        const auto tokens_it = sp->is_object() ? sp->find("tokens") : sp->end();
        const auto& ids = ids_it != sp->end() ? *ids_it : missing;
        const auto& tokens = tokens_it != sp->end() ? *tokens_it : missing;
        if (!ids.is_array() || !tokens.is_array() || ids.size() != tokens.size()) {
          bad(component, fmt::format("special token \"{}\" needs \"ids\" and \"tokens\" of one length", name));
        }
        for (std::size_t k = 0; k < ids.size(); ++k) piece.special.push_back({tokens[k].get<std::string>(), ids[k].get<std::int32_t>()});
      } else {
        bad(component, fmt::format("template piece {} is neither Sequence nor SpecialToken", p.dump()));
      }
      out.push_back(std::move(piece));
    }
    return out;
  }

  std::unique_ptr<PostProcessor> post_processor(const json& j) const {
    const std::string type = type_of(j, "post_processor");
    const std::string component = "post_processor " + type;
    if (type == "Sequence") {
      std::vector<std::unique_ptr<PostProcessor>> steps;
      auto it = j.find("processors");
      if (it == j.end() || !it->is_array()) bad(component, "\"processors\" must be an array");
      for (const auto& step : *it) steps.push_back(post_processor(step));
      return std::make_unique<ProcessorSequence>(std::move(steps));
    }
    if (type == "RobertaProcessing") {
      return std::make_unique<RobertaProcessor>(named_token(j, "cls", component), named_token(j, "sep", component),
                                                flag(j, "trim_offsets", true, component), flag(j, "add_prefix_space", true, component));
    }
    if (type == "BertProcessing") return std::make_unique<BertProcessor>(named_token(j, "cls", component), named_token(j, "sep", component));
    if (type == "ByteLevel") {
      return std::make_unique<ByteLevelProcessor>(flag(j, "trim_offsets", true, component), flag(j, "add_prefix_space", true, component));
    }
    if (type == "TemplateProcessing") {
      const json specials = j.value("special_tokens", json::object());
      return std::make_unique<TemplateProcessor>(template_pieces(j, "single", specials, component),
                                                 template_pieces(j, "pair", specials, component));
    }
    bad("post_processor", fmt::format("unknown type \"{}\" (supported: Sequence, TemplateProcessing, RobertaProcessing, "
                                      "BertProcessing, ByteLevel)", type));
  }

  std::vector<AddedToken> added_tokens(const json& doc) const {
    std::vector<AddedToken> out;
    auto it = doc.find("added_tokens");
    if (it == doc.end() || it->is_null()) return out;
    if (!it->is_array()) bad("added_tokens", "must be an array");
    for (const auto& j : *it) {
      if (!j.is_object() || !j.contains("content") || !j["content"].is_string() || !j.contains("id") ||
          !j["id"].is_number_integer() || j["id"].get<std::int64_t>() < 0) {
        bad("added_tokens", fmt::format("{} needs a \"content\" string and a non-negative integer \"id\"", j.dump()));
      }
      AddedToken t;
      t.content = j["content"].get<std::string>();
      t.id = j["id"].get<std::int32_t>();
      t.single_word = flag(j, "single_word", false, "added_tokens");
      t.lstrip = flag(j, "lstrip", false, "added_tokens");
      t.rstrip = flag(j, "rstrip", false, "added_tokens");
      t.special = flag(j, "special", false, "added_tokens");
      t.normalized = flag(j, "normalized", !t.special, "added_tokens");
      out.push_back(std::move(t));
    }
    return out;
  }
};

bool present(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && !it->is_null();
}

Pipeline pipeline_components(const Reader& r, const json& doc) {
  return Pipeline(present(doc, "normalizer") ? r.normalizer(doc["normalizer"]) : nullptr,
                  present(doc, "pre_tokenizer") ? r.pre_tokenizer(doc["pre_tokenizer"]) : nullptr, r.model(doc["model"]),
                  present(doc, "post_processor") ? r.post_processor(doc["post_processor"]) : nullptr, r.added_tokens(doc));
}
}  // namespace

Pipeline pipeline_from_json(const json& doc, const std::filesystem::path& file, const LoadOptions& options) {
  const Reader r{file, options};
  if (!doc.is_object()) fail(ErrorKind::format, "{}: expected a JSON object at the top level", file.string());
  if (!present(doc, "model")) fail(ErrorKind::format, "{}: no \"model\" object", file.string());
  // A value of the wrong JSON type that a component reads without checking (get<...>, value(...))
  // is a malformed file like any other: one Error naming the file, not a nlohmann exception.
  try {
    return pipeline_components(r, doc);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::format, "{}: {}", file.string(), e.what());
  }
}


}  // namespace bertscope::tokenizer
