// Broken tokenizer files: each is one clear Error naming the file (and the component or line).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"

using namespace bertscope;
namespace fs = std::filesystem;

namespace {

const fs::path kBadInputData = fs::path(BERTSCOPE_TEST_DATA) / "tokenizers";

void write_bad_input(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

nlohmann::json bad_input_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return nlohmann::json::parse(in);
}

// The message of the Error `fn` throws, checked to be of `kind`.
std::string bad_input_error(const std::function<void()>& fn, ErrorKind kind) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a bertscope::Error: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

}  // namespace

TEST(TokenizerBadInput, UnknownComponentIsNamed) {
  const auto doc = bad_input_json(kBadInputData / "roberta-bpe/tokenizer.json");
  for (const char* component : {"normalizer", "pre_tokenizer", "post_processor", "model"}) {
    test::TempDir dir("bad-component");
    auto broken = doc;
    broken[component] = {{"type", "Frobnicate"}};
    write_bad_input(dir / "tokenizer.json", broken.dump());
    const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
    EXPECT_NE(message.find((dir / "tokenizer.json").string()), std::string::npos) << message;
    EXPECT_NE(message.find(component), std::string::npos) << message;
    EXPECT_NE(message.find("\"Frobnicate\""), std::string::npos) << message;
  }
  // Inside a Sequence too.
  test::TempDir dir("bad-nested");
  auto broken = doc;
  broken["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Sparkle"}}}}};
  write_bad_input(dir / "tokenizer.json", broken.dump());
  const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("Sparkle"), std::string::npos) << message;
}

TEST(TokenizerBadInput, VocabularyLargerThanTheModel) {
  const auto tok = model::Tokenizer::from_folder(kBadInputData / "roberta-bpe");
  EXPECT_NO_THROW(tok.check_vocab_size(static_cast<std::int64_t>(tok.vocab_size()), "m"));
  const auto message = bad_input_error([&] { tok.check_vocab_size(1000, "/models/small"); }, ErrorKind::model);
  EXPECT_NE(message.find("/models/small"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(tok.vocab_size())), std::string::npos) << message;
}

TEST(TokenizerBadInput, MergeOfPiecesNotInTheVocabulary) {
  test::TempDir dir("bad-merges");
  fs::copy_file(kBadInputData / "roberta-bpe/vocab.json", dir / "vocab.json");
  write_bad_input(dir / "merges.txt", "#version: 0.2\nĠ t\nzq xv\n");
  auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find((dir / "merges.txt").string()), std::string::npos) << message;
  EXPECT_NE(message.find("\"zq\""), std::string::npos) << message;

  write_bad_input(dir / "merges.txt", "#version: 0.2\nĠ t h\n");
  message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("merges.txt:2"), std::string::npos) << message;

  // The same in a tokenizer.json.
  fs::remove(dir / "merges.txt");
  fs::remove(dir / "vocab.json");
  auto doc = bad_input_json(kBadInputData / "roberta-bpe/tokenizer.json");
  doc["model"]["merges"].push_back({"Ġ", "nonexistent-piece"});
  write_bad_input(dir / "tokenizer.json", doc.dump());
  message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("tokenizer.json: model BPE"), std::string::npos) << message;
  EXPECT_NE(message.find("nonexistent-piece"), std::string::npos) << message;
}

TEST(TokenizerBadInput, TruncatedSentencePieceModel) {
  test::TempDir dir("bad-spm");
  std::ifstream in(kBadInputData / "xlmr-unigram/sentencepiece.bpe.model", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bad_input(dir / "sentencepiece.bpe.model", bytes.substr(0, bytes.size() / 2));
  const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find((dir / "sentencepiece.bpe.model").string()), std::string::npos) << message;
}

// Found by fuzz_sentencepiece (issue 21): a piece that is a NUL byte passes libsentencepiece's
// protobuf checks, then its trie builder (darts-clone) throws Darts::Details::Exception
// ("zero-length key"), which left the loader as a foreign exception (std::terminate in the CLI).
TEST(TokenizerBadInput, FuzzSentencePiecePieceThatIsANulByte) {
  test::TempDir dir("bad-spm-nul");
  std::ifstream in(kBadInputData / "xlmr-unigram/sentencepiece.bpe.model", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // One more ModelProto.pieces entry (field 1): {piece (1): "\0", score (2): 0.0f}.
  bytes += std::string("\x0a\x08\x0a\x01\x00\x15\x00\x00\x00\x00", 10);
  write_bad_input(dir / "sentencepiece.bpe.model", bytes);
  const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find((dir / "sentencepiece.bpe.model").string()), std::string::npos) << message;
  EXPECT_NE(message.find("zero-length key"), std::string::npos) << message;
}

// Found with fuzz_tokenizer_config (issue 21): tokenizer_config.json's add_prefix_space (beside
// vocab.json + merges.txt) and keep_accents (beside spiece.model) of another type than a boolean
// threw nlohmann's type_error out of the loader instead of an Error naming the file.
TEST(TokenizerBadInput, FuzzTokenizerConfigFlagsOfTheWrongType) {
  test::TempDir dir("bad-tokenizer-config");
  const auto check = [&](const fs::path& folder, const std::string& config, const std::string& key) {
    write_bad_input(folder / "tokenizer_config.json", config);
    const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(folder); }, ErrorKind::format);
    EXPECT_NE(message.find((folder / "tokenizer_config.json").string()), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
  };
  fs::create_directories(dir / "roberta");
  for (const char* name : {"vocab.json", "merges.txt"}) fs::copy_file(kBadInputData / "roberta-bpe" / name, dir / "roberta" / name);
  check(dir / "roberta", R"({"add_prefix_space": "yes"})", "add_prefix_space");
  fs::create_directories(dir / "albert");
  fs::copy_file(kBadInputData / "albert-spiece" / "spiece.model", dir / "albert" / "spiece.model");
  check(dir / "albert", R"({"keep_accents": 1})", "keep_accents");
}

TEST(TokenizerBadInput, BadRegexAndCharsmap) {
  const auto doc = bad_input_json(kBadInputData / "xlmr-unigram/tokenizer.json");
  test::TempDir dir("bad-regex");
  auto broken = doc;
  broken["normalizer"]["normalizers"][2]["pattern"]["Regex"] = "( {2,}";
  write_bad_input(dir / "tokenizer.json", broken.dump());
  auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("normalizer Replace"), std::string::npos) << message;

  broken = doc;
  broken["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "AAAA";
  write_bad_input(dir / "tokenizer.json", broken.dump());
  message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("normalizer Precompiled"), std::string::npos) << message;
}

TEST(TokenizerBadInput, CommandLineSaysOneLineAndFails) {
  test::TempDir dir("bad-cli");
  auto doc = bad_input_json(kBadInputData / "roberta-bpe/tokenizer.json");
  doc["pre_tokenizer"] = {{"type", "Frobnicate"}};
  write_bad_input(dir / "tokenizer.json", doc.dump());
  const auto r = test::run_command(test::cli() + " tokenize --model " + dir.path().string() + " --text hello");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find((dir / "tokenizer.json").string() + ": pre_tokenizer: unknown type \"Frobnicate\""), std::string::npos)
      << r.output;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"tokenizer.json"});
}

// Found by fuzz/fuzz_tokenizer_json: a TemplateProcessing special token whose entry in
// "special_tokens" is not an object read missing keys through const operator[] (undefined
// behaviour, a heap overflow under ASan), and values of the wrong JSON type escaped as nlohmann
// exceptions. Each is now one Error(format) naming the file.
TEST(TokenizerBadInput, FuzzTemplateSpecialTokensOfTheWrongShape) {
  bertscope::test::TempDir dir("tok-fuzz-template");
  const auto file = dir.path() / "tokenizer.json";
  const std::string model = R"("model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
    "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "[CLS]": 1, "a": 2}})";
  const auto with_specials = [&](const std::string& specials) {
    return "{" + model + R"(, "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": )" + specials + "}}";
  };
  for (const std::string specials : {R"({"[CLS]": 7})", R"({"[CLS]": {"id": "[CLS]"}})",
                                     R"({"[CLS]": {"id": "[CLS]", "ids": ["x"], "tokens": ["[CLS]"]}})", "5"}) {
    write_bad_input(file, with_specials(specials));
    const auto message = bad_input_error([&] { (void)model::Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
    EXPECT_NE(message.find(file.string()), std::string::npos) << specials << ": " << message;
  }
}
