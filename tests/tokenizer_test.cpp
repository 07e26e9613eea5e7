// The tokenizer against golden ids written by tools/reference/tokenizer (transformers.js and the
// Rust `tokenizers` binding), plus the behaviour that has no golden: errors, flavours, loading.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"
#include "tokenizer/normalizers.hpp"
#include "tokenizer/unicode.hpp"

using namespace bertscope;
using namespace bertscope::model;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const fs::path kData = BERTSCOPE_TEST_DATA;
const fs::path kGolden = kData / "tokenizer";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_all(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::int32_t> parse_ids(const std::string& line) {
  std::vector<std::int32_t> ids;
  std::istringstream in(line);
  for (std::int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// The comparison every golden test goes through: empty when the ids are the same, else where and
// how they first differ.
std::string first_difference(const std::vector<std::int32_t>& expected, const std::vector<std::int32_t>& actual) {
  const std::size_t n = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (expected[i] != actual[i]) return fmt::format("position {}: expected {}, got {}", i, expected[i], actual[i]);
  }
  if (expected.size() != actual.size()) {
    return fmt::format("length: expected {}, got {}", expected.size(), actual.size());
  }
  return {};
}

// Counts the sentences whose ids differ from the golden lines and describes the first few.
std::size_t count_mismatches(const Tokenizer& tok, const std::vector<std::string>& sentences,
                             const std::vector<std::string>& golden, std::string& report) {
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    const std::string diff = first_difference(parse_ids(golden.at(i)), tok.encode(sentences[i]).ids);
    if (diff.empty()) continue;
    if (++mismatches <= 5) report += fmt::format("sentence {} \"{}\": {}\n", i + 1, sentences[i], diff);
  }
  return mismatches;
}

const Tokenizer& uncased_json() {
  static const Tokenizer tok = Tokenizer::from_folder(kData / "bert-base-uncased");
  return tok;
}
const Tokenizer& uncased_from_vocab() {
  static const Tokenizer tok = Tokenizer::from_vocab(kData / "bert-base-uncased/vocab.txt", TokenizerSettings{});
  return tok;
}
const Tokenizer& cased() {
  static const Tokenizer tok = Tokenizer::from_folder(kData / "bert-base-cased");
  return tok;
}
const Tokenizer& model_named(const std::string& name) { return name == "cased" ? cased() : uncased_json(); }

std::vector<std::string> ewt_sentences() { return read_lines(kData / "ud_ewt_dev_sentences.txt"); }

std::vector<std::pair<std::int64_t, std::int64_t>> offsets_of(const json& j) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& o : j) out.emplace_back(o[0].get<std::int64_t>(), o[1].get<std::int64_t>());
  return out;
}

// The byte offsets must cut the same text out of the input as the code point offsets.
void expect_byte_offsets_match(const std::string& text, const Encoding& enc, std::int32_t sequence) {
  std::vector<std::size_t> byte_at;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) byte_at.push_back(i);
  }
  byte_at.push_back(text.size());
  for (std::size_t t = 0; t < enc.size(); ++t) {
    if (enc.sequence_ids[t] != sequence) continue;
    const auto [cb, ce] = enc.char_offsets[t];
    const auto [bb, be] = enc.byte_offsets[t];
    EXPECT_EQ(static_cast<std::size_t>(bb), byte_at.at(static_cast<std::size_t>(cb))) << "token " << t;
    EXPECT_EQ(static_cast<std::size_t>(be), byte_at.at(static_cast<std::size_t>(ce))) << "token " << t;
  }
}

template <typename F>
std::string error_message(F&& f, ErrorKind expected_kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(expected_kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no bertscope::Error was thrown";
  return {};
}

using bertscope::test::TempDir;

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

}  // namespace

// --- Parity with the references --------------------------------------------------------------

TEST(TokenizerParity, EwtDevUncasedFromTokenizerJson) {
  const auto sentences = ewt_sentences();
  ASSERT_EQ(sentences.size(), 2001u);
  std::string report;
  EXPECT_EQ(count_mismatches(uncased_json(), sentences, read_lines(kGolden / "ewt_dev.uncased.ids"), report), 0u)
      << report;
}

TEST(TokenizerParity, EwtDevUncasedFromVocabTxtOnly) {
  TempDir dir;
  fs::copy_file(kData / "bert-base-uncased/vocab.txt", dir / "vocab.txt");
  const Tokenizer from_folder = Tokenizer::from_folder(dir.path());
  EXPECT_TRUE(from_folder.settings().lowercase) << "HF's default for a vocab.txt without config is do_lower_case=True";
  const auto sentences = ewt_sentences();
  const auto golden = read_lines(kGolden / "ewt_dev.uncased.ids");
  std::string report;
  EXPECT_EQ(count_mismatches(from_folder, sentences, golden, report), 0u) << report;
  EXPECT_EQ(count_mismatches(uncased_from_vocab(), sentences, golden, report), 0u) << report;
}

TEST(TokenizerParity, EwtDevCased) {
  EXPECT_FALSE(cased().settings().lowercase);
  std::string report;
  EXPECT_EQ(count_mismatches(cased(), ewt_sentences(), read_lines(kGolden / "ewt_dev.cased.ids"), report), 0u)
      << report;
}

TEST(TokenizerParity, EdgeCases) {
  std::map<std::string, json> inputs;
  for (const auto& line : read_lines(kGolden / "edge_cases.jsonl")) {
    json j = json::parse(line);
    inputs[j["name"].get<std::string>()] = j;
  }
  const json golden = json::parse(read_all(kGolden / "edge_cases.golden.json"));
  ASSERT_EQ(golden.size(), 2 * inputs.size());
  std::size_t checked = 0;
  for (const auto& g : golden) {
    const std::string name = g["name"].get<std::string>();
    const std::string model = g["model"].get<std::string>();
    const json& in = inputs.at(name);
    const std::string text = in["text"].get<std::string>();
    std::optional<std::string> pair;
    if (in.contains("pair")) pair = in["pair"].get<std::string>();
    SCOPED_TRACE(name + " (" + model + ")");
    const Encoding enc = model_named(model).encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt);
    EXPECT_EQ(first_difference(g["ids"].get<std::vector<std::int32_t>>(), enc.ids), "");
    EXPECT_EQ(enc.type_ids, g["type_ids"].get<std::vector<std::int32_t>>());
    EXPECT_EQ(enc.tokens, g["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(enc.word_ids, g["word_ids"].get<std::vector<std::int32_t>>());
    EXPECT_EQ(enc.char_offsets, offsets_of(g["offsets"]));
    expect_byte_offsets_match(text, enc, 0);
    if (pair) expect_byte_offsets_match(*pair, enc, 1);
    if (model == "uncased") {
      const Encoding again = uncased_from_vocab().encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt);
      EXPECT_EQ(again.ids, enc.ids) << "vocab.txt-only loading";
    }
    ++checked;
  }
  EXPECT_EQ(checked, golden.size());
}

TEST(TokenizerParity, Truncation) {
  const json golden = json::parse(read_all(kGolden / "truncation.golden.json"));
  ASSERT_FALSE(golden.empty());
  for (const auto& g : golden) {
    const std::string text = g["text"].get<std::string>();
    std::optional<std::string> pair;
    if (g.contains("pair")) pair = g["pair"].get<std::string>();
    EncodeOptions options;
    options.max_length = g["max_length"].get<std::size_t>();
    options.truncate = true;
    SCOPED_TRACE(text + " | " + pair.value_or("") + " max " + std::to_string(options.max_length));
    const Encoding enc =
        model_named(g["model"].get<std::string>())
            .encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt, options);
    EXPECT_EQ(first_difference(g["ids"].get<std::vector<std::int32_t>>(), enc.ids), "");
    EXPECT_EQ(enc.type_ids, g["type_ids"].get<std::vector<std::int32_t>>());
    EXPECT_LE(enc.size(), options.max_length);
    const Encoding full = model_named(g["model"].get<std::string>())
                              .encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt);
    EXPECT_EQ(enc.num_truncated, full.size() - enc.size());
  }
}

TEST(TokenizerParity, PreSplitWords) {
  const json golden = json::parse(read_all(kGolden / "words.golden.json"));
  ASSERT_FALSE(golden.empty());
  for (const auto& g : golden) {
    const auto words = g["words"].get<std::vector<std::string>>();
    SCOPED_TRACE(g["model"].get<std::string>() + ": " + g["words"].dump());
    const Encoding enc = model_named(g["model"].get<std::string>()).encode_words(words);
    EXPECT_EQ(first_difference(g["ids"].get<std::vector<std::int32_t>>(), enc.ids), "");
    EXPECT_EQ(enc.word_ids, g["word_ids"].get<std::vector<std::int32_t>>());
    EXPECT_EQ(enc.char_offsets, offsets_of(g["offsets"]));
  }
}

// Code points where the Rust tokenizer's Unicode tables differ from utf8proc's (assigned or
// re-categorised after its dependencies were generated): ids straight from the Rust binding.
TEST(TokenizerParity, UnicodeTableVersions) {
  const json golden = json::parse(read_all(kGolden / "unicode_versions.golden.json"));
  ASSERT_GT(golden.size(), 100u);
  std::size_t mismatches = 0;
  std::string report;
  for (const auto& g : golden) {
    const std::string text = g["text"].get<std::string>();
    for (const char* model : {"uncased", "cased"}) {
      const std::string diff = first_difference(g[model].get<std::vector<std::int32_t>>(), model_named(model).encode(text).ids);
      if (!diff.empty() && ++mismatches <= 10) report += g["code_point"].get<std::string>() + " " + model + ": " + diff + "\n";
    }
  }
  EXPECT_EQ(mismatches, 0u) << report;
}

// Every golden comparison must be able to fail: one changed id in one golden line is caught.
TEST(TokenizerParity, CorruptedGoldenIsCaught) {
  const auto sentences = ewt_sentences();
  auto golden = read_lines(kGolden / "ewt_dev.uncased.ids");
  std::vector<std::int32_t> ids = parse_ids(golden[41]);
  ASSERT_GT(ids.size(), 3u);
  ids[2] += 1;
  std::string line;
  for (auto id : ids) line += std::to_string(id) + " ";
  golden[41] = line;
  std::string report;
  EXPECT_EQ(count_mismatches(uncased_json(), sentences, golden, report), 1u);
  EXPECT_NE(report.find("sentence 42"), std::string::npos) << report;
  EXPECT_NE(report.find("position 2"), std::string::npos) << report;

  EXPECT_NE(first_difference({101, 7592, 102}, {101, 7592}), "");
  EXPECT_NE(first_difference({101, 7592}, {101, 7592, 102}), "");
  EXPECT_EQ(first_difference({101, 7592, 102}, {101, 7592, 102}), "");
}

// --- Behaviour without a golden ----------------------------------------------------------------

TEST(Tokenizer, WordIdsAndOffsets) {
  const std::string text = "Héllo [MASK] wörld, unaffable!";
  const Encoding enc = uncased_json().encode(text);
  const std::vector<std::string> tokens{"[CLS]", "hello", "[MASK]", "world", ",", "una", "##ffa", "##ble", "!", "[SEP]"};
  EXPECT_EQ(enc.tokens, tokens);
  EXPECT_EQ(enc.word_ids, (std::vector<std::int32_t>{-1, 0, 1, 2, 3, 4, 4, 4, 5, -1}));
  EXPECT_EQ(enc.sequence_ids, (std::vector<std::int32_t>{-1, 0, 0, 0, 0, 0, 0, 0, 0, -1}));
  using O = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(enc.char_offsets, (std::vector<O>{{0, 0}, {0, 5}, {6, 12}, {13, 18}, {18, 19}, {20, 23}, {23, 26},
                                              {26, 29}, {29, 30}, {0, 0}}));
  // "é" and "ö" are two bytes each.
  EXPECT_EQ(enc.byte_offsets[1], O(0, 6));
  EXPECT_EQ(enc.byte_offsets[3], O(14, 20));
  EXPECT_EQ(uncased_json().tokenize(text),
            (std::vector<std::string>{"hello", "[MASK]", "world", ",", "una", "##ffa", "##ble", "!"}));
}

TEST(Tokenizer, PairHasTypeIdsAndPerSegmentWords) {
  const Encoding enc = uncased_json().encode("Is it new?", std::string_view("Yes, brand new."));
  EXPECT_EQ(enc.tokens, (std::vector<std::string>{"[CLS]", "is", "it", "new", "?", "[SEP]", "yes", ",", "brand", "new",
                                                  ".", "[SEP]"}));
  EXPECT_EQ(enc.type_ids, (std::vector<std::int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(enc.sequence_ids, (std::vector<std::int32_t>{-1, 0, 0, 0, 0, -1, 1, 1, 1, 1, 1, -1}));
  EXPECT_EQ(enc.word_ids, (std::vector<std::int32_t>{-1, 0, 1, 2, 3, -1, 0, 1, 2, 3, 4, -1}));
  EXPECT_EQ(enc.char_offsets[6], (std::pair<std::int64_t, std::int64_t>(0, 3)));  // within the second text
}

TEST(Tokenizer, TruncationLongestFirstByHand) {
  EncodeOptions options;
  options.max_length = 8;
  options.truncate = true;
  // 7 + 2 word pieces: the longer first loses tokens until both fit in 8 - 3 = 5 (3 + 2).
  const Encoding enc = uncased_json().encode("one two three four five six seven", std::string_view("eight nine"), options);
  EXPECT_EQ(enc.tokens, (std::vector<std::string>{"[CLS]", "one", "two", "three", "[SEP]", "eight", "nine", "[SEP]"}));
  EXPECT_EQ(enc.num_truncated, 4u);
  const Encoding fits = uncased_json().encode("one two", std::nullopt, options);
  EXPECT_EQ(fits.num_truncated, 0u);
  EXPECT_EQ(fits.size(), 4u);
}

TEST(Tokenizer, TooLongInputIsAnErrorWithoutTruncate) {
  EncodeOptions options;
  options.max_length = 5;
  const std::string message = error_message(
      [&] { (void)uncased_json().encode("one two three four five", std::nullopt, options); }, ErrorKind::input);
  EXPECT_NE(message.find("7 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("limit of 5"), std::string::npos) << message;
  EXPECT_NE(message.find("--truncate"), std::string::npos) << message;
  options.max_length = 7;
  EXPECT_EQ(uncased_json().encode("one two three four five", std::nullopt, options).size(), 7u);
  options.max_length = 2;
  options.truncate = true;
  EXPECT_EQ(uncased_json().encode("one two", std::nullopt, options).tokens,
            (std::vector<std::string>{"[CLS]", "[SEP]"}));
  error_message([&] { (void)uncased_json().encode("a", std::string_view("b"), options); }, ErrorKind::input);
}

TEST(Tokenizer, InvalidUtf8NamesTheByte) {
  const std::string bad = std::string("abc") + "\xC3\x28" + "def";
  std::string message = error_message([&] { (void)uncased_json().encode(bad); }, ErrorKind::input);
  EXPECT_NE(message.find("byte 3"), std::string::npos) << message;
  message = error_message([&] { (void)uncased_json().encode("fine", std::string_view("\xED\xA0\x80")); },
                          ErrorKind::input);  // an encoded surrogate
  EXPECT_NE(message.find("byte 0"), std::string::npos) << message;
  EXPECT_NE(message.find("second text"), std::string::npos) << message;
  message = error_message([&] { (void)uncased_json().encode_words({"ok", "\xC0\xAF"}); }, ErrorKind::input);
  EXPECT_NE(message.find("word 1"), std::string::npos) << message;
}

TEST(Tokenizer, VocabularyLookups) {
  const Tokenizer& tok = uncased_json();
  EXPECT_EQ(tok.vocab_size(), 30522u);
  EXPECT_EQ(tok.unk_id(), 100);
  EXPECT_EQ(tok.cls_id(), 101);
  EXPECT_EQ(tok.sep_id(), 102);
  EXPECT_EQ(tok.mask_id(), 103);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.find("##ing"), std::optional<std::int32_t>(2075));
  EXPECT_EQ(tok.find("notaword"), std::nullopt);
  EXPECT_EQ(tok.token(2075), "##ing");
  error_message([&] { (void)tok.token(30522); }, ErrorKind::input);
  error_message([&] { (void)tok.token(-1); }, ErrorKind::input);
}

// The python flavour (BertTokenizer) NFC-normalises and drops unassigned code points; the fast one
// does neither. Expected ids follow tokenization_bert.py by hand.
TEST(Tokenizer, PythonFlavourDiffersWhereDocumented) {
  const Tokenizer py_cased = Tokenizer::from_folder(kData / "bert-base-cased", TokenizerFlavor::python);
  const Tokenizer py_uncased = Tokenizer::from_folder(kData / "bert-base-uncased", TokenizerFlavor::python);
  EXPECT_EQ(py_cased.settings().flavor, TokenizerFlavor::python);

  // "café" written with a combining acute: NFC makes it the vocabulary's "é".
  const std::string decomposed = "cafe\u0301";
  EXPECT_EQ(py_cased.tokenize(decomposed), cased().tokenize("café"));
  EXPECT_NE(cased().tokenize(decomposed), cased().tokenize("café"));
  // Ångström with U+212B ANGSTROM SIGN: NFC maps it to U+00C5 before the vocabulary sees it.
  EXPECT_EQ(py_cased.tokenize("\u212B"), cased().tokenize("\u00C5"));

  // U+0378 is unassigned: python drops it (category Cn), fast keeps it inside the word.
  EXPECT_EQ(py_uncased.tokenize("x\u0378y"), uncased_json().tokenize("xy"));
  EXPECT_EQ(uncased_json().tokenize("x\u0378y"), (std::vector<std::string>{"[UNK]"}));

  // CJK Extension E starts at U+2B820: python surrounds U+2B820 with spaces, fast does not.
  EXPECT_EQ(py_uncased.tokenize("a\U0002B820b").size(), 3u);
  EXPECT_EQ(uncased_json().tokenize("a\U0002B820b").size(), 1u);

  // Offsets still point into the original text: the composed "é" spans "e" and the accent.
  const Encoding enc = py_cased.encode("x " + decomposed);
  EXPECT_EQ(enc.char_offsets.back(), (std::pair<std::int64_t, std::int64_t>(0, 0)));
  EXPECT_EQ(enc.char_offsets[enc.size() - 2].second, 7);

  // On ordinary text the two flavours agree: all of EWT dev.
  std::string report;
  EXPECT_EQ(count_mismatches(py_uncased, ewt_sentences(), read_lines(kGolden / "ewt_dev.uncased.ids"), report), 0u)
      << report;
  EXPECT_EQ(count_mismatches(py_cased, ewt_sentences(), read_lines(kGolden / "ewt_dev.cased.ids"), report), 0u)
      << report;
}

TEST(Tokenizer, TokenizerConfigOverridesTheNormaliser) {
  TempDir dir;
  fs::copy_file(kData / "bert-base-uncased/tokenizer.json", dir / "tokenizer.json");
  write_file(dir / "tokenizer_config.json",
        R"({"do_lower_case": false, "model_max_length": 512, "mask_token": {"content": "[MASK]", "lstrip": false}})");
  const Tokenizer tok = Tokenizer::from_folder(dir.path());
  EXPECT_FALSE(tok.settings().lowercase);
  EXPECT_EQ(tok.settings().model_max_length, 512u);
  EXPECT_EQ(tok.tokenize("Hello"), (std::vector<std::string>{"[UNK]"}));  // no "Hello" in an uncased vocabulary

  write_file(dir / "tokenizer_config.json", R"({"model_max_length": 1e30, "strip_accents": false})");
  const Tokenizer keep_accents = Tokenizer::from_folder(dir.path());
  EXPECT_EQ(keep_accents.settings().model_max_length, 0u) << "transformers' VERY_LARGE_INTEGER means no limit";
  EXPECT_TRUE(keep_accents.settings().lowercase);
  EXPECT_EQ(keep_accents.settings().strip_accents, std::optional<bool>(false));
  EXPECT_NE(keep_accents.tokenize("café"), uncased_json().tokenize("café"));
}

TEST(Tokenizer, LoadingErrorsNameTheFile) {
  TempDir dir;
  std::string message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::io);
  EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;

  write_file(dir / "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0,}}}");
  message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;

  write_file(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 5}}})");
  message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;

  fs::remove(dir / "tokenizer.json");
  write_file(dir / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::model);
  EXPECT_NE(message.find("vocab.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("[MASK]"), std::string::npos) << message;

  write_file(dir / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
  write_file(dir / "tokenizer_config.json", R"({"mask_token": "<mask>"})");
  message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::model);
  EXPECT_NE(message.find("tokenizer_config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("<mask>"), std::string::npos) << message;

  write_file(dir / "tokenizer_config.json", R"({"do_lower_case": "yes"})");
  message = error_message([&] { (void)Tokenizer::from_folder(dir.path()); }, ErrorKind::format);
  EXPECT_NE(message.find("tokenizer_config.json"), std::string::npos) << message;

  message = error_message([&] { (void)Tokenizer::from_vocab(dir / "missing.txt", TokenizerSettings{}); }, ErrorKind::io);
  EXPECT_NE(message.find("missing.txt"), std::string::npos) << message;
}

TEST(Tokenizer, AddedTokenOptionsFromTokenizerJson) {
  TempDir dir;
  json doc = json::parse(read_all(kData / "bert-base-uncased/tokenizer.json"));
  doc["added_tokens"].push_back({{"id", 30522}, {"content", "<ent>"}, {"single_word", true}, {"lstrip", true},
                                 {"rstrip", false}, {"normalized", false}, {"special", false}});
  doc["added_tokens"].push_back({{"id", 30523}, {"content", "Foobar"}, {"single_word", false}, {"lstrip", false},
                                 {"rstrip", false}, {"normalized", true}, {"special", false}});
  write_file(dir / "tokenizer.json", doc.dump());
  const Tokenizer tok = Tokenizer::from_folder(dir.path());
  EXPECT_EQ(tok.vocab_size(), 30524u);
  // single_word: "<ent>" glued to a word is not matched; lstrip takes the space before it.
  const Encoding enc = tok.encode("a <ent> b x<ent>");
  EXPECT_EQ(enc.ids[2], 30522);
  EXPECT_EQ(enc.char_offsets[2], (std::pair<std::int64_t, std::int64_t>(1, 7)));
  EXPECT_EQ(std::count(enc.ids.begin(), enc.ids.end(), 30522), 1);
  // normalized: matched after lower-casing, so "FOOBAR" and "foobar" both hit.
  EXPECT_EQ(tok.encode("FOOBAR foobar").ids, std::vector<std::int32_t>({101, 30523, 30523, 102}));
}

TEST(Tokenizer, EwtDevIsFast) {
  const auto sentences = ewt_sentences();
  const Tokenizer& tok = uncased_json();
  const auto start = std::chrono::steady_clock::now();
  std::size_t tokens = 0;
  for (const auto& s : sentences) tokens += tok.encode(s).size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("ewt_dev_seconds", std::to_string(seconds));
  EXPECT_GT(tokens, 2001u * 3);
  // Well under a second in an optimised build; the bound leaves room for Debug and sanitizers.
  EXPECT_LT(seconds, 10.0);
}

namespace {

// Code points and original spans ("begin-end") of a normalised text.
std::string nfc_dump(const bertscope::tokenizer::NormText& text) {
  std::string out;
  for (const auto& ch : text) {
    out += fmt::format("{}{:X}@{}-{}", out.empty() ? "" : " ", static_cast<std::uint32_t>(ch.cp), ch.begin, ch.end);
  }
  return out;
}

std::string nfc_of(const std::u32string& input, bertscope::tokenizer::ComposedAlignment alignment =
                                                     bertscope::tokenizer::ComposedAlignment::in_order) {
  auto text = bertscope::tokenizer::aligned_text(input);
  bertscope::tokenizer::compose_nfc(text, alignment);
  return nfc_dump(text);
}

std::string nfc_form_of(const std::u32string& input) {
  auto text = bertscope::tokenizer::aligned_text(input);
  bertscope::tokenizer::normalize_form(text, bertscope::tokenizer::NormalForm::nfc);
  return nfc_dump(text);
}

}  // namespace

// NFC with alignments. Expected values are tokenizers' (npm 0.23.2) NFC normaliser and, for the
// spans, the offsets of its ModernBERT-style tokenizer: a composed character takes the span of the
// first character it came from (in_order) or of the whole run (whole_run, the Python flavour).
TEST(Tokenizer, NfcComposesHangulAndLatin) {
  using bertscope::tokenizer::ComposedAlignment;
  // Precomposed Hangul LV + T (U+AC00 가 + U+11A8 ᆨ) and L + V + T from separate jamo: both 각.
  EXPECT_EQ(nfc_of(U"\uAC00\u11A8"), "AC01@0-1");
  EXPECT_EQ(nfc_of(U"\u1100\u1161\u11A8"), "AC01@0-1");
  EXPECT_EQ(nfc_of(U"\u1100\u1161\u11A8", ComposedAlignment::whole_run), "AC01@0-3");
  EXPECT_EQ(nfc_of(U"\u1100\u1161\u11A8 \uAC00\u11A8"), "AC01@0-1 20@3-4 AC01@4-5");
  EXPECT_EQ(nfc_of(U"\u1100\u1161"), "AC00@0-1");
  // The next syllable's L starts a new run; a mark between L and V blocks the composition.
  EXPECT_EQ(nfc_of(U"\u1100\u1161\u11A8\u1100\u1161"), "AC01@0-1 AC00@3-4");
  EXPECT_EQ(nfc_of(U"\u1100\u0301\u1161"), "1100@0-1 301@1-2 1161@2-3");
  // Precomposed syllables with a final consonant go through NFD and come back whole (the
  // ModernBERT-style golden's "한국어 텍스트입니다").
  EXPECT_EQ(nfc_form_of(U"\uD55C\uAD6D\uC5B4 \uD14D\uC2A4\uD2B8\uC785\uB2C8\uB2E4"),
            "D55C@0-1 AD6D@1-2 C5B4@2-3 20@3-4 D14D@4-5 C2A4@5-6 D2B8@6-7 C785@7-8 B2C8@8-9 B2E4@9-10");
  // Latin: one and two marks, a mark that stays, a singleton decomposition, a starter pair.
  EXPECT_EQ(nfc_of(U"Cafe\u0301"), "43@0-1 61@1-2 66@2-3 E9@3-4");
  EXPECT_EQ(nfc_of(U"Cafe\u0301", ComposedAlignment::whole_run), "43@0-1 61@1-2 66@2-3 E9@3-5");
  EXPECT_EQ(nfc_of(U"A\u030A\u0301x"), "1FA@0-1 78@3-4");
  {  // the ogonek composes, the acute then stays (code points only: see compose_nfc on spans)
    auto text = bertscope::tokenizer::aligned_text(U"a\u0328\u0301");
    bertscope::tokenizer::compose_nfc(text, ComposedAlignment::in_order);
    EXPECT_EQ(bertscope::tokenizer::code_points(text), std::u32string(U"\u0105\u0301"));
  }
  EXPECT_EQ(nfc_form_of(U"n\u0303 \u212B"), "F1@0-1 20@2-3 C5@3-4");
  EXPECT_EQ(nfc_of(U"\u0B47\u0B3E"), "B4B@0-1");
  EXPECT_EQ(nfc_of(U"plain text"), nfc_dump(bertscope::tokenizer::aligned_text(U"plain text")));
}

// tokenizers' StripAccents drops what its is_combining_mark (older Unicode tables) calls a mark,
// not utf8proc's current M*: U+1ABF and U+07FD stay, U+1CF2 (now Lo) goes.
TEST(Tokenizer, StripAccentsFollowsRustMarkTables) {
  const auto strip = [](const std::u32string& input) {
    auto text = bertscope::tokenizer::aligned_text(input);
    bertscope::tokenizer::StripAccents().normalize(text);
    return nfc_dump(text);
  };
  EXPECT_EQ(strip(U"a\u0301b"), "61@0-1 62@2-3");           // Mn
  EXPECT_EQ(strip(U"a\u0903b"), "61@0-1 62@2-3");           // Mc
  EXPECT_EQ(strip(U"a\u20DDb"), "61@0-1 62@2-3");           // Me
  EXPECT_EQ(strip(U"a\u1ABFb"), "61@0-1 1ABF@1-2 62@2-3");  // Mn since Unicode 14, not in Rust's tables
  EXPECT_EQ(strip(U"a\u07FDb"), "61@0-1 7FD@1-2 62@2-3");
  EXPECT_EQ(strip(U"a\u1CF2b"), "61@0-1 62@2-3");  // Mc in Rust's tables, Lo in utf8proc's
  EXPECT_EQ(strip(U"e\u0301\u0327"), "65@0-1");
  EXPECT_TRUE(bertscope::tokenizer::is_rust_combining_mark(0x0300));
  EXPECT_FALSE(bertscope::tokenizer::is_rust_combining_mark(0x1E4EC));
  EXPECT_FALSE(bertscope::tokenizer::is_rust_combining_mark(U'a'));
}
