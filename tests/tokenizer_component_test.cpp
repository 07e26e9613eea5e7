// Tokenizer components beyond the three pipeline tokenizers (Split behaviours, Punctuation,
// Whitespace, Digits, NFD/NFKD, StripAccents, Strip, Prepend, Metaspace options, BPE unknowns,
// byte fallback and ignore_merges, ByteLevel options, BertProcessing, processor Sequence) against
// tokenizers 0.23.2: each variant of tests/data/tokenizers/components.json is a JSON merge patch
// over one of the pipeline tokenizer.json files (tools/reference/tokenizer/make_component_goldens.mjs).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/tokenizer.hpp"
#include "test_util.hpp"

using namespace bertscope;
namespace fs = std::filesystem;

namespace {

const fs::path kComponentData = fs::path(BERTSCOPE_TEST_DATA) / "tokenizers";

nlohmann::json read_component_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

std::string component_numbers(const std::vector<std::int64_t>& v) { return fmt::format("{}", fmt::join(v, " ")); }

// "" when the encoding is the golden case, else what differs.
std::string component_difference(const nlohmann::json& c, const model::Encoding& e) {
  std::vector<std::int64_t> offsets;
  for (const auto& [b, end] : e.char_offsets) {
    offsets.push_back(b);
    offsets.push_back(end);
  }
  const std::string ids = component_numbers({e.ids.begin(), e.ids.end()});
  const std::string offs = component_numbers(offsets);
  const std::string words = component_numbers({e.word_ids.begin(), e.word_ids.end()});
  const std::string types = component_numbers({e.type_ids.begin(), e.type_ids.end()});
  if (ids != c["ids"]) return fmt::format("ids {} != {}", ids, c["ids"].get<std::string>());
  if (offs != c["offsets"]) return fmt::format("offsets {} != {}", offs, c["offsets"].get<std::string>());
  if (words != c["words"]) return fmt::format("word ids {} != {}", words, c["words"].get<std::string>());
  if (types != c["types"]) return fmt::format("type ids {} != {}", types, c["types"].get<std::string>());
  return {};
}

}  // namespace

TEST(TokenizerComponents, EveryVariantMatchesTokenizers) {
  const auto golden = read_component_json(kComponentData / "components.json");
  ASSERT_GE(golden["variants"].size(), 18u);
  std::size_t cases = 0;
  for (const auto& v : golden["variants"]) {
    auto doc = read_component_json(kComponentData / v["base"].get<std::string>() / "tokenizer.json");
    doc.merge_patch(v["patch"]);
    test::TempDir dir("component");
    std::ofstream(dir / "tokenizer.json") << doc.dump();
    const auto tok = model::Tokenizer::from_folder(dir.path());
    std::size_t mismatches = 0;
    for (const auto& c : v["cases"]) {
      const auto text = c["text"].get<std::string>();
      const auto enc = c.contains("pair") ? tok.encode(text, c["pair"].get<std::string>()) : tok.encode(text);
      const auto diff = component_difference(c, enc);
      ++cases;
      if (!diff.empty() && ++mismatches <= 3) ADD_FAILURE() << v["name"] << " on " << c["text"].dump() << ": " << diff;
    }
    EXPECT_EQ(mismatches, 0u) << v["name"];
  }
  EXPECT_GE(cases, 18u * 32u);
}

TEST(TokenizerComponents, ComparisonCanFail) {
  const auto golden = read_component_json(kComponentData / "components.json");
  const auto& v = golden["variants"][0];
  auto doc = read_component_json(kComponentData / v["base"].get<std::string>() / "tokenizer.json");
  doc.merge_patch(v["patch"]);
  test::TempDir dir("component-fail");
  std::ofstream(dir / "tokenizer.json") << doc.dump();
  const auto tok = model::Tokenizer::from_folder(dir.path());
  const auto& c = v["cases"][0];
  auto enc = tok.encode(c["text"].get<std::string>());
  ASSERT_EQ(component_difference(c, enc), "");
  enc.type_ids.back() = 1;
  EXPECT_NE(component_difference(c, enc), "");
}
