// The tokenizer pipeline against Hugging Face tokenizers (Rust, npm binding 0.23.2), id for id and
// offset for offset, on three tokenizers made by tools/reference/tokenizer/make_pipeline_goldens.mjs:
// a RoBERTa-style byte-level BPE, an spm_train Unigram converted the XLM-R way, and a Unigram
// trained by tokenizers; and the ALBERT-, DeBERTa-v3- and ModernBERT-style folders of
// make_family_goldens.mjs. Every test compares with golden.json beside the tokenizer files.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"

using namespace bertscope;
namespace fs = std::filesystem;

namespace {

const fs::path kPipelineData = fs::path(BERTSCOPE_TEST_DATA) / "tokenizers";

nlohmann::json read_pipeline_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

std::vector<std::string> pipeline_sentences() {
  std::ifstream in(fs::path(BERTSCOPE_TEST_DATA) / "ud_ewt_dev_sentences.txt");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::int64_t> pipeline_numbers(const nlohmann::json& field) {
  std::vector<std::int64_t> out;
  std::istringstream in(field.get<std::string>());
  for (std::int64_t v; in >> v;) out.push_back(v);
  return out;
}

// Empty when `enc` is what the golden case says (ids, char offsets, word ids, type ids), else the
// first difference.
std::string pipeline_difference(const nlohmann::json& golden, const model::Encoding& enc) {
  std::vector<std::int64_t> ids(enc.ids.begin(), enc.ids.end()), offsets, words(enc.word_ids.begin(), enc.word_ids.end()),
      types(enc.type_ids.begin(), enc.type_ids.end());
  for (const auto& [b, e] : enc.char_offsets) {
    offsets.push_back(b);
    offsets.push_back(e);
  }
  for (auto [name, actual] : {std::pair{"ids", &ids}, std::pair{"offsets", &offsets}, std::pair{"words", &words},
                              std::pair{"types", &types}}) {
    const auto expected = pipeline_numbers(golden[name]);
    if (expected != *actual) {
      std::size_t i = 0;
      while (i < expected.size() && i < actual->size() && expected[i] == (*actual)[i]) ++i;
      return fmt::format("{} differ at {}: expected {}, got {} (tokens: {})", name, i,
                         i < expected.size() ? std::to_string(expected[i]) : "end",
                         i < actual->size() ? std::to_string((*actual)[i]) : "end", fmt::join(enc.tokens, " "));
    }
  }
  return {};
}

struct PipelineTally {
  std::size_t cases = 0, mismatches = 0, ids = 0;
  std::string report;
  void check(const nlohmann::json& golden, const model::Encoding& enc, const std::string& what) {
    ++cases;
    ids += enc.ids.size();
    const std::string diff = pipeline_difference(golden, enc);
    if (diff.empty()) return;
    if (++mismatches <= 5) report += fmt::format("{}: {}\n", what, diff);
  }
};

// All goldens of one tokenizer folder.
PipelineTally check_pipeline_goldens(const model::Tokenizer& tok, const fs::path& dir) {
  const auto golden = read_pipeline_json(dir / "golden.json");
  const auto sentences = pipeline_sentences();
  PipelineTally t;
  EXPECT_EQ(golden["ewt_dev"].size(), sentences.size());
  for (std::size_t i = 0; i < sentences.size() && i < golden["ewt_dev"].size(); ++i) {
    t.check(golden["ewt_dev"][i], tok.encode(sentences[i]), fmt::format("EWT dev sentence {} \"{}\"", i + 1, sentences[i]));
  }
  for (const auto& c : golden["edge_cases"]) {
    t.check(c, tok.encode(c["text"].get<std::string>()), fmt::format("edge case {}", c["text"].dump()));
  }
  for (const auto& c : golden["pairs"]) {
    t.check(c, tok.encode(c["text"].get<std::string>(), c["pair"].get<std::string>()),
            fmt::format("pair {} / {}", c["text"].dump(), c["pair"].dump()));
  }
  return t;
}

// Copies the named files of a golden folder, so a loader sees only them.
test::TempDir folder_with(const fs::path& from, std::initializer_list<const char*> names) {
  test::TempDir dir("pipeline");
  for (const char* n : names) fs::copy_file(from / n, dir / n);
  return dir;
}

}  // namespace

TEST(TokenizerPipeline, ByteLevelBpeMatchesTokenizers) {
  const auto dir = kPipelineData / "roberta-bpe";
  const auto folder = folder_with(dir, {"tokenizer.json"});
  const auto tok = model::Tokenizer::from_folder(folder.path());
  const auto t = check_pipeline_goldens(tok, dir);
  EXPECT_EQ(t.mismatches, 0u) << t.report;
  EXPECT_GT(t.ids, 40000u);
  RecordProperty("cases", std::to_string(t.cases));
}

TEST(TokenizerPipeline, VocabJsonAndMergesBuildTheSameTokenizer) {
  const auto dir = kPipelineData / "roberta-bpe";
  const auto folder = folder_with(dir, {"vocab.json", "merges.txt"});
  const auto tok = model::Tokenizer::from_folder(folder.path());
  const auto t = check_pipeline_goldens(tok, dir);
  EXPECT_EQ(t.mismatches, 0u) << t.report;
  EXPECT_EQ(tok.cls_id(), 0);
  EXPECT_EQ(tok.sep_id(), 2);
  EXPECT_EQ(tok.pad_id(), 1);
  EXPECT_EQ(tok.unk_id(), 3);
  EXPECT_EQ(tok.token(tok.mask_id()), "<mask>");
  EXPECT_EQ(tok.num_special_tokens(false), 2u);
  EXPECT_EQ(tok.num_special_tokens(true), 4u);
}

TEST(TokenizerPipeline, ConvertedXlmRobertaUnigramMatchesTokenizers) {
  const auto dir = kPipelineData / "xlmr-unigram";
  const auto t = check_pipeline_goldens(model::Tokenizer::from_folder(folder_with(dir, {"tokenizer.json"}).path()), dir);
  EXPECT_EQ(t.mismatches, 0u) << t.report;
  EXPECT_GT(t.ids, 40000u);
}

TEST(TokenizerPipeline, SentencePieceModelConvertsLikeTransformers) {
  const auto dir = kPipelineData / "xlmr-unigram";
  const auto tok = model::Tokenizer::from_folder(folder_with(dir, {"sentencepiece.bpe.model"}).path());
  const auto t = check_pipeline_goldens(tok, dir);
  EXPECT_EQ(t.mismatches, 0u) << t.report;
  EXPECT_EQ(tok.cls_id(), 0);
  EXPECT_EQ(tok.pad_id(), 1);
  EXPECT_EQ(tok.sep_id(), 2);
  EXPECT_EQ(tok.unk_id(), 3);
  EXPECT_EQ(tok.mask_id(), static_cast<std::int32_t>(tok.vocab_size()) - 1);
}

TEST(TokenizerPipeline, TokenizersTrainedUnigramMatchesTokenizers) {
  const auto dir = kPipelineData / "hf-unigram";
  const auto t = check_pipeline_goldens(model::Tokenizer::from_folder(folder_with(dir, {"tokenizer.json"}).path()), dir);
  EXPECT_EQ(t.mismatches, 0u) << t.report;
  EXPECT_GT(t.ids, 30000u);
}

// ALBERT- (lower-cased and cased), DeBERTa-v3- and ModernBERT-style tokenizer folders against
// tokenizers' goldens (tools/reference/tokenizer/make_family_goldens.mjs; also checked through the
// CLI by tests/tokenizer_family_parity.sh). They cover Precompiled/NFKD/StripAccents/Lowercase
// normalisers and NFC over Hangul. Each folder loads as shipped, less its golden.json.
TEST(TokenizerPipeline, FamilyTokenizerFoldersMatchTokenizers) {
  for (const char* name : {"albert-lower-unigram", "albert-cased-unigram", "debertav3-unigram", "modernbert-bpe"}) {
    SCOPED_TRACE(name);
    const auto dir = kPipelineData / name;
    test::TempDir folder("family");
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename() != "golden.json") fs::copy_file(entry.path(), folder / entry.path().filename().string());
    }
    const auto t = check_pipeline_goldens(model::Tokenizer::from_folder(folder.path()), dir);
    EXPECT_EQ(t.mismatches, 0u) << t.report;
    EXPECT_GE(t.cases, 2001u + 100u + 8u);
  }
}

TEST(TokenizerPipeline, GoldenComparisonCanFail) {
  const auto dir = kPipelineData / "roberta-bpe";
  const auto tok = model::Tokenizer::from_folder(folder_with(dir, {"tokenizer.json"}).path());
  const auto golden = read_pipeline_json(dir / "golden.json");
  const auto sentences = pipeline_sentences();
  auto enc = tok.encode(sentences[0]);
  ASSERT_EQ(pipeline_difference(golden["ewt_dev"][0], enc), "");
  enc.char_offsets[1].second += 1;
  EXPECT_NE(pipeline_difference(golden["ewt_dev"][0], enc), "");
  enc = tok.encode(sentences[0]);
  enc.word_ids[2] += 1;
  EXPECT_NE(pipeline_difference(golden["ewt_dev"][0], enc), "");
}

TEST(TokenizerPipeline, RolesAndWordsFollowTheConventions) {
  const auto tok = model::Tokenizer::from_folder(folder_with(kPipelineData / "roberta-bpe", {"tokenizer.json"}).path());
  const auto enc = tok.encode("The cat <mask> here", std::string_view("and there"));
  ASSERT_GE(enc.size(), 8u);
  EXPECT_EQ(enc.roles.front(), model::TokenRole::cls_or_bos);
  EXPECT_EQ(enc.roles.back(), model::TokenRole::sep_or_eos);
  EXPECT_EQ(std::count(enc.roles.begin(), enc.roles.end(), model::TokenRole::sep_or_eos), 3);
  EXPECT_EQ(std::count(enc.roles.begin(), enc.roles.end(), model::TokenRole::mask), 1);
  EXPECT_EQ(std::count(enc.roles.begin(), enc.roles.end(), model::TokenRole::ordinary),
            static_cast<std::ptrdiff_t>(enc.size()) - 5);
}

// ALBERT's two tokenizer layouts give the same pipeline (AlbertConverter): a tokenizer.json with
// Replace(``/'') + NFKD + StripAccents + Lowercase + Precompiled + Replace(spaces) normalizers,
// Metaspace, Unigram and "[CLS] A [SEP] B [SEP]" with B's type id 1
// (tools/make_albert_tokenizer_fixture.py), and a folder with only spiece.model (spm_train
// Unigram with <pad> <unk> [CLS] [SEP] [MASK] first, converted in bertscope).
namespace {

void check_albert_style(const model::Tokenizer& tok) {
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.mask_id(), 4);
  EXPECT_EQ(tok.num_special_tokens(true), 3u);
  const auto enc = tok.encode("The ``Café'' is  OPEN.", std::string_view("Was it [MASK]?"));
  ASSERT_GE(enc.size(), 8u);
  EXPECT_EQ(enc.ids.front(), 2);
  EXPECT_EQ(enc.ids.back(), 3);
  std::string joined;
  std::size_t seps = 0, first_b = 0;
  for (std::size_t i = 0; i < enc.size(); ++i) {
    joined += enc.tokens[i];
    if (enc.ids[i] == 3 && ++seps == 1) first_b = i + 1;
    EXPECT_EQ(enc.type_ids[i], i >= first_b && seps >= 1 && first_b > 0 ? 1 : 0) << i << " " << enc.tokens[i];
  }
  EXPECT_EQ(seps, 2u);
  // Lowercased, the accent stripped, `` and '' become ", the run of spaces one space.
  EXPECT_NE(joined.find("\u2581the\u2581\"cafe\"\u2581is\u2581open."), std::string::npos) << joined;
  EXPECT_NE(std::find(enc.ids.begin(), enc.ids.end(), 4), enc.ids.end()) << joined;  // [MASK] whole
}

}  // namespace

TEST(TokenizerPipeline, AlbertTokenizerJsonLoads) {
  const auto dir = kPipelineData / "albert-unigram";
  check_albert_style(model::Tokenizer::from_folder(folder_with(dir, {"tokenizer.json", "tokenizer_config.json"}).path()));
}

TEST(TokenizerPipeline, AlbertSpieceModelAloneConvertsLikeAlbertConverter) {
  const auto tok = model::Tokenizer::from_folder(folder_with(kPipelineData / "albert-spiece", {"spiece.model"}).path());
  check_albert_style(tok);
  EXPECT_EQ(tok.token(2), "[CLS]");
}
