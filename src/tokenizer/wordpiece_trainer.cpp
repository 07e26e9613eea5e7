#include "tokenizer/wordpiece_trainer.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <queue>
#include <set>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/gutenberg.hpp"
#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

namespace {

using TokenPair = std::pair<std::uint32_t, std::uint32_t>;

struct TokenPairHash {
  std::size_t operator()(const TokenPair& p) const {
    return std::hash<std::uint64_t>{}((static_cast<std::uint64_t>(p.first) << 32) | p.second);
  }
};

// A word as a list of token ids, merged in place; tokenizers' bpe::Word::merge, whose exact
// sequence of count changes the training loop depends on.
using TrainWord = std::vector<std::uint32_t>;

struct PairChange {
  TokenPair pair;
  int delta;
};

void merge_in_word(TrainWord& word, TokenPair pair, std::uint32_t replacement, std::vector<PairChange>& changes) {
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (word[i] != pair.first || i + 1 >= word.size() || word[i + 1] != pair.second) continue;
    if (i > 0) {
      changes.push_back({{word[i - 1], pair.first}, -1});
      changes.push_back({{word[i - 1], replacement}, 1});
    }
    word[i] = replacement;
    word.erase(word.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (i + 1 < word.size()) {
      changes.push_back({{pair.second, word[i + 1]}, -1});
      changes.push_back({{replacement, word[i + 1]}, 1});
    }
  }
}

// A candidate merge in the queue: the pair's count when queued and the words that held it then.
// The same pair may be queued more than once with different words, as in tokenizers.
struct QueuedMerge {
  std::uint64_t count;
  TokenPair pair;
  std::vector<std::uint32_t> words;
};

// Highest count first; among equal counts the smaller pair of ids (tokenizers' Merge order).
struct QueuedMergeBelow {
  bool operator()(const QueuedMerge& a, const QueuedMerge& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.pair > b.pair;
  }
};

class VocabBuilder {
 public:
  std::uint32_t add(const std::string& token) {
    const auto [it, inserted] = ids_.try_emplace(token, static_cast<std::uint32_t>(tokens_.size()));
    if (inserted) tokens_.push_back(token);
    return it->second;
  }
  bool contains(const std::string& token) const { return ids_.contains(token); }
  std::uint32_t id(const std::string& token) const { return ids_.at(token); }
  const std::string& token(std::uint32_t id) const { return tokens_[id]; }
  std::size_t size() const { return tokens_.size(); }
  std::vector<std::string> release() { return std::move(tokens_); }

 private:
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> tokens_;
};

std::string utf8_of(char32_t c) {
  std::string s;
  append_utf8(s, c);
  return s;
}

// Characters by count over all words; characters of the initial alphabet always stay. Beyond
// `limit`, the rarest go. tokenizers breaks ties in count in hash order (by chance); here the
// higher code point goes first.
std::vector<char32_t> trained_alphabet(const std::unordered_map<std::string, std::uint64_t>& word_counts,
                                       const WordPieceTrainerOptions& options) {
  std::unordered_map<char32_t, std::uint64_t> counts;
  for (const auto& [word, count] : word_counts)
    for (const char32_t c : to_u32(word)) counts[c] += count;
  for (const char32_t c : options.initial_alphabet) counts[c] = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::pair<char32_t, std::uint64_t>> kept(counts.begin(), counts.end());
  if (options.limit_alphabet && kept.size() > *options.limit_alphabet) {
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    kept.resize(*options.limit_alphabet);
  }
  std::vector<char32_t> alphabet;
  for (const auto& [c, count] : kept) alphabet.push_back(c);
  std::sort(alphabet.begin(), alphabet.end());
  return alphabet;
}

BertNormalizerOptions bert_normalizer_options(bool lowercase) {
  BertNormalizerOptions options;
  options.lowercase = lowercase;
  return options;
}

void require_text_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(status)) fail(ErrorKind::io, "{}: no such file", file.string());
  if (!std::filesystem::is_regular_file(status)) fail(ErrorKind::io, "{}: not a regular file", file.string());
}

}  // namespace

WordCounter::WordCounter(bool lowercase)
    : normalizer_(bert_normalizer_options(lowercase)), pre_tokenizer_(PatternSplit::bert(BertRules::rust)) {}

void WordCounter::add_text(std::string_view text, std::string_view what) {
  auto norm = aligned_text(decode(text, what).cps);
  normalizer_.normalize(norm);
  pieces_.clear();
  pre_tokenizer_->split(std::move(norm), pieces_);
  for (const auto& piece : pieces_)
    if (!piece.empty()) ++counts_[to_utf8(piece)];
}

void WordCounter::add_files(const std::vector<std::filesystem::path>& files, const TrainProgressFn& progress) {
  std::size_t total = 0, before = 0;
  for (const auto& file : files) {
    require_text_file(file);
    total += static_cast<std::size_t>(std::filesystem::file_size(file));
  }
  for (const auto& file : files) {
    TrainProgressFn in_file;
    if (progress) in_file = [&](std::string_view stage, std::size_t done, std::size_t) { progress(stage, before + done, total); };
    add_file(file, in_file);
    before += static_cast<std::size_t>(std::filesystem::file_size(file));
  }
}

void WordCounter::add_file(const std::filesystem::path& file, const TrainProgressFn& progress) {
  require_text_file(file);
  const auto body = io::gutenberg_file_body(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::io, "{}: cannot open for reading", file.string());
  std::string line;
  std::size_t offset = 0, line_number = 0;
  while (offset < body.end && std::getline(in, line)) {
    ++line_number;
    const auto line_begin = offset;
    offset += line.size() + (in.eof() ? 0 : 1);
    if (offset <= body.begin) continue;
    const auto from = std::max(line_begin, body.begin) - line_begin;
    const auto to = std::min(line_begin + line.size(), body.end) - line_begin;
    std::string_view text = from < to ? std::string_view(line).substr(from, to - from) : std::string_view();
    if (line_number == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    if (const auto bad = io::find_invalid_utf8(text); bad != std::string_view::npos)
      fail(ErrorKind::input, "{}:{}: invalid UTF-8 at byte {}", file.string(), line_number,
           static_cast<std::size_t>(text.data() - line.data()) + bad + 1);
    add_text(text, file.string());
    if (progress) progress("counting words (bytes)", offset, body.end);
  }
  if (in.bad()) fail(ErrorKind::io, "{}: read error after line {}", file.string(), line_number);
}

std::vector<std::string> train_wordpiece(const std::unordered_map<std::string, std::uint64_t>& word_counts,
                                         const WordPieceTrainerOptions& options, const TrainProgressFn& progress) {
  const auto& prefix = options.continuing_subword_prefix;
  VocabBuilder vocab;
  for (const auto& token : options.special_tokens) vocab.add(token);
  const auto alphabet = trained_alphabet(word_counts, options);
  for (const char32_t c : alphabet) vocab.add(utf8_of(c));

  // Characters outside the alphabet (and not special tokens) are dropped from their words;
  // their neighbours become adjacent, as in tokenizers.
  std::vector<std::u32string> chars;
  std::vector<std::uint64_t> counts;
  chars.reserve(word_counts.size());
  counts.reserve(word_counts.size());
  std::set<char32_t> prefixed;  // characters seen inside a word, in code-point order
  for (const auto& [word, count] : word_counts) {
    std::u32string kept;
    for (const char32_t c : to_u32(word))
      if (vocab.contains(utf8_of(c))) kept.push_back(c);
    prefixed.insert(kept.begin() + (kept.empty() ? 0 : 1), kept.end());
    chars.push_back(std::move(kept));
    counts.push_back(count);
  }
  for (const auto& piece : options.prefixed_alphabet_order) {
    const auto cps = piece.starts_with(prefix) ? to_u32(piece.substr(prefix.size())) : std::u32string();
    if (cps.size() == 1 && prefixed.contains(cps[0])) vocab.add(piece);
  }
  for (const char32_t c : prefixed) vocab.add(prefix + utf8_of(c));
  if (vocab.size() > options.vocab_size)
    fail(ErrorKind::input,
         "a vocabulary of {} tokens is too small: the {} special tokens, {} characters and {} characters with \"{}\" "
         "that this corpus needs make {} (ask for at least that, or lower the alphabet limit)",
         options.vocab_size, options.special_tokens.size(), alphabet.size(), prefixed.size(), prefix, vocab.size());

  std::vector<TrainWord> words(chars.size());
  for (std::size_t w = 0; w < chars.size(); ++w)
    for (std::size_t i = 0; i < chars[w].size(); ++i)
      words[w].push_back(vocab.id(i == 0 ? utf8_of(chars[w][i]) : prefix + utf8_of(chars[w][i])));
  chars = {};

  std::unordered_map<TokenPair, std::int64_t, TokenPairHash> pair_counts;
  std::unordered_map<TokenPair, std::vector<std::uint32_t>, TokenPairHash> where;
  for (std::uint32_t w = 0; w < words.size(); ++w)
    for (std::size_t i = 0; i + 1 < words[w].size(); ++i) {
      const TokenPair pair{words[w][i], words[w][i + 1]};
      pair_counts[pair] += static_cast<std::int64_t>(counts[w]);
      auto& at = where[pair];
      if (at.empty() || at.back() != w) at.push_back(w);
    }
  std::priority_queue<QueuedMerge, std::vector<QueuedMerge>, QueuedMergeBelow> queue;
  auto queue_pending = [&] {
    for (auto& [pair, at] : where)
      if (const auto count = pair_counts[pair]; count > 0)
        queue.push({static_cast<std::uint64_t>(count), pair, std::move(at)});
    where.clear();
  };
  queue_pending();

  // tokenizers re-queues a merge whose count went stale, and never lowers the count of the pair
  // it merges: a pair queued again with other words is merged there too, into the same token.
  std::vector<PairChange> changes;
  while (vocab.size() < options.vocab_size && !queue.empty()) {
    auto top = queue.top();
    queue.pop();
    const auto current = static_cast<std::uint64_t>(pair_counts[top.pair]);
    if (top.count != current) {
      top.count = current;
      queue.push(std::move(top));
      continue;
    }
    if (top.count < 1 || options.min_frequency > top.count) break;
    const auto& right = vocab.token(top.pair.second);
    const auto token = vocab.token(top.pair.first) +
                       (right.starts_with(prefix) ? right.substr(prefix.size()) : right);
    const auto new_id = vocab.add(token);
    for (const auto w : top.words) {
      changes.clear();
      merge_in_word(words[w], top.pair, new_id, changes);
      for (const auto& change : changes) {
        pair_counts[change.pair] += change.delta * static_cast<std::int64_t>(counts[w]);
        if (change.delta > 0) {
          auto& at = where[change.pair];
          if (at.empty() || at.back() != w) at.push_back(w);
        }
      }
    }
    queue_pending();
    if (progress) progress("merging", vocab.size(), options.vocab_size);
  }
  return vocab.release();
}

void check_bert_special_tokens(const std::vector<std::string>& special_tokens) {
  for (const char* needed : {"[UNK]", "[CLS]", "[SEP]"})
    if (std::find(special_tokens.begin(), special_tokens.end(), needed) == special_tokens.end())
      fail(ErrorKind::input, "the special tokens lack {}, which a BERT tokenizer needs", needed);
}

nlohmann::ordered_json bert_tokenizer_json(const std::vector<std::string>& vocab, bool lowercase,
                                   const std::vector<std::string>& special_tokens,
                                   const std::string& continuing_subword_prefix) {
  nlohmann::ordered_json ids = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < vocab.size(); ++i) ids[vocab[i]] = i;
  auto id_of = [&](const std::string& token) {
    if (!ids.contains(token)) fail(ErrorKind::input, "the vocabulary has no {} token, which a BERT tokenizer needs", token);
    return ids[token].get<std::size_t>();
  };
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  std::vector<std::pair<std::size_t, std::string>> specials;
  for (const auto& token : special_tokens) specials.emplace_back(id_of(token), token);
  std::sort(specials.begin(), specials.end());
  specials.erase(std::unique(specials.begin(), specials.end()), specials.end());
  for (const auto& [id, token] : specials)
    added.push_back({{"id", id}, {"content", token}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  auto special = [](const char* token, int type_id) { return nlohmann::ordered_json{{"SpecialToken", {{"id", token}, {"type_id", type_id}}}}; };
  auto sequence = [](const char* name, int type_id) { return nlohmann::ordered_json{{"Sequence", {{"id", name}, {"type_id", type_id}}}}; };
  const auto cls = id_of("[CLS]"), sep = id_of("[SEP]");
  id_of("[UNK]");
  return nlohmann::ordered_json{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true}, {"strip_accents", nullptr},
        {"lowercase", lowercase}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)}},
        {"pair", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1), special("[SEP]", 1)}},
        {"special_tokens",
         {{"[CLS]", {{"id", "[CLS]"}, {"ids", {cls}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {sep}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", continuing_subword_prefix}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", continuing_subword_prefix},
        {"max_input_chars_per_word", 100}, {"vocab", ids}}},
  };
}

void write_wordpiece_vocabulary(const std::filesystem::path& dir, const std::vector<std::string>& vocab,
                                bool lowercase, const std::vector<std::string>& special_tokens,
                                const std::string& continuing_subword_prefix) {
  const auto json = bert_tokenizer_json(vocab, lowercase, special_tokens, continuing_subword_prefix);
  std::string lines;
  for (const auto& token : vocab) {
    if (token.find_first_of("\r\n") != std::string::npos)
      fail(ErrorKind::input, "token {} holds a line break and cannot be written to vocab.txt", io::quote(token));
    lines += token;
    lines += '\n';
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot create the folder: {}", dir.string(), ec.message());
  io::write_file_atomic(dir / "vocab.txt", lines);
  io::write_file_atomic(dir / "tokenizer.json", json.dump(2) + "\n");
}

}  // namespace bertscope::tokenizer
