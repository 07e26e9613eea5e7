// Token -> word attention (methods.md 1.2) and the checks that tie trace files to data words.
#include <gtest/gtest.h>

#include "analysis/word_attention.hpp"
#include "clark_test_util.hpp"
#include "io/error.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;

TEST(ClarkWordAttention, SumsColumnsAndAveragesOrTakesFirstRow) {
  // [CLS] a ##1 b [SEP]: word 0 has two pieces (tokens 1, 2).
  const auto enc = tc::word_encoding(2, {2, 1});
  const auto a = align_sentence(enc, 2, false, "t.npz", "d:1");
  ASSERT_EQ(a.units.size(), 4u);
  const float att[25] = {
      0.2f, 0.1f, 0.3f, 0.2f, 0.2f,  //
      0.0f, 0.5f, 0.1f, 0.4f, 0.0f,  //
      0.4f, 0.2f, 0.2f, 0.0f, 0.2f,  //
      0.1f, 0.1f, 0.1f, 0.6f, 0.1f,  //
      0.0f, 0.0f, 0.0f, 0.0f, 1.0f,
  };
  float mean[16], first[16];
  word_level_map(att, 5, a.units, FromWord::mean, mean);
  word_level_map(att, 5, a.units, FromWord::first, first);
  // Row of word 0 (mean of token rows 1 and 2), columns [CLS], word 0 (tokens 1 + 2), word 1, [SEP].
  const float mean_row[4] = {0.2f, 0.5f, 0.2f, 0.1f};
  const float first_row[4] = {0.0f, 0.6f, 0.4f, 0.0f};
  for (int j = 0; j < 4; ++j) {
    EXPECT_NEAR(mean[4 + j], mean_row[j], 1e-6) << j;
    EXPECT_NEAR(first[4 + j], first_row[j], 1e-6) << j;
  }
  // [CLS] row: its columns summed per word.
  EXPECT_NEAR(mean[0], 0.2f, 1e-6);
  EXPECT_NEAR(mean[1], 0.4f, 1e-6);
  EXPECT_NEAR(mean[2], 0.2f, 1e-6);
  // Single-piece words are the same in both modes; every row still sums to 1.
  for (int r = 0; r < 4; ++r) {
    float s = 0;
    for (int j = 0; j < 4; ++j) s += mean[r * 4 + j];
    EXPECT_NEAR(s, 1.0f, 1e-6) << r;
    if (r == 1) continue;
    for (int j = 0; j < 4; ++j) EXPECT_EQ(mean[r * 4 + j], first[r * 4 + j]);
  }
}

TEST(ClarkWordAttention, WholeTensorMatchesPerMap) {
  const auto enc = tc::word_encoding(3, {1, 3, 2});
  const auto a = align_sentence(enc, 3, false, "t.npz", "d:1");
  core::Tensor att({2, 2, 8, 8});
  for (std::size_t i = 0; i < att.data.size(); ++i) att.data[i] = static_cast<float>((i * 7919) % 13) / 13.0f;
  const auto maps = word_level_attention(att, a.units, FromWord::mean);
  ASSERT_EQ(maps.shape, (core::Shape{2, 2, 5, 5}));
  float one[25];
  word_level_map(att.ptr() + 3 * 64, 8, a.units, FromWord::mean, one);
  for (int i = 0; i < 25; ++i) EXPECT_FLOAT_EQ(maps.data[static_cast<std::size_t>(3 * 25 + i)], one[i]);
}

TEST(ClarkWordAttention, PairUnits) {
  model::Encoding e;
  e.word_ids = {-1, 0, 0, 1, -1, 0, 1, 1, -1};
  e.sequence_ids = {-1, 0, 0, 0, -1, 1, 1, 1, -1};
  e.ids.assign(9, 1);
  const auto units = word_units(e);
  ASSERT_EQ(units.size(), 7u);  // [CLS] a b [SEP] a' b' [SEP]
  EXPECT_EQ(units[1].size(), 2);
  EXPECT_EQ(units[4].begin, 5);
  EXPECT_EQ(units[5].size(), 2);
}

TEST(ClarkWordAttention, MismatchNamesTraceAndDataLine) {
  const auto enc = tc::word_encoding(4);
  try {
    align_sentence(enc, 6, false, "traces/000003.npz", "dev.conllu:120");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("traces/000003.npz"), std::string::npos) << what;
    EXPECT_NE(what.find("dev.conllu:120"), std::string::npos) << what;
    EXPECT_NE(what.find("first 4 words"), std::string::npos) << what;
  }
  // More words in the trace than in the data, and word ids that go back, are errors too.
  EXPECT_THROW(align_sentence(enc, 3, false, "t", "d"), Error);
  auto back = enc;
  back.word_ids = {-1, 0, 1, 0, 2, -1};
  EXPECT_THROW(align_sentence(back, 4, false, "t", "d"), Error);
  // A truncated trace covers a prefix when allowed.
  EXPECT_EQ(align_sentence(enc, 6, true, "t", "d").words, 4u);
}

TEST(ClarkWordAttention, WordsWithoutTokens) {
  auto enc = tc::word_encoding(4);
  enc.word_ids = {-1, 0, 2, 3, -1};  // word 1 produced no token
  enc.ids.resize(5);
  const auto a = align_sentence(enc, 4, false, "t", "d");
  EXPECT_EQ(a.words_without_tokens, 1u);
  EXPECT_EQ(a.units.size(), 6u);
  EXPECT_EQ(a.units[2].size(), 0);
  // From the model's own tokenizer a missing last word has no tokens; from a trace it is a mismatch.
  const auto short_enc = tc::word_encoding(3);
  EXPECT_EQ(align_sentence(short_enc, 4, false, "", "d").words_without_tokens, 1u);
  EXPECT_THROW(align_sentence(short_enc, 4, false, "t.npz", "d"), Error);
}
