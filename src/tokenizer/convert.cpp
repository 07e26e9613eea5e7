// The converters transformers applies to tokenizer folders without a tokenizer.json
// (convert_slow_tokenizer.py): BertConverter, RobertaConverter, XLMRobertaConverter.
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"
#include "tokenizer/load.hpp"
#include "tokenizer/sentencepiece_model.hpp"

namespace bertscope::tokenizer {

namespace {

AddedToken special_token(std::string content, std::int32_t id, bool lstrip = false) {
  AddedToken t;
  t.content = std::move(content);
  t.id = id;
  t.lstrip = lstrip;
  return t;
}

std::int32_t require_id(const Vocabulary& vocab, const std::string& token, const std::filesystem::path& source) {
  auto id = vocab.find(token);
  if (!id) fail(ErrorKind::model, "{}: the special token \"{}\" is not in the vocabulary", source.string(), token);
  return *id;
}

}  // namespace

Pipeline bert_pipeline(std::vector<std::string> vocab, const BertNormalizerOptions& normalizer,
                       const SpecialTokenNames& specials, std::string continuing_subword_prefix,
                       std::size_t max_input_chars_per_word, std::vector<AddedToken> added,
                       const std::filesystem::path& source) {
  Vocabulary words(std::move(vocab));
  // Added tokens may name ids beyond vocab.txt; the template needs only [CLS] and [SEP].
  auto id_of = [&](const std::string& token) -> std::int32_t {
    for (const auto& t : added) {
      if (t.content == token) return t.id;
    }
    return require_id(words, token, source);
  };
  const SpecialToken cls{specials.cls, id_of(specials.cls)}, sep{specials.sep, id_of(specials.sep)};
  if (added.empty()) {
    for (const auto* t : {&specials.pad, &specials.unk, &specials.cls, &specials.sep, &specials.mask}) {
      added.push_back(special_token(*t, require_id(words, *t, source)));
    }
  }
  std::vector<TemplateProcessor::Piece> single{{false, 0, {cls}, 0}, {true, 0, {}, 0}, {false, 0, {sep}, 0}};
  std::vector<TemplateProcessor::Piece> pair = single;
  pair.push_back({true, 1, {}, 1});
  pair.push_back({false, 0, {sep}, 1});
  return Pipeline(std::make_unique<BertNormalizer>(normalizer), PatternSplit::bert(normalizer.rules),
                  std::make_unique<WordPiece>(std::move(words), specials.unk, std::move(continuing_subword_prefix),
                                              max_input_chars_per_word),
                  std::make_unique<TemplateProcessor>(std::move(single), std::move(pair)), std::move(added));
}

Pipeline roberta_pipeline(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                          bool add_prefix_space) {
  const nlohmann::json doc = io::read_json(vocab_json);
  if (!doc.is_object() || doc.empty()) fail(ErrorKind::format, "{}: expected a non-empty object of token: id", vocab_json.string());
  std::vector<std::string> tokens(doc.size());
  std::vector<bool> seen(doc.size(), false);
  for (const auto& [token, id] : doc.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= static_cast<std::int64_t>(doc.size()) ||
        seen[id.get<std::size_t>()]) {
      fail(ErrorKind::format, "{}: the {} tokens must be numbered 0..{} once each; \"{}\" has {}", vocab_json.string(),
           doc.size(), doc.size() - 1, token, id.dump());
    }
    seen[id.get<std::size_t>()] = true;
    tokens[id.get<std::size_t>()] = token;
  }
  // merges.txt: an optional "#version" first line, then "left right" per line.
  const std::string text = io::read_file(merges_txt);
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t start = 0, line = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string_view row(text.data() + start, nl - start);
    ++line;
    start = nl + 1;
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    if (row.empty() || (line == 1 && row.starts_with("#version"))) continue;
    const auto space = row.find(' ');
    if (space == std::string_view::npos || row.find(' ', space + 1) != std::string_view::npos) {
      fail(ErrorKind::format, "{}:{}: expected two tokens separated by one space, found \"{}\"", merges_txt.string(), line, row);
    }
    merges.emplace_back(std::string(row.substr(0, space)), std::string(row.substr(space + 1)));
  }
  Vocabulary vocab(std::move(tokens));
  const std::int32_t bos = require_id(vocab, "<s>", vocab_json), eos = require_id(vocab, "</s>", vocab_json);
  std::vector<AddedToken> added;
  for (const char* t : {"<s>", "<pad>", "</s>", "<unk>"}) {
    if (auto id = vocab.find(t)) added.push_back(special_token(t, *id));
  }
  added.push_back(special_token("<mask>", require_id(vocab, "<mask>", vocab_json), true));
  BpeOptions options;
  options.continuing_subword_prefix = "";
  options.end_of_word_suffix = "";
  auto model = std::make_unique<Bpe>(std::move(vocab), merges, options, merges_txt.string());
  return Pipeline(nullptr, std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, true), std::move(model),
                  std::make_unique<RobertaProcessor>(SpecialToken{"<s>", bos}, SpecialToken{"</s>", eos}, true, add_prefix_space),
                  std::move(added));
}

Pipeline xlm_roberta_pipeline(const std::filesystem::path& sentencepiece_model) {
  const SentencePieceModel spm = read_sentencepiece_model(sentencepiece_model);
  if (!spm.unigram) {
    fail(ErrorKind::model, "{}: a SentencePiece BPE model; XLM-RoBERTa's converter takes Unigram models only",
         sentencepiece_model.string());
  }
  if (spm.pieces.size() < 3) fail(ErrorKind::format, "{}: only {} pieces", sentencepiece_model.string(), spm.pieces.size());
  // SpmConverter leaves byte fallback off for XLM-R. fairseq's order: <s> <pad> </s> <unk>, then the model's pieces after its own <unk> <s> </s>.
  std::vector<std::pair<std::string, double>> vocab{{"<s>", 0.0}, {"<pad>", 0.0}, {"</s>", 0.0}, {"<unk>", 0.0}};
  for (std::size_t i = 3; i < spm.pieces.size(); ++i) vocab.emplace_back(spm.pieces[i].piece, spm.pieces[i].score);
  vocab.emplace_back("<mask>", 0.0);
  const auto mask_id = static_cast<std::int32_t>(vocab.size() - 1);

  std::vector<std::unique_ptr<Normalizer>> normalizers;
  if (!spm.precompiled_charsmap.empty()) {
    normalizers.push_back(std::make_unique<Precompiled>(spm.precompiled_charsmap, sentencepiece_model.string()));
  }
  normalizers.push_back(std::make_unique<Strip>(false, true));
  normalizers.push_back(std::make_unique<Replace>(Pattern::regex(" {2,}", sentencepiece_model.string()), "\u2581"));

  const SpecialToken bos{"<s>", 0}, eos{"</s>", 2};
  std::vector<TemplateProcessor::Piece> single{{false, 0, {bos}, 0}, {true, 0, {}, 0}, {false, 0, {eos}, 0}};
  std::vector<TemplateProcessor::Piece> pair{{false, 0, {bos}, 0}, {true, 0, {}, 0}, {false, 0, {eos}, 0},
                                             {false, 0, {eos}, 0}, {true, 1, {}, 0}, {false, 0, {eos}, 0}};
  std::vector<AddedToken> added{special_token("<s>", 0), special_token("<pad>", 1), special_token("</s>", 2),
                                special_token("<unk>", 3)};
  // The model's own control and user-defined pieces are matched whole, never normalised.
  for (std::size_t i = 3; i < spm.pieces.size(); ++i) {
    const auto& p = spm.pieces[i];
    if (p.kind != SentencePieceKind::control && p.kind != SentencePieceKind::user_defined) continue;
    AddedToken t = special_token(p.piece, static_cast<std::int32_t>(i + 1));
    t.special = p.kind == SentencePieceKind::control;
    added.push_back(std::move(t));
  }
  added.push_back(special_token("<mask>", mask_id, true));
  return Pipeline(std::make_unique<NormalizerSequence>(std::move(normalizers)),
                  std::make_unique<Metaspace>(U'\u2581', PrependScheme::always, true),
                  std::make_unique<Unigram>(std::move(vocab), 3, false, sentencepiece_model.string()),
                  std::make_unique<TemplateProcessor>(std::move(single), std::move(pair)), std::move(added));
}

Pipeline albert_pipeline(const std::filesystem::path& sentencepiece_model, bool do_lower_case, bool keep_accents) {
  const SentencePieceModel spm = read_sentencepiece_model(sentencepiece_model);
  const auto where = sentencepiece_model.string();
  if (!spm.unigram) fail(ErrorKind::model, "{}: a SentencePiece BPE model; ALBERT's converter takes Unigram models", where);
  std::vector<std::pair<std::string, double>> vocab;
  std::int32_t unk = -1;
  for (std::size_t i = 0; i < spm.pieces.size(); ++i) {
    const auto& p = spm.pieces[i];
    // AlbertConverter.vocab: pieces such as "1," score 100 lower (check_number_comma).
    const auto& t = p.piece;
    const bool number_comma = t.size() >= 2 && t.back() == ',' && t[t.size() - 2] >= '0' && t[t.size() - 2] <= '9';
    vocab.emplace_back(t, number_comma ? p.score - 100 : p.score);
    if (p.kind == SentencePieceKind::unknown && unk < 0) unk = static_cast<std::int32_t>(i);
  }
  if (unk < 0) fail(ErrorKind::model, "{}: no unknown piece", where);
  Vocabulary ids([&] {
    std::vector<std::string> pieces;
    for (const auto& [piece, score] : vocab) pieces.push_back(piece);
    return pieces;
  }());
  const std::int32_t cls = require_id(ids, "[CLS]", sentencepiece_model), sep = require_id(ids, "[SEP]", sentencepiece_model);

  std::vector<std::unique_ptr<Normalizer>> normalizers;
  normalizers.push_back(std::make_unique<Replace>(Pattern::literal("``"), "\""));
  normalizers.push_back(std::make_unique<Replace>(Pattern::literal("''"), "\""));
  if (!keep_accents) {
    normalizers.push_back(std::make_unique<UnicodeNormalizer>(NormalForm::nfkd));
    normalizers.push_back(std::make_unique<StripAccents>());
  }
  if (do_lower_case) normalizers.push_back(std::make_unique<Lowercase>());
  if (!spm.precompiled_charsmap.empty())
    normalizers.push_back(std::make_unique<Precompiled>(spm.precompiled_charsmap, where));
  normalizers.push_back(std::make_unique<Replace>(Pattern::regex(" {2,}", where), " "));

  const SpecialToken cls_token{"[CLS]", cls}, sep_token{"[SEP]", sep};
  std::vector<TemplateProcessor::Piece> single{{false, 0, {cls_token}, 0}, {true, 0, {}, 0}, {false, 0, {sep_token}, 0}};
  std::vector<TemplateProcessor::Piece> pair = single;
  pair.push_back({true, 1, {}, 1});
  pair.push_back({false, 0, {sep_token}, 1});
  // The model's control and user-defined pieces are matched whole, never normalised.
  std::vector<AddedToken> added;
  for (std::size_t i = 0; i < spm.pieces.size(); ++i) {
    const auto& p = spm.pieces[i];
    const bool control = p.kind == SentencePieceKind::control || p.kind == SentencePieceKind::unknown;
    if (!control && p.kind != SentencePieceKind::user_defined) continue;
    AddedToken t = special_token(p.piece, static_cast<std::int32_t>(i), p.piece == "[MASK]");
    t.special = control;
    added.push_back(std::move(t));
  }
  return Pipeline(std::make_unique<NormalizerSequence>(std::move(normalizers)),
                  std::make_unique<Metaspace>(U'\u2581', PrependScheme::always, true),
                  std::make_unique<Unigram>(std::move(vocab), unk, false, where),
                  std::make_unique<TemplateProcessor>(std::move(single), std::move(pair)), std::move(added));
}

}  // namespace bertscope::tokenizer
