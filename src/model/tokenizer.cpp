#include "model/tokenizer.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"
#include "tokenizer/load.hpp"

namespace bertscope::model {

namespace {

using json = nlohmann::json;

struct Loaded {
  TokenizerSettings settings;
  std::vector<AddedToken> added;             // from tokenizer_config.json, for vocab.txt folders
  std::filesystem::path special_source;      // the file that named the special tokens
};

std::vector<std::string> read_vocab_txt(const std::filesystem::path& path) {
  std::string content = io::read_file(path);
  if (auto bad = io::find_invalid_utf8(content); bad != std::string::npos) {
    fail(ErrorKind::format, "{}: invalid UTF-8 at byte {}", path.string(), bad);
  }
  std::vector<std::string> vocab;
  std::size_t start = 0;
  // As transformers' load_vocab: one token a line, only the "\n" removed.
  while (start < content.size()) {
    std::size_t nl = content.find('\n', start);
    if (nl == std::string::npos) nl = content.size();
    vocab.emplace_back(content, start, nl - start);
    start = nl + 1;
  }
  if (vocab.empty()) fail(ErrorKind::format, "{}: the vocabulary is empty", path.string());
  return vocab;
}

bool json_bool(const json& obj, const char* key, bool fallback, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(ErrorKind::format, "{}: \"{}\" must be true or false, not {}", file.string(), key, it->dump());
  return it->get<bool>();
}

std::optional<bool> json_optional_bool(const json& obj, const char* key, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) {
    fail(ErrorKind::format, "{}: \"{}\" must be true, false or null, not {}", file.string(), key, it->dump());
  }
  return it->get<bool>();
}

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> json_token(const json& obj, const char* key, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  fail(ErrorKind::format, "{}: \"{}\" must be a string or an object with a \"content\" string, not {}", file.string(),
       key, it->dump());
}

AddedToken parse_added_token(const json& j, const std::filesystem::path& file) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
    fail(ErrorKind::format, "{}: an added token must be an object with a \"content\" string, not {}", file.string(),
         j.dump());
  }
  AddedToken t;
  t.content = j["content"].get<std::string>();
  t.single_word = json_bool(j, "single_word", false, file);
  t.lstrip = json_bool(j, "lstrip", false, file);
  t.rstrip = json_bool(j, "rstrip", false, file);
  t.special = json_bool(j, "special", false, file);
  t.normalized = json_bool(j, "normalized", !t.special, file);
  return t;
}

// Values above this are transformers' "no limit" placeholder (int(1e30)), not a length.
constexpr double kNoModelMaxLength = 1e15;

void apply_tokenizer_config(const std::filesystem::path& path, const json& cfg, Loaded& out) {
  if (!cfg.is_object()) fail(ErrorKind::format, "{}: expected a JSON object at the top level", path.string());
  auto& s = out.settings;
  // BertTokenizerFast.__init__ rebuilds the normaliser from its arguments (defaults True, None,
  // True) whenever they differ from tokenizer.json's, so the config's values, or those defaults,
  // win.
  s.lowercase = json_bool(cfg, "do_lower_case", true, path);
  s.strip_accents = json_optional_bool(cfg, "strip_accents", path);
  s.tokenize_chinese_chars = json_bool(cfg, "tokenize_chinese_chars", true, path);
  bool named = false;
  for (auto [key, field] : {std::pair{"unk_token", &s.unk_token}, std::pair{"cls_token", &s.cls_token},
                            std::pair{"sep_token", &s.sep_token}, std::pair{"pad_token", &s.pad_token},
                            std::pair{"mask_token", &s.mask_token}}) {
    if (auto t = json_token(cfg, key, path)) {
      *field = *t;
      named = true;
    }
  }
  if (named) out.special_source = path;
  if (auto it = cfg.find("model_max_length"); it != cfg.end() && it->is_number()) {
    const double v = it->get<double>();
    if (v >= 1 && v < kNoModelMaxLength && std::floor(v) == v) s.model_max_length = static_cast<std::size_t>(v);
  }
  // A folder with vocab.txt and no tokenizer.json takes its added tokens from the config.
  if (out.added.empty()) {
    if (auto dec = cfg.find("added_tokens_decoder"); dec != cfg.end() && dec->is_object()) {
      for (const auto& [id, j] : dec->items()) {
        AddedToken t = parse_added_token(j, path);
        try {
          t.id = std::stoi(id);
        } catch (const std::exception&) {
          fail(ErrorKind::format, "{}: added_tokens_decoder key \"{}\" is not a token id", path.string(), id);
        }
        out.added.push_back(std::move(t));
      }
    }
  }
}


void use_roberta_names(TokenizerSettings& s) {
  s.unk_token = "<unk>";
  s.cls_token = "<s>";
  s.sep_token = "</s>";
  s.pad_token = "<pad>";
  s.mask_token = "<mask>";
}

tokenizer::BertNormalizerOptions bert_normalizer(const TokenizerSettings& s) {
  tokenizer::BertNormalizerOptions o;
  o.clean_text = s.clean_text;
  o.handle_chinese_chars = s.tokenize_chinese_chars;
  o.strip_accents = s.strip_accents;
  o.lowercase = s.lowercase;
  o.rules = s.flavor == TokenizerFlavor::python ? tokenizer::BertRules::python : tokenizer::BertRules::rust;
  return o;
}

// Reads what the settings report from a BERT tokenizer.json, and lets tokenizer_config.json reset
// its normaliser as BertTokenizerFast does.
void bert_settings_from_json(json& doc, Loaded& loaded, bool have_config) {
  auto& s = loaded.settings;
  auto& model = doc["model"];
  if (auto it = model.find("unk_token"); it != model.end() && it->is_string()) s.unk_token = it->get<std::string>();
  if (auto it = model.find("continuing_subword_prefix"); it != model.end() && it->is_string()) {
    s.continuing_subword_prefix = it->get<std::string>();
  }
  auto normalizer = doc.find("normalizer");
  if (normalizer == doc.end() || !normalizer->is_object() || normalizer->value("type", std::string()) != "BertNormalizer") {
    s.clean_text = s.tokenize_chinese_chars = s.lowercase = false;
    s.strip_accents = false;
    return;
  }
  if (have_config) {
    (*normalizer)["lowercase"] = s.lowercase;
    (*normalizer)["handle_chinese_chars"] = s.tokenize_chinese_chars;
    (*normalizer)["strip_accents"] = s.strip_accents ? json(*s.strip_accents) : json(nullptr);
    return;
  }
  s.clean_text = normalizer->value("clean_text", true);
  s.tokenize_chinese_chars = normalizer->value("handle_chinese_chars", true);
  s.lowercase = normalizer->value("lowercase", true);
  const auto strip = normalizer->find("strip_accents");
  s.strip_accents = strip == normalizer->end() || !strip->is_boolean() ? std::nullopt : std::optional<bool>(strip->get<bool>());
}

bool is_file(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

bool Tokenizer::folder_has_tokenizer(const std::filesystem::path& dir) {
  for (const char* name : {"tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model"}) {
    if (is_file(dir / name)) return true;
  }
  return false;
}

Tokenizer Tokenizer::from_folder(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor) {
  const auto tokenizer_json = dir / "tokenizer.json";
  const auto vocab_txt = dir / "vocab.txt";
  const auto vocab_json = dir / "vocab.json";
  const auto merges_txt = dir / "merges.txt";
  const auto config = dir / "tokenizer_config.json";
  const bool have_config = is_file(config);
  std::optional<json> config_doc;
  if (have_config) config_doc = io::read_json(config);

  Tokenizer tok;
  Loaded loaded;
  if (flavor) loaded.settings.flavor = *flavor;
  const tokenizer::LoadOptions options{loaded.settings.flavor == TokenizerFlavor::python ? tokenizer::BertRules::python
                                                                                         : tokenizer::BertRules::rust};
  auto spm_model = [&]() -> std::optional<std::filesystem::path> {
    for (const char* name : {"sentencepiece.bpe.model", "spiece.model"}) {
      if (is_file(dir / name)) return dir / name;
    }
    return std::nullopt;
  };
  if (is_file(tokenizer_json)) {
    json doc = io::read_json(tokenizer_json);
    if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object()) {
      fail(ErrorKind::format, "{}: no \"model\" object", tokenizer_json.string());
    }
    if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    bert_settings_from_json(doc, loaded, have_config);
    tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::pipeline_from_json(doc, tokenizer_json, options));
    if (!tok.pipeline_->find(loaded.settings.cls_token) && tok.pipeline_->find("<s>")) {
      use_roberta_names(loaded.settings);
      if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    }
    if (loaded.special_source.empty()) loaded.special_source = tokenizer_json;
  } else if (is_file(vocab_txt)) {
    if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    if (loaded.special_source.empty()) loaded.special_source = vocab_txt;
    const auto& s = loaded.settings;
    tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::bert_pipeline(
        read_vocab_txt(vocab_txt), bert_normalizer(s),
        {s.unk_token, s.cls_token, s.sep_token, s.pad_token, s.mask_token}, s.continuing_subword_prefix,
        s.max_input_chars_per_word, std::move(loaded.added), loaded.special_source));
  } else if (is_file(vocab_json) && is_file(merges_txt)) {
    use_roberta_names(loaded.settings);
    if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    const bool add_prefix_space = config_doc ? json_bool(*config_doc, "add_prefix_space", false, config) : false;
    tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::roberta_pipeline(vocab_json, merges_txt, add_prefix_space));
    if (loaded.special_source.empty()) loaded.special_source = vocab_json;
  } else if (auto model = spm_model(); model && model->filename() == "spiece.model") {
    // ALBERT's file (AlbertConverter): the pieces' own ids, [CLS] A [SEP] B [SEP].
    auto& s = loaded.settings;
    s.unk_token = "<unk>";
    s.cls_token = "[CLS]";
    s.sep_token = "[SEP]";
    s.pad_token = "<pad>";
    s.mask_token = "[MASK]";
    if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    const bool lower = config_doc ? json_bool(*config_doc, "do_lower_case", true, config) : true;
    const bool keep_accents = config_doc ? json_bool(*config_doc, "keep_accents", false, config) : false;
    tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::albert_pipeline(*model, lower, keep_accents));
    if (loaded.special_source.empty()) loaded.special_source = *model;
  } else if (auto model = spm_model()) {
    use_roberta_names(loaded.settings);
    if (have_config) apply_tokenizer_config(config, *config_doc, loaded);
    tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::xlm_roberta_pipeline(*model));
    if (loaded.special_source.empty()) loaded.special_source = *model;
  } else {
    fail(ErrorKind::io, "{}: no tokenizer.json, vocab.txt, vocab.json + merges.txt or SentencePiece model in this folder",
         dir.string());
  }
  tok.settings_ = std::move(loaded.settings);
  tok.name_special_tokens(loaded.special_source);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                           "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model"})
    if (is_file(dir / name)) tok.files_.push_back(dir / name);
  return tok;
}

Tokenizer Tokenizer::from_vocab(const std::filesystem::path& vocab_txt, const TokenizerSettings& settings) {
  Tokenizer tok;
  tok.settings_ = settings;
  const auto& s = settings;
  tok.pipeline_ = std::make_shared<tokenizer::Pipeline>(tokenizer::bert_pipeline(
      read_vocab_txt(vocab_txt), bert_normalizer(s), {s.unk_token, s.cls_token, s.sep_token, s.pad_token, s.mask_token},
      s.continuing_subword_prefix, s.max_input_chars_per_word, {}, vocab_txt));
  tok.name_special_tokens(vocab_txt);
  return tok;
}

void Tokenizer::name_special_tokens(const std::filesystem::path& source) {
  auto require = [&](const std::string& token, const char* role) {
    auto id = pipeline_->find(token);
    if (!id) fail(ErrorKind::model, "{}: the {} token \"{}\" is not in the vocabulary", source.string(), role, token);
    return *id;
  };
  unk_id_ = require(settings_.unk_token, "unknown");
  cls_id_ = require(settings_.cls_token, "classifier");
  sep_id_ = require(settings_.sep_token, "separator");
  pad_id_ = require(settings_.pad_token, "padding");
  mask_id_ = require(settings_.mask_token, "mask");
  pipeline_->set_role(unk_id_, TokenRole::unk);
  pipeline_->set_role(pad_id_, TokenRole::pad);
  pipeline_->set_role(mask_id_, TokenRole::mask);
  pipeline_->set_role(sep_id_, TokenRole::sep_or_eos);
  pipeline_->set_role(cls_id_, TokenRole::cls_or_bos);
}

void Tokenizer::check_vocab_size(std::int64_t model_vocab_size, const std::filesystem::path& dir) const {
  if (static_cast<std::int64_t>(vocab_size()) > model_vocab_size) {
    fail(ErrorKind::model, "{}: the tokenizer has {} tokens but config.json vocab_size is {}", dir.string(), vocab_size(),
         model_vocab_size);
  }
}

TokenRole Tokenizer::role(std::int32_t id) const {
  if (id == cls_id_) return TokenRole::cls_or_bos;
  if (id == sep_id_) return TokenRole::sep_or_eos;
  if (id == pad_id_) return TokenRole::pad;
  if (id == mask_id_) return TokenRole::mask;
  if (id == unk_id_) return TokenRole::unk;
  return TokenRole::ordinary;
}

Encoding Tokenizer::encode(std::string_view text, std::optional<std::string_view> pair, const EncodeOptions& options) const {
  return pipeline_->encode(text, pair, options);
}

Encoding Tokenizer::encode_words(const std::vector<std::string>& words, const EncodeOptions& options) const {
  return pipeline_->encode_words(words, options);
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  return pipeline_->encode_segment(text, "the input text").tokens;
}

std::optional<std::int32_t> Tokenizer::find(std::string_view token) const { return pipeline_->find(token); }

const std::string& Tokenizer::token(std::int32_t id) const {
  const std::string* t = pipeline_->token(id);
  if (!t) fail(ErrorKind::input, "token id {} is out of range: the vocabulary has {} entries", id, vocab_size());
  return *t;
}

}  // namespace bertscope::model
