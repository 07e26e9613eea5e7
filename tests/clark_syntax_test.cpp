// Dependency relations in single heads (methods.md 1.5): a head that is exactly the gold parse,
// the poss rule, the offset baseline by hand, trace files checked against the treebank, and the
// command end to end on a random model and a slice of UD EWT dev.
#include <gtest/gtest.h>

#include "analysis/syntax.hpp"
#include "clark_test_util.hpp"
#include "io/conllu.hpp"
#include "io/error.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;
namespace fs = std::filesystem;

namespace {

// Word-level maps [1, 3, m+2, m+2] for a sentence: head 0 is the parse (each word attends to its
// head, the root to [CLS]); head 1 is the parse the other way round (each word attends evenly to
// its dependents, or to [SEP] without any); head 2 is uniform. `override_row` replaces one row of
// head 0: word index -> unit it attends to.
core::Tensor parse_maps(const io::ConlluSentence& s, std::optional<std::pair<int, int>> override_row = {}) {
  const auto m = static_cast<std::int64_t>(s.words.size()), u = m + 2;
  core::Tensor maps({1, 3, u, u});
  auto at = [&](std::int64_t h, std::int64_t r, std::int64_t c) -> float& { return maps.data[static_cast<std::size_t>((h * u + r) * u + c)]; };
  for (std::int64_t r = 0; r < u; ++r) {
    for (std::int64_t c = 0; c < u; ++c) at(2, r, c) = 1.0f / static_cast<float>(u);
    if (r == 0 || r == u - 1) {
      at(0, r, r) = at(1, r, r) = 1.0f;
      continue;
    }
    const auto& w = s.words[static_cast<std::size_t>(r - 1)];
    at(0, r, w.head) = 1.0f;  // unit of word h (1-based) is h; ROOT -> [CLS] = unit 0
    std::vector<std::int64_t> deps;
    for (const auto& d : s.words)
      if (d.head == w.id) deps.push_back(d.id);
    if (deps.empty()) deps.push_back(u - 1);
    for (auto d : deps) at(1, r, d) = 1.0f / static_cast<float>(deps.size());
  }
  if (override_row) {
    const auto r = override_row->first + 1;
    for (std::int64_t c = 0; c < u; ++c) at(0, r, c) = 0.0f;
    at(0, r, override_row->second) = 1.0f;
  }
  return maps;
}

syntax::Result run_on(const std::vector<io::ConlluSentence>& sentences, const syntax::Options& o,
                      std::optional<std::pair<int, int>> override_first = {}) {
  syntax::Accumulator acc(1, 3, o);
  for (std::size_t i = 0; i < sentences.size(); ++i)
    acc.add(syntax::make_sentence(sentences[i], o), parse_maps(sentences[i], i == 0 ? override_first : std::nullopt),
            sentences[i].words.size());
  return acc.result();
}

}  // namespace

TEST(ClarkSyntax, GoldParseHeadIsPerfectAndBest) {
  const auto sentences = io::read_conllu(tc::clark_data("handmade.conllu"));
  ASSERT_EQ(sentences.size(), 2u);
  EXPECT_EQ(sentences[0].words.size(), 7u);  // "doesn't" is two syntactic words
  syntax::Options o;
  o.poss_rule = false;
  const auto r = run_on(sentences, o);
  const auto j = syntax::to_json(r);
  std::size_t checked = 0;
  for (const auto& rel : r.relations) {
    const auto& jr = j["relations"][rel.name];
    if (rel.name == "root") {
      // ROOT is never a candidate, so no attention head gets a root word right (as in Clark's code).
      EXPECT_EQ(jr["best"]["accuracy"], 0.0);
      continue;
    }
    if (rel.name == "all") {
      EXPECT_NEAR(jr["best"]["accuracy"].get<double>(), 12.0 / 14.0, 1e-12);  // all but the two root words
      EXPECT_EQ(jr["count"], 14);
    } else {
      EXPECT_EQ(syntax::accuracy(rel, syntax::dep_to_head, 0), 1.0) << rel.name;
      EXPECT_EQ(syntax::accuracy(rel, syntax::head_to_dep, 1), 1.0) << rel.name;
      EXPECT_EQ(jr["best"]["accuracy"], 1.0) << rel.name;
    }
    EXPECT_EQ(jr["best"]["layer"], 0) << rel.name;
    EXPECT_EQ(jr["best"]["head"], 0) << rel.name;
    EXPECT_EQ(jr["best"]["direction"], "dep_to_head") << rel.name;
    EXPECT_LT(syntax::accuracy(rel, syntax::dep_to_head, 2), 1.0) << rel.name;  // the uniform head is not
    ++checked;
  }
  EXPECT_EQ(checked, 9u);  // all + 8 relations (nmod:poss case nsubj aux advmod punct det obl)
  EXPECT_EQ(j["order"][0], "all");
  ASSERT_TRUE(j["relations"].contains("nmod:poss"));
  EXPECT_EQ(j["relations"]["det"]["per_head"]["dep_to_head"][0][0], 1.0);
  EXPECT_EQ(j["relations"]["det"]["per_head"]["head_to_dep"][0][1], 1.0);
}

TEST(ClarkSyntax, PossRuleScoresTheFollowingS) {
  const auto sentences = io::read_conllu(tc::clark_data("handmade.conllu"));
  syntax::Options o;  // poss rule on
  // The gold parse has 's -> John, so under the rule "John" is scored with 's's prediction: wrong.
  auto r = syntax::to_json(run_on(sentences, o));
  EXPECT_EQ(r["relations"]["nmod:poss"]["per_head"]["dep_to_head"][0][0], 0.0);
  // A head whose 's attends to the possessed noun "dog" (unit 3) gets it right, as the paper counts.
  r = syntax::to_json(run_on(sentences, o, std::pair{1, 3}));
  EXPECT_EQ(r["relations"]["nmod:poss"]["per_head"]["dep_to_head"][0][0], 1.0);
  EXPECT_EQ(r["relations"]["case"]["per_head"]["dep_to_head"][0][0], 0.5);  // 's itself is now wrong, "on" still right
  // Base relations fold subtypes.
  o.base_relations = true;
  r = syntax::to_json(run_on(sentences, o));
  EXPECT_TRUE(r["relations"].contains("nmod"));
  EXPECT_FALSE(r["relations"].contains("nmod:poss"));
}

TEST(ClarkSyntax, OffsetBaselineByHand) {
  // "The cat sat on the mat ." heads 2 3 0 6 6 3 3. Predictions clip(i + 1 + k, 0, 7):
  //   k=-3: 0 0 0 1 2 3 4 -> 2 right (sat=ROOT, mat=3)   k=-2: 0 right   k=-1: 0   k=0: 0
  //   k=+1: 2 3 4 5 6 7 7 -> 3 right (The, cat, the)      k=+2: 3 4 5 6 7 7 7 -> 1 right (on)
  const auto all = io::read_conllu(tc::clark_data("handmade.conllu"));
  const std::vector<io::ConlluSentence> one{all[1]};
  const auto j = syntax::to_json(run_on(one, {}));
  const auto& b = j["relations"]["all"]["baseline"];
  EXPECT_EQ(b["offset"], 1);
  EXPECT_NEAR(b["accuracy"].get<double>(), 3.0 / 7.0, 1e-12);
  EXPECT_NEAR(b["per_offset"]["-3"].get<double>(), 2.0 / 7.0, 1e-12);
  EXPECT_EQ(b["per_offset"]["-1"], 0.0);
  EXPECT_NEAR(b["per_offset"]["+2"].get<double>(), 1.0 / 7.0, 1e-12);
  EXPECT_EQ(j["relations"]["det"]["baseline"]["offset"], 1);
  EXPECT_EQ(j["relations"]["det"]["baseline"]["accuracy"], 1.0);
  EXPECT_EQ(j["relations"]["root"]["baseline"]["offset"], -3);
}

TEST(ClarkSyntax, PredictionTiesAndTranspose) {
  // 2 words: [CLS] a b [SEP]; word a attends equally to [SEP] and itself: the cropped row is all
  // zeros, and numpy's argmax picks the first word.
  const float b[16] = {1, 0, 0, 0, /**/ 0, 0.5f, 0, 0.5f, /**/ 0, 0.7f, 0.3f, 0, /**/ 0, 0, 0, 1};
  EXPECT_EQ(syntax::predict_heads(b, 4, false), (std::vector<int>{1, 1}));
  EXPECT_EQ(syntax::predict_heads(b, 4, true), (std::vector<int>{2, 1}));
}

TEST(ClarkSyntax, TracesFromRunMatchModelAndMismatchesAreNamed) {
  test::TempDir dir("clark-syntax");
  const auto model = tc::make_model(dir);
  const auto data = tc::clark_data("handmade.conllu");
  const auto traces = dir / "traces";
  auto r = test::run_command(fmt::format("{} run --model {} --input {} --out {}", test::cli(), model.string(), data.string(),
                                         traces.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto from_model = tc::run_json(fmt::format("analyze syntax --model {} --data {}", model.string(), data.string()), dir / "m.json");
  const auto from_traces =
      tc::run_json(fmt::format("analyze syntax --traces {} --data {}", traces.string(), data.string()), dir / "t.json");
  ASSERT_FALSE(from_model.is_null());
  ASSERT_FALSE(from_traces.is_null());
  EXPECT_EQ(from_model["results"], from_traces["results"]);
  EXPECT_EQ(from_model["results"]["words"], 14);

  // The same traces against a treebank whose second sentence lost a word.
  auto text = io::read_file(data);
  const auto dot = text.rfind("7\t.\t.");
  text.erase(dot, text.find('\n', dot) + 1 - dot);
  io::write_file_atomic(dir / "short.conllu", text);
  tc::expect_error(fmt::format("analyze syntax --traces {} --data {}", traces.string(), (dir / "short.conllu").string()),
                   {"000001.npz", "short.conllu:12", "word_ids"});

  // A malformed line names the file and the line.
  io::write_file_atomic(dir / "bad.conllu", "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\n2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_\n\n");
  tc::expect_error(fmt::format("analyze syntax --model {} --data {}", model.string(), (dir / "bad.conllu").string()),
                   {"bad.conllu:1"});
}

TEST(ClarkSyntax, TooLongSentencesSkippedOrTruncated) {
  test::TempDir dir("clark-syntax-long");
  // 10 positions: "John 's dog does n't bark ." is 12 tokens with [CLS]/[SEP], the second sentence 9.
  const auto model = tc::make_model(dir, "--max-positions 10");
  const auto data = tc::clark_data("handmade.conllu");
  const auto skip = tc::run_json(fmt::format("analyze syntax --model {} --data {}", model.string(), data.string()), dir / "s.json");
  ASSERT_FALSE(skip.is_null());
  EXPECT_EQ(skip["results"]["skipped"]["too_long"], 1);
  EXPECT_EQ(skip["results"]["sentences"], 1);
  EXPECT_EQ(skip["results"]["words"], 7);
  const auto cut = tc::run_json(fmt::format("analyze syntax --model {} --data {} --truncate", model.string(), data.string()),
                                dir / "t.json");
  ASSERT_FALSE(cut.is_null());
  EXPECT_EQ(cut["results"]["skipped"]["too_long"], 0);
  EXPECT_EQ(cut["results"]["truncated_sentences"], 1);
  EXPECT_GT(cut["results"]["words_not_scored"].get<int>(), 0);
  EXPECT_EQ(cut["results"]["sentences"], 2);
}

TEST(ClarkSyntax, EwtSliceEndToEnd) {
  test::TempDir dir("clark-syntax-ewt");
  const auto model = tc::make_model(dir);
  const auto data = tc::clark_data("en_ewt-ud-dev.first60.conllu");
  std::string printed;
  const auto j = tc::run_json(fmt::format("analyze syntax --model {} --data {} --from first", model.string(), data.string()),
                              dir / "s.json", &printed);
  ASSERT_FALSE(j.is_null());
  const auto sentences = io::read_conllu(data);
  std::size_t words = 0;
  for (const auto& s : sentences) words += s.words.size();
  EXPECT_EQ(j["results"]["sentences"], sentences.size());
  EXPECT_EQ(j["results"]["relations"]["all"]["count"], words);
  EXPECT_EQ(j["params"]["from_word"], "first");
  std::size_t sum = 0;
  for (const auto& [name, rel] : j["results"]["relations"].items()) {
    if (name != "all") sum += rel["count"].get<std::size_t>();
    const auto acc = rel["best"]["accuracy"].get<double>();
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 1.0);
    EXPECT_EQ(rel["per_head"]["dep_to_head"].size(), 2u);
    EXPECT_EQ(rel["per_head"]["head_to_dep"][0].size(), 4u);
  }
  EXPECT_EQ(sum, words);
  EXPECT_NE(printed.find("relation"), std::string::npos);
}
