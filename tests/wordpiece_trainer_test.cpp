// `bertscope train vocab`: vocabularies learned by Hugging Face's own WordPieceTrainer
// (tests/data/tokenizers/wordpiece-trainer, made by
// tools/reference/tokenizer/make_wordpiece_trainer_goldens.mjs) token for token, the merge order
// on corpora small enough to work out by hand, bad input, and the written tokenizer.json.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/files.hpp"
#include "io/gutenberg.hpp"
#include "model/pretraining.hpp"
#include "test_util.hpp"
#include "tokenizer/load.hpp"
#include "tokenizer/text.hpp"
#include "tokenizer/wordpiece_trainer.hpp"

namespace fs = std::filesystem;
namespace tk = bertscope::tokenizer;
using bertscope::test::TempDir;
using WordCountMap = std::unordered_map<std::string, std::uint64_t>;
using TokenList = std::vector<std::string>;

namespace {

fs::path wordpiece_golden_folder() { return bertscope::test::data_dir() / "tokenizers" / "wordpiece-trainer"; }
fs::path wordpiece_repo_root() { return bertscope::test::data_dir().parent_path().parent_path(); }

TokenList read_token_lines(const fs::path& file) { return bertscope::io::read_text_lines(file); }

// Options that reproduce WordPieceTrainer::default(), the only trainer the npm binding runs.
tk::WordPieceTrainerOptions hf_default_options() {
  tk::WordPieceTrainerOptions o;
  o.vocab_size = 30000;
  o.min_frequency = 0;
  o.limit_alphabet.reset();
  o.special_tokens.clear();
  return o;
}

// The "##c" pieces of a vocabulary in id order: the order that run of tokenizers drew.
TokenList prefixed_order(const TokenList& vocab) {
  TokenList order;
  for (const auto& t : vocab)
    if (t.starts_with("##") && tk::to_u32(t.substr(2)).size() == 1) order.push_back(t);
  return order;
}

tk::WordPieceTrainerOptions plain_trainer_options(std::size_t vocab_size) {
  tk::WordPieceTrainerOptions o;
  o.vocab_size = vocab_size;
  o.min_frequency = 0;
  o.limit_alphabet.reset();
  o.special_tokens.clear();
  return o;
}

struct TrainerGoldenCase {
  std::string name;
  WordCountMap counts;
  TokenList golden;
  bool complete;
};

const std::vector<TrainerGoldenCase>& trainer_golden_cases() {
  static const auto cases = [] {
    std::vector<TrainerGoldenCase> out;
    const auto settings = bertscope::io::read_json(wordpiece_golden_folder() / "settings.json");
    std::map<std::pair<std::string, bool>, WordCountMap> counted;
    for (const auto& s : settings["settings"]) {
      const bool lowercase = s["lowercase"].get<bool>();
      std::string key;
      for (const auto& f : s["inputs"]) key += f.get<std::string>() + "\n";
      auto& counts = counted[{key, lowercase}];
      if (counts.empty()) {
        tk::WordCounter counter(lowercase);
        for (const auto& f : s["inputs"]) counter.add_file(wordpiece_repo_root() / f.get<std::string>());
        counts = counter.counts();
      }
      const auto name = s["name"].get<std::string>();
      out.push_back({name, counts, read_token_lines(wordpiece_golden_folder() / (name + ".vocab.txt")), s["complete"].get<bool>()});
      EXPECT_EQ(out.back().golden.size(), s["tokens"].get<std::size_t>()) << name;
    }
    return out;
  }();
  return cases;
}

// Index of the first difference, for a readable failure.
std::string first_vocab_difference(const TokenList& got, const TokenList& want) {
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (got[i] != want[i]) return fmt::format("id {}: got {} want {}", i, got[i], want[i]);
  return got.size() == want.size() ? "none" : fmt::format("sizes {} vs {}", got.size(), want.size());
}

}  // namespace

TEST(WordPieceTrainer, MatchesHuggingFaceTokenForToken) {
  ASSERT_EQ(trainer_golden_cases().size(), 3u);
  for (const auto& c : trainer_golden_cases()) {
    auto options = hf_default_options();
    options.prefixed_alphabet_order = prefixed_order(c.golden);
    if (!c.complete) options.vocab_size = c.golden.size();
    const auto got = tk::train_wordpiece(c.counts, options);
    EXPECT_EQ(got.size(), c.golden.size()) << c.name;
    EXPECT_TRUE(got == c.golden) << c.name << ": first difference at " << first_vocab_difference(got, c.golden);
  }
}

TEST(WordPieceTrainer, SmallerVocabularyAndSpecialTokensMatchHuggingFace) {
  // Greedy training: vocab_size N is the first N tokens; special tokens shift every id alike.
  const auto& c = trainer_golden_cases().front();
  for (const std::size_t n : {2000u, 5000u}) {
    auto options = hf_default_options();
    options.prefixed_alphabet_order = prefixed_order(c.golden);
    options.special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    options.vocab_size = n;
    TokenList want = options.special_tokens;
    want.insert(want.end(), c.golden.begin(), c.golden.begin() + static_cast<std::ptrdiff_t>(n - 5));
    const auto got = tk::train_wordpiece(c.counts, options);
    EXPECT_TRUE(got == want) << n << ": " << first_vocab_difference(got, want);
  }
}

TEST(WordPieceTrainer, GoldenComparisonCanFail) {
  // Without the run's "##" order the merges part ways where counts tie: the golden test bites.
  const auto& c = trainer_golden_cases().front();
  auto options = hf_default_options();
  options.vocab_size = c.golden.size();
  const auto got = tk::train_wordpiece(c.counts, options);
  EXPECT_FALSE(got == c.golden);
  auto wrong = c.golden;
  std::swap(wrong[wrong.size() - 1], wrong[wrong.size() - 2]);
  options.prefixed_alphabet_order = prefixed_order(c.golden);
  EXPECT_FALSE(tk::train_wordpiece(c.counts, options) == wrong);
}

TEST(WordPieceTrainer, MinFrequencyCutsTheSameMergeSequence) {
  const auto& c = trainer_golden_cases().front();
  auto options = hf_default_options();
  options.prefixed_alphabet_order = prefixed_order(c.golden);
  options.vocab_size = c.golden.size();
  options.min_frequency = 5;
  const auto got = tk::train_wordpiece(c.counts, options);
  ASSERT_LT(got.size(), c.golden.size());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), c.golden.begin()));
}

// Hand-made corpora: words and counts given directly, as after normalisation.
TEST(WordPieceTrainer, HigherCountWinsThenSmallerPairOfIds) {
  // a b c d ##b ##d: (c, ##d) x3 beats (a, ##b) x1 despite its larger ids.
  EXPECT_EQ(tk::train_wordpiece({{"ab", 1}, {"cd", 3}}, plain_trainer_options(100)), (TokenList{"a", "b", "c", "d", "##b", "##d", "cd", "ab"}));
  // Equal counts: (a=0, ##b=4) before (c=2, ##d=5).
  EXPECT_EQ(tk::train_wordpiece({{"ab", 2}, {"cd", 2}}, plain_trainer_options(100)), (TokenList{"a", "b", "c", "d", "##b", "##d", "ab", "cd"}));
  // Same first token: the smaller second id wins, so the "##" order decides.
  EXPECT_EQ(tk::train_wordpiece({{"ab", 2}, {"ac", 2}}, plain_trainer_options(100)), (TokenList{"a", "b", "c", "##b", "##c", "ab", "ac"}));
  auto reordered = plain_trainer_options(100);
  reordered.prefixed_alphabet_order = {"##c", "##b"};
  EXPECT_EQ(tk::train_wordpiece({{"ab", 2}, {"ac", 2}}, reordered), (TokenList{"a", "b", "c", "##c", "##b", "ac", "ab"}));
}

TEST(WordPieceTrainer, ContinuingPiecesMergeWithoutTheirInnerPrefix) {
  // abc x2: (a=0, ##b=3) and (##b=3, ##c=4) tie at 2, a+##b -> "ab" first, then ab+##c -> "abc".
  EXPECT_EQ(tk::train_wordpiece({{"abc", 2}}, plain_trainer_options(100)), (TokenList{"a", "b", "c", "##b", "##c", "ab", "abc"}));
  // (##b, ##c) x2 is the top pair -> "##bc"; then (a, ##bc) and (d, ##bc) x1, a first.
  EXPECT_EQ(tk::train_wordpiece({{"abc", 1}, {"dbc", 1}}, plain_trainer_options(100)),
            (TokenList{"a", "b", "c", "d", "##b", "##c", "##bc", "abc", "dbc"}));
}

TEST(WordPieceTrainer, StopsAtVocabSizeOrMinFrequency) {
  EXPECT_EQ(tk::train_wordpiece({{"ab", 3}, {"cd", 1}}, plain_trainer_options(7)), (TokenList{"a", "b", "c", "d", "##b", "##d", "ab"}));
  auto min2 = plain_trainer_options(100);
  min2.min_frequency = 2;
  EXPECT_EQ(tk::train_wordpiece({{"ab", 3}, {"cd", 1}}, min2), (TokenList{"a", "b", "c", "d", "##b", "##d", "ab"}));
  // Special tokens come first and count towards the size.
  auto specials = plain_trainer_options(8);
  specials.special_tokens = {"[UNK]", "[CLS]"};
  EXPECT_EQ(tk::train_wordpiece({{"ab", 3}, {"cd", 1}}, specials),
            (TokenList{"[UNK]", "[CLS]", "a", "b", "c", "d", "##b", "##d"}));
}

TEST(WordPieceTrainer, AlphabetLimitAndInitialAlphabet) {
  // a x2, b x1, c x1; a limit of 2 drops one of the rarest: the higher code point, c.
  auto limited = plain_trainer_options(100);
  limited.limit_alphabet = 2;
  EXPECT_EQ(tk::train_wordpiece({{"aab", 1}, {"c", 1}}, limited), (TokenList{"a", "b", "##a", "##b", "aa", "aab"}));
  // z is kept whatever its count; then only a fits; b drops out of "aab".
  limited.initial_alphabet = {U'z'};
  EXPECT_EQ(tk::train_wordpiece({{"aab", 1}, {"c", 1}}, limited), (TokenList{"a", "z", "##a", "aa"}));
}

TEST(WordPieceTrainer, TooSmallVocabularyIsAnError) {
  const auto message = bertscope::test::error_message([] { tk::train_wordpiece({{"ab", 3}, {"cd", 1}}, plain_trainer_options(5)); });
  EXPECT_NE(message.find("a vocabulary of 5 tokens is too small"), std::string::npos) << message;
  EXPECT_NE(message.find("make 6"), std::string::npos) << message;
}

TEST(WordPieceTrainer, CountsNormalisedWordsOfTheGutenbergBody) {
  TempDir dir("wordpiece");
  const auto file = dir / "book.txt";
  {
    std::ofstream out(file, std::ios::binary);
    out << "\xEF\xBB\xBFHeader words\r\n*** START OF THE BOOK ***\r\nCafé, CAFÉ!\r\n\r\ncafe\r\n*** END OF THE BOOK ***\r\nLicence\r\n";
  }
  tk::WordCounter uncased(true);
  uncased.add_file(file);
  EXPECT_EQ(uncased.counts(), (WordCountMap{{"cafe", 3}, {",", 1}, {"!", 1}}));
  tk::WordCounter cased(false);
  cased.add_file(file);
  EXPECT_EQ(cased.counts(), (WordCountMap{{"Café", 1}, {"CAFÉ", 1}, {"cafe", 1}, {",", 1}, {"!", 1}}));
  // The file rule is the text rule, which pre-training uses.
  const auto text = bertscope::io::read_file(file);
  const auto a = bertscope::io::gutenberg_body(text), b = bertscope::io::gutenberg_file_body(file);
  EXPECT_EQ(a.begin, b.begin);
  EXPECT_EQ(a.end, b.end);
  EXPECT_EQ(bertscope::model::strip_gutenberg(text), "Café, CAFÉ!\r\n\r\ncafe\r\n");
  for (const std::string odd : {"no marks\n", "*** END OF x\n*** START OF y\nbody\n", "*** START OF y", "a\n*** START OF y\nbody"}) {
    const auto f = dir / "odd.txt";
    std::ofstream(f, std::ios::binary) << odd;
    const auto x = bertscope::io::gutenberg_body(odd), y = bertscope::io::gutenberg_file_body(f);
    EXPECT_EQ(x.begin, y.begin) << odd;
    EXPECT_EQ(x.end, y.end) << odd;
  }
}

TEST(WordPieceTrainer, WrittenTokenizerJsonEncodesLikeVocabTxt) {
  TempDir dir("wordpiece");
  const auto out = dir / "vocab";
  const auto r = bertscope::test::run_command(fmt::format("{} train vocab --corpus {} {} --vocab-size 3000 --out {} 2>&1",
                                                          bertscope::test::cli(),
                                                          (bertscope::test::data_dir() / "ud_ewt_dev_sentences.txt").string(),
                                                          (wordpiece_repo_root() / "data/prose/a_tale_of_two_cities.sentences.txt").string(),
                                                          out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto vocab = read_token_lines(out / "vocab.txt");
  ASSERT_EQ(vocab.size(), 3000u);
  EXPECT_EQ(TokenList(vocab.begin(), vocab.begin() + 5), (TokenList{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  const auto json = bertscope::io::read_json(out / "tokenizer.json");
  EXPECT_EQ(json["model"]["vocab"].size(), 3000u);
  EXPECT_EQ(json["added_tokens"].size(), 5u);
  const auto from_json = tk::pipeline_from_json(json, out / "tokenizer.json");
  tk::BertNormalizerOptions normalizer;
  const auto from_txt = tk::bert_pipeline(vocab, normalizer, {}, "##", 100, {}, out / "vocab.txt");
  const auto sentences = read_token_lines(bertscope::test::data_dir() / "ud_ewt_dev_sentences.txt");
  std::size_t unknown = 0, tokens = 0;
  for (std::size_t i = 0; i + 1 < 400; i += 2) {
    const auto a = from_json.encode(sentences[i], sentences[i + 1]);
    const auto b = from_txt.encode(sentences[i], sentences[i + 1]);
    ASSERT_EQ(a.ids, b.ids) << sentences[i];
    ASSERT_EQ(a.type_ids, b.type_ids);
    unknown += static_cast<std::size_t>(std::count(a.ids.begin(), a.ids.end(), 1));
    tokens += a.ids.size();
  }
  EXPECT_EQ(from_json.encode("Hello world").tokens.front(), "[CLS]");
  EXPECT_LT(unknown * 100, tokens);  // the corpus's own text is covered
}

TEST(WordPieceTrainer, BadInputFailsCleanlyAndWritesNothing) {
  TempDir dir("wordpiece");
  const auto good = dir / "good.txt";
  std::ofstream(good) << "some words and some more words\n";
  const auto bad = dir / "bad.txt";
  std::ofstream(bad, std::ios::binary) << "fine line\nbroken \xC3\x28 line\n";
  const auto out = dir / "out";
  const auto expect_failure = [&](const std::string& args, const std::vector<std::string>& mentions) {
    const auto r = bertscope::test::run_command(fmt::format("{} train vocab {} --out {} 2>&1", bertscope::test::cli(), args, out.string()));
    EXPECT_NE(r.status, 0) << r.output;
    auto text = r.output;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 0) << r.output;
    for (const auto& m : mentions) EXPECT_NE(text.find(m), std::string::npos) << "no '" << m << "' in: " << text;
    EXPECT_FALSE(fs::exists(out)) << args;
  };
  expect_failure(fmt::format("--corpus {} {}", good.string(), (dir / "missing.txt").string()), {"missing.txt"});
  expect_failure(fmt::format("--corpus {} {}", good.string(), dir.path().string()), {"not a regular file"});
  expect_failure(fmt::format("--corpus {}", bad.string()), {"bad.txt:2", "invalid UTF-8 at byte 8"});
  expect_failure(fmt::format("--corpus {} --vocab-size 10", good.string()), {"too small"});
  expect_failure(fmt::format("--corpus {} --special-tokens '[PAD]' '[UNK]'", good.string()), {"[CLS]"});
}

TEST(WordPieceTrainer, CommandKeepsSpecialTokensAsWritten) {
  TempDir dir("wordpiece");
  const auto corpus = dir / "corpus.txt";
  std::ofstream(corpus) << "some words and some more words\n";
  const auto out = dir / "out";
  const auto r = bertscope::test::run_command(fmt::format(
      "{} train vocab --corpus {} --special-tokens '[UNK]' '[CLS]' '[SEP]' '<x>' --vocab-size 30 --min-frequency 1 --out {} 2>&1",
      bertscope::test::cli(), corpus.string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto vocab = read_token_lines(out / "vocab.txt");
  ASSERT_GE(vocab.size(), 4u);
  EXPECT_EQ(TokenList(vocab.begin(), vocab.begin() + 4), (TokenList{"[UNK]", "[CLS]", "[SEP]", "<x>"}));
  const auto json = bertscope::io::read_json(out / "tokenizer.json");
  EXPECT_EQ(json["added_tokens"].size(), 4u);
  EXPECT_EQ(json["post_processor"]["special_tokens"]["[SEP]"]["ids"][0], 2);
}
