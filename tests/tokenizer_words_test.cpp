// Pre-split words (CoNLL-U sentences, agreement templates) read as one sentence for every
// tokenizer convention: encode_words gives the pieces of the words joined by spaces (byte-level
// BPE's "Ġ" and Metaspace's "▁" on every word after the first, as in running text), word ids that
// index the words, and offsets within each word; agreement candidates are looked up as they read
// at the masked word ("Ġis", not "is").
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "analysis/agreement_data.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"

using namespace bertscope;

namespace {

std::vector<std::vector<std::string>> ewt_word_lists(std::size_t limit) {
  std::ifstream in(test::data_dir() / "ud_ewt_dev_sentences.txt");
  std::vector<std::vector<std::string>> out;
  std::string line;
  while (out.size() < limit && std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    if (!w.empty()) out.push_back(std::move(w));
  }
  return out;
}

std::string joined(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

}  // namespace

class WordsReadAsOneSentence : public ::testing::TestWithParam<std::string> {};

TEST_P(WordsReadAsOneSentence, PiecesOfTheJoinedTextWordIdsAndOffsetsWithinWords) {
  const auto tok = model::Tokenizer::from_folder(test::data_dir() / "tokenizers" / GetParam());
  const auto sentences = ewt_word_lists(300);
  ASSERT_EQ(sentences.size(), 300u);
  for (const auto& words : sentences) {
    const auto by_words = tok.encode_words(words);
    const auto by_text = tok.encode(joined(words));
    ASSERT_EQ(by_words.ids, by_text.ids) << joined(words);
    const auto text = joined(words);
    for (std::size_t t = 0; t < by_words.size(); ++t) {
      const auto w = by_words.word_ids[t];
      if (w < 0) continue;
      const auto& word = words[static_cast<std::size_t>(w)];
      // The token covers the same characters of its word as of the running text, less the space
      // before the word that a word-start piece ("▁Enron") covers there.
      const auto [begin, end] = by_words.byte_offsets[t];
      ASSERT_LE(0, begin);
      ASSERT_LE(end, static_cast<std::int64_t>(word.size())) << text;
      auto [tb, te] = by_text.byte_offsets[t];
      while (tb < te && text[static_cast<std::size_t>(tb)] == ' ') ++tb;
      EXPECT_EQ(word.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)),
                text.substr(static_cast<std::size_t>(tb), static_cast<std::size_t>(te - tb)))
          << text << " token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, WordsReadAsOneSentence, ::testing::Values("roberta-bpe", "xlmr-unigram"));

TEST(WordsReadAsOneSentence, AgreementCandidatesAreThePiecesAtTheMaskedWord) {
  const auto tok = model::Tokenizer::from_folder(test::data_dir() / "tokenizers" / "roberta-bpe");
  analysis::agreement::AgreementExample ex;
  ex.words = {"the", "author", "[MASK]", "here"};
  ex.mask_word = 2;
  ex.good = "is";
  ex.bad = "are";
  const auto encoded = analysis::agreement::encode_examples(tok, {ex}, 64);
  ASSERT_EQ(encoded.size(), 1u);
  EXPECT_EQ(tok.token(encoded[0].good_id), "Ġis");
  EXPECT_EQ(tok.token(encoded[0].bad_id), "Ġare");
  EXPECT_EQ(encoded[0].encoding.ids[static_cast<std::size_t>(encoded[0].mask_position)], tok.mask_id());

  // Sentence-initial: no space before the word.
  ex.words = {"[MASK]", "here"};
  ex.mask_word = 0;
  ex.good = "is";
  ex.bad = "it";
  const auto initial = analysis::agreement::encode_examples(tok, {ex}, 64);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(tok.token(initial[0].good_id), "is");
}
