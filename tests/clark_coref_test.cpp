// Coreference in single heads (methods.md 1.6): the simple format and its converters, baselines
// and head accuracies with known answers on hand-made documents, and the command end to end on
// GAP with a random model.
#include <gtest/gtest.h>

#include "analysis/coref.hpp"
#include "clark_test_util.hpp"
#include "io/coref.hpp"
#include "io/error.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;
namespace fs = std::filesystem;

namespace {

// Traces for handmade_coref.jsonl: one token per word; head 0 sends each anaphor's head word to
// its nearest correct antecedent's head word, head 1 puts all attention on [SEP].
void write_handmade_traces(const fs::path& dir) {
  fs::create_directories(dir);
  const std::vector<std::vector<std::pair<int, int>>> links = {{{2, 0}, {6, 4}, {9, 2}}, {{4, 2}}};
  const std::size_t words[2] = {12, 7};
  for (std::size_t d = 0; d < 2; ++d) {
    const auto enc = tc::word_encoding(words[d]);
    const auto t = static_cast<std::int64_t>(enc.size());
    core::Tensor att({1, 2, t, t});
    for (std::int64_t q = 0; q < t; ++q) {
      tc::point(att, 0, 0, q, {t - 1});
      tc::point(att, 0, 1, q, {t - 1});
    }
    for (auto [from, to] : links[d]) tc::point(att, 0, 0, from + 1, {to + 1});
    tc::write_trace(trace_path(dir, d), enc, att);
  }
}

}  // namespace

TEST(ClarkCoref, SimpleFormatRoundTripAndErrors) {
  const auto docs = io::read_coref(tc::clark_data("handmade_coref.jsonl"));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].mentions.size(), 5u);
  EXPECT_TRUE(docs[0].anaphors.empty());
  ASSERT_EQ(docs[1].anaphors.size(), 1u);
  EXPECT_EQ(docs[1].anaphors[0].candidates, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(docs[1].line, 2u);
  test::TempDir dir("clark-coref-io");
  io::write_coref(dir / "copy.jsonl", docs);
  const auto again = io::read_coref(dir / "copy.jsonl");
  EXPECT_EQ(io::coref_to_json(again[1]), io::coref_to_json(docs[1]));

  auto expect_error = [](const std::string& text, const std::string& what) {
    try {
      io::parse_coref(text, "x.jsonl");
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error("\n{\"words\": [\"a\"], \"mentions\": [{\"start\": 0, \"end\": 2, \"cluster\": 1}]}\n", "x.jsonl:2: mention 0");
  expect_error("{\"words\": [\"a\"], \"mentions\": [{\"start\": 0, \"end\": 1}]}", "x.jsonl:1: mention 0 has no \"cluster\"");
  expect_error("{\"words\": [\"a\", \"b\"], \"mentions\": [{\"start\": 0, \"end\": 1, \"cluster\": 1, \"head\": 1}]}", "outside its span");
  expect_error("{\"words\": [\"a\"], \"mentions\": [], \"anaphors\": [{\"mention\": 0, \"candidates\": [1]}]}", "anaphor 0");
  expect_error("{\"words\": [\"a\"], \"mentions\": [{\"start\": 0, \"end\": 1, \"cluster\": 1, \"type\": \"verb\"}]}", "type");
  expect_error("{\"words\": [\"a\"] \"mentions\": []}", "x.jsonl:1: invalid JSON");
}

TEST(ClarkCoref, GapConversion) {
  const auto docs = io::read_gap(tc::clark_data("gap-development.first8.tsv"));
  ASSERT_EQ(docs.size(), 8u);
  const auto& d = docs[0];  // Pronoun "her" -> A "Cheryl Cassidy" (TRUE), B "Pauline" (FALSE)
  EXPECT_EQ(d.id, "development-1");
  EXPECT_EQ(d.line, 2u);
  ASSERT_EQ(d.mentions.size(), 3u);
  ASSERT_EQ(d.anaphors.size(), 1u);
  const auto& a = d.mentions[d.anaphors[0].candidates[0]];
  const auto& b = d.mentions[d.anaphors[0].candidates[1]];
  const auto& p = d.mentions[d.anaphors[0].mention];
  EXPECT_EQ(d.words[a.start] + " " + d.words[a.end - 1], "Cheryl Cassidy");
  EXPECT_EQ(a.end - a.start, 2u);
  EXPECT_EQ(d.words[b.start], "Pauline");  // "Pauline's" is cut at the mention's end
  EXPECT_EQ(d.words[b.start + 1], "'s");
  EXPECT_EQ(d.words[p.start], "her");
  EXPECT_EQ(p.type, "pronoun");
  EXPECT_EQ(p.gender, "feminine");
  EXPECT_EQ(a.cluster, p.cluster);
  EXPECT_NE(b.cluster, p.cluster);
  EXPECT_EQ(*a.head, a.end - 1);
  // Errors name the row's line.
  test::TempDir dir("clark-gap");
  auto text = io::read_file(tc::clark_data("gap-development.first8.tsv"));
  const auto pos = text.find("\t274\t");
  text.replace(pos, 5, "\t275\t");
  io::write_file_atomic(dir / "bad.tsv", text);
  try {
    io::read_gap(dir / "bad.tsv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.tsv:2: Pronoun \"her\" is not at code point 275"), std::string::npos) << e.what();
  }
}

TEST(ClarkCoref, Conll2012Conversion) {
  const auto docs = io::read_conll2012(tc::clark_data("handmade_conll2012.v4_gold_conll"));
  ASSERT_EQ(docs.size(), 2u);
  const auto& d = docs[0];
  EXPECT_EQ(d.id, "(test/doc1); part 000");
  ASSERT_EQ(d.words.size(), 13u);
  EXPECT_EQ(d.words[7], ".");  // "/." unescaped
  ASSERT_EQ(d.mentions.size(), 6u);
  // Sorted by span: John, the man with a hat, a hat, He, his, his hats.
  EXPECT_EQ(d.mentions[1].start, 2u);
  EXPECT_EQ(d.mentions[1].end, 7u);
  EXPECT_EQ(*d.mentions[1].head, 3u);  // "man": the head rule stops at "with"
  EXPECT_EQ(d.mentions[1].type, "nominal");
  EXPECT_EQ(d.mentions[0].type, "proper");
  EXPECT_EQ(d.mentions[3].type, "pronoun");
  EXPECT_EQ(d.mentions[3].gender, "masculine");
  EXPECT_EQ(d.mentions[5].number, "plural");
  EXPECT_EQ(*d.mentions[5].head, 11u);
  EXPECT_EQ(d.mentions[0].cluster, d.mentions[3].cluster);
  EXPECT_EQ(docs[1].mentions.size(), 1u);
  test::TempDir dir("clark-conll");
  auto text = io::read_file(tc::clark_data("handmade_conll2012.v4_gold_conll"));
  text.replace(text.find("1)|2)"), 5, "1)|x)");
  io::write_file_atomic(dir / "bad_conll", text);
  try {
    io::read_conll2012(dir / "bad_conll");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_conll:8: coreference field"), std::string::npos) << e.what();
  }
}

TEST(ClarkCoref, QueriesAndBaselinesByHand) {
  const auto docs = io::read_coref(tc::clark_data("handmade_coref.jsonl"));
  const auto q = coref::make_queries(docs[0], docs[0].words.size());
  ASSERT_EQ(q.queries.size(), 3u);  // he, she, the second John
  EXPECT_EQ(q.mentions[1].type, coref::pronoun);
  EXPECT_EQ(q.mentions[4].type, coref::proper);  // upper-case head word
  EXPECT_EQ(q.queries[2].gold_words, (std::vector<std::size_t>{0, 2}));
  // Nearest: he -> John (right), she -> Mary (right), John -> she (wrong).
  EXPECT_EQ(coref::baseline_nearest(q, q.queries[0]), 0);
  EXPECT_EQ(coref::baseline_nearest(q, q.queries[1]), 2);
  EXPECT_EQ(coref::baseline_nearest(q, q.queries[2]), 3);
  // Head match: only "John" finds a twin.
  EXPECT_EQ(coref::baseline_head_match(q, q.queries[0], docs[0].words), -1);
  EXPECT_EQ(coref::baseline_head_match(q, q.queries[2], docs[0].words), 0);
  // Sieve: she skips "he" (gender) and takes Mary; John matches John's string.
  EXPECT_EQ(coref::baseline_sieve(q, q.queries[1], docs[0].words), 2);
  EXPECT_EQ(coref::baseline_sieve(q, q.queries[2], docs[0].words), 0);
  // Cut after word 8: the second John is past the cut.
  const auto cut = coref::make_queries(docs[0], 8);
  EXPECT_EQ(cut.queries.size(), 2u);
  EXPECT_EQ(cut.cut, 1u);
}

TEST(ClarkCoref, HeadAccuracyFromTraces) {
  test::TempDir dir("clark-coref");
  write_handmade_traces(dir / "traces");
  const auto j = tc::run_json(fmt::format("analyze coref --traces {} --data {}", (dir / "traces").string(),
                                          tc::clark_data("handmade_coref.jsonl").string()),
                              dir / "c.json");
  ASSERT_FALSE(j.is_null());
  const auto& r = j["results"];
  EXPECT_EQ(r["anaphors"]["all"], 4);
  EXPECT_EQ(r["anaphors"]["pronoun"], 3);
  EXPECT_EQ(r["anaphors"]["proper"], 1);
  EXPECT_EQ(r["candidate_anaphors"], 1);
  // Head 0 follows the gold links: 100%. Head 1 looks at [SEP] only: the first word wins the
  // all-zero argmax (right for "he" and "John"), the first listed candidate for "her" (wrong).
  EXPECT_EQ(r["per_head"]["all"][0][0], 1.0);
  EXPECT_EQ(r["per_head"]["all"][0][1], 0.5);
  EXPECT_NEAR(r["per_head"]["pronoun"][0][1].get<double>(), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(r["per_head"]["proper"][0][1], 1.0);
  EXPECT_EQ(r["per_head"]["nominal"][0][0], nullptr);  // no nominal anaphor
  EXPECT_EQ(r["best"]["all"]["label"], "1-1");
  EXPECT_EQ(r["best"]["all"]["accuracy"], 1.0);
  EXPECT_EQ(r["baselines"]["nearest"]["all"], 0.75);
  EXPECT_EQ(r["baselines"]["nearest"]["proper"], 0.0);
  EXPECT_EQ(r["baselines"]["head_match"]["all"], 0.25);
  EXPECT_EQ(r["baselines"]["rule_sieve"]["all"], 1.0);
  // A trace with more words than its document is an error naming the trace and the document's line.
  const auto enc = tc::word_encoding(9);
  core::Tensor att({1, 2, 11, 11});
  for (std::int64_t q = 0; q < 11; ++q) {
    tc::point(att, 0, 0, q, {10});
    tc::point(att, 0, 1, q, {10});
  }
  tc::write_trace(trace_path(dir / "traces", 1), enc, att);
  tc::expect_error(fmt::format("analyze coref --traces {} --data {}", (dir / "traces").string(),
                               tc::clark_data("handmade_coref.jsonl").string()),
                   {"000001.npz", "handmade_coref.jsonl:2"});
}

TEST(ClarkCoref, GapEndToEndOnRandomModel) {
  test::TempDir dir("clark-coref-cli");
  const auto model = tc::make_model(dir);
  std::string printed;
  const auto j = tc::run_json(fmt::format("analyze coref --model {} --data {} --max-tokens 64", model.string(),
                                          tc::clark_data("gap-development.first8.tsv").string()),
                              dir / "g.json", &printed);
  ASSERT_FALSE(j.is_null());
  const auto& r = j["results"];
  EXPECT_EQ(j["data"]["format"], "gap");
  EXPECT_EQ(r["documents"], 8);
  EXPECT_GT(r["truncated_documents"].get<int>(), 0);  // GAP texts run past 64 word pieces
  const auto scored = r["anaphors"]["all"].get<int>();
  EXPECT_EQ(scored + r["skipped"]["anaphors_cut"].get<int>() + r["skipped"]["no_gold_candidate"].get<int>(), 8);
  EXPECT_EQ(r["anaphors"]["pronoun"], scored);
  EXPECT_EQ(r["per_head"]["all"].size(), 2u);
  EXPECT_NE(printed.find("rule_sieve"), std::string::npos);
  // GAP has pronouns only: the tables show no empty proper/nominal columns and hide their rows.
  EXPECT_EQ(r["best"]["proper"]["anaphors"], 0);
  const auto& best = j["figures"][0];
  ASSERT_EQ(best["id"], "coref.best");
  EXPECT_EQ(best["values"].size(), 4u);  // type, head, accuracy, pronoun
  EXPECT_EQ(best["values"][3]["label"], "pronoun %");
  EXPECT_EQ(best["options"]["min"]["path"], "anaphors");
  // Conversion to the simple format gives the same analysis.
  const auto conv = test::run_command(fmt::format("{} coref-convert --gap {} --out {}", test::cli(),
                                                  tc::clark_data("gap-development.first8.tsv").string(),
                                                  (dir / "gap.jsonl").string()));
  ASSERT_EQ(conv.status, 0) << conv.output;
  const auto k = tc::run_json(fmt::format("analyze coref --model {} --data {} --max-tokens 64", model.string(),
                                          (dir / "gap.jsonl").string()),
                              dir / "k.json");
  ASSERT_FALSE(k.is_null());
  EXPECT_EQ(k["results"], r);
  // CoNLL-2012 input runs too.
  const auto c = tc::run_json(fmt::format("analyze coref --model {} --data {}", model.string(),
                                          tc::clark_data("handmade_conll2012.v4_gold_conll").string()),
                              dir / "c.json");
  ASSERT_FALSE(c.is_null());
  EXPECT_EQ(c["data"]["format"], "conll2012");
  EXPECT_EQ(c["results"]["anaphors"]["all"], 2);  // He -> John, his -> John / He
}
