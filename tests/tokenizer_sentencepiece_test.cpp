// The XLM-R-style tokenizer converted from an spm_train model against libsentencepiece's own
// pieces (EncodeAsPieces) on EWT dev and the edge cases. They differ only by design, and each
// difference is named and checked:
//   - added tokens: the converted tokenizer matches <s>, </s>, <pad>, <mask> as whole tokens
//     before the model (and Metaspace marks the word after one), sentencepiece spells them out;
//   - equal-score segmentations: where two cuts of a word have the same total log probability,
//     tokenizers' Viterbi keeps the path found first, sentencepiece another ("!!!!" + "!!!" vs
//     "!!!" + "!!!!"): same text, same score.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/tokenizer.hpp"
#include "tokenizer/sentencepiece_model.hpp"

using namespace bertscope;
namespace fs = std::filesystem;

namespace {

const fs::path kSpmDir = fs::path(BERTSCOPE_TEST_DATA) / "tokenizers" / "xlmr-unigram";

std::vector<std::string> spm_test_texts() {
  std::vector<std::string> out;
  std::ifstream in(fs::path(BERTSCOPE_TEST_DATA) / "ud_ewt_dev_sentences.txt");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  std::ifstream golden_file(kSpmDir / "golden.json");
  const auto golden = nlohmann::json::parse(golden_file);
  for (const auto& c : golden["edge_cases"]) out.push_back(c["text"].get<std::string>());
  return out;
}

std::string spm_joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

}  // namespace

TEST(TokenizerSentencePiece, ConvertedTokenizerDiffersFromSentencePieceOnlyByDesign) {
  const auto model_file = kSpmDir / "sentencepiece.bpe.model";
  const tokenizer::SentencePieceEncoder spm(model_file);
  const auto tok = model::Tokenizer::from_folder(kSpmDir);
  std::unordered_map<std::string, double> score;
  for (const auto& p : tokenizer::read_sentencepiece_model(model_file).pieces) score.emplace(p.piece, p.score);
  auto total = [&](const std::vector<std::string>& pieces) {
    double s = 0;
    for (const auto& p : pieces) s += score.count(p) ? score.at(p) : NAN;
    return s;
  };

  std::size_t same = 0, added_token_cases = 0, tie_cases = 0;
  const auto texts = spm_test_texts();
  for (const auto& text : texts) {
    const auto expected = spm.pieces(text);
    const auto actual = tok.tokenize(text);
    if (expected == actual) {
      ++same;
      continue;
    }
    const bool has_added_token = text.find("<mask>") != std::string::npos || text.find("<s>") != std::string::npos ||
                                 text.find("</s>") != std::string::npos || text.find("<pad>") != std::string::npos;
    if (has_added_token) {
      ++added_token_cases;
      continue;
    }
    // Otherwise it must be a tie: the same text cut into pieces of the same total score.
    EXPECT_EQ(spm_joined(expected), spm_joined(actual)) << text;
    EXPECT_NEAR(total(expected), total(actual), 1e-4) << text;
    ++tie_cases;
  }
  RecordProperty("same", std::to_string(same));
  RecordProperty("added_token_cases", std::to_string(added_token_cases));
  RecordProperty("tie_cases", std::to_string(tie_cases));
  EXPECT_EQ(added_token_cases, 4u);  // the four edge cases that type special tokens
  EXPECT_LE(tie_cases, 10u);
  EXPECT_GE(same, texts.size() - 14);
}

TEST(TokenizerSentencePiece, PiecesMatchOnOrdinaryText) {
  const tokenizer::SentencePieceEncoder spm(kSpmDir / "sentencepiece.bpe.model");
  const auto tok = model::Tokenizer::from_folder(kSpmDir);
  for (const char* text : {"Hello world", "Café naïve résumé", "runs   of    spaces", "東京は日本の首都です。"}) {
    EXPECT_EQ(tok.tokenize(text), spm.pieces(text)) << text;
  }
}
