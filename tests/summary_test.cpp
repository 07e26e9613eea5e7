// `bertscope summary`: findings are computed from the result documents (other numbers, other
// summary), unknown or broken documents are listed, not fatal.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "report/summary.hpp"
#include "test_util.hpp"

using namespace bertscope;
using nlohmann::json;

namespace {

json head(int layer, int head, const char* behaviour, double prev, double sep) {
  return {{"layer", layer}, {"head", head}, {"label", std::to_string(layer + 1) + "-" + std::to_string(head + 1)},
          {"behaviour", behaviour}, {"prev", prev}, {"next", 0.01}, {"cls", 0.02}, {"sep", sep}, {"punct", 0.05},
          {"entropy", 2.0 + prev}};
}

void write(const std::filesystem::path& path, const json& doc) { std::ofstream(path) << doc.dump(); }

json surface_doc(double prev_of_positional) {
  return {{"method", "surface"},
          {"model", {{"path", "models/m"}}},
          {"data", {{"path", "data/prose.txt"}, {"inputs", 10}}},
          {"params", json::object()},
          {"results",
           {{"inputs", 10},
            {"uniform_entropy", 4.0},
            {"heads", {head(0, 0, "prev", prev_of_positional, 0.1), head(0, 1, "sep", 0.1, 0.7), head(1, 0, "broad", 0.1, 0.2)}},
            {"layers", {{{"layer", 0}, {"sep", 0.4}}, {{"layer", 1}, {"sep", 0.2}}}}}}};
}

json ablate_doc() {
  return {{"method", "ablate"},
          {"model", {{"path", "models/clf"}}},
          {"data", {{"path", "data/sst2.tsv"}}},
          {"params", json::object()},
          {"results",
           {{"metric", "accuracy"},
            {"baseline", 0.8},
            {"head_delta", {{0.01, -0.02}, {0.0, 0.03}}},
            {"layer_delta", {-0.01, 0.02}},
            {"improving_heads", {{{"layer", 0}, {"head", 0}, {"label", "1-1"}, {"delta", 0.01}},
                                 {{"layer", 1}, {"head", 1}, {"label", "2-2"}, {"delta", 0.03}}}},
            {"random_head", {{"mean_delta", 0.005}}}}}};
}

const report::Finding* find(const report::Summary& s, const std::string& method) {
  for (const auto& f : s.findings)
    if (f.method == method) return &f;
  return nullptr;
}

}  // namespace

TEST(Summary, FindingsAreComputedFromTheDocuments) {
  test::TempDir dir("summary");
  write(dir / "surface.json", surface_doc(0.9));
  write(dir / "ablate.json", ablate_doc());
  write(dir / "cluster.json", {{"method", "cluster"}, {"results", json::object()}});
  std::ofstream(dir / "broken.json") << "{not json";
  const auto s = report::summarize(dir.path());
  ASSERT_EQ(s.findings.size(), 2u);
  EXPECT_EQ(s.models, (std::vector<std::string>{"models/clf", "models/m"}));

  const auto* surface = find(s, "surface");
  ASSERT_NE(surface, nullptr);
  EXPECT_EQ(surface->numbers["behaviour_counts"]["prev"], 1);
  EXPECT_EQ(surface->numbers["prev"][0]["head"], "1-1");
  EXPECT_DOUBLE_EQ(surface->numbers["prev"][0]["prev"].get<double>(), 0.9);
  EXPECT_EQ(surface->numbers["sep_peak_layer"], 1);

  const auto* ablate = find(s, "ablate");
  ASSERT_NE(ablate, nullptr);
  EXPECT_EQ(ablate->numbers["improving_heads"], 2);
  EXPECT_EQ(ablate->numbers["heads"], 4);
  // The best improving head is listed first, whatever the document's order.
  bool listed = false;
  for (const auto& line : ablate->lines) listed |= line.find("most: 2-2 (+3.0 points)") != std::string::npos;
  EXPECT_TRUE(listed) << report::format_summary(s);

  ASSERT_EQ(s.skipped.size(), 2u);  // the broken file, and cluster with no summary of its own
  const auto text = report::format_summary(s);
  EXPECT_NE(text.find("broken.json"), std::string::npos);
  EXPECT_NE(text.find("cluster"), std::string::npos);

  // Grouped by paper and question, in the papers' order (Clark's surface before Kovaleva's
  // ablation), each finding naming its document and that document's figures.
  EXPECT_EQ(s.findings[0].method, "surface");
  EXPECT_EQ(surface->document, "surface.json");
  EXPECT_LT(text.find("== Clark et al. (2019)"), text.find("== Kovaleva et al. (2019)"));
  auto doc = surface_doc(0.9);
  doc["figures"] = json::array({{{"id", "surface.special_tokens"}, {"title", "t"}}});
  write(dir / "surface.json", doc);
  const auto j = report::summary_json(report::summarize(dir.path()));
  EXPECT_EQ(j["findings"][0]["figures"], json::array({"surface.special_tokens"}));
  EXPECT_EQ(j["findings"][0]["paper"], "Clark et al. (2019), What Does BERT Look At?");
  EXPECT_EQ(j["findings"][1]["question"], "What does fine-tuning change, and which heads can be disabled?");
  EXPECT_EQ(j["sections"][0]["methods"][0], "surface");
}

TEST(Summary, AnotherModelGivesAnotherSummary) {
  test::TempDir a("summary-a"), b("summary-b");
  write(a / "surface.json", surface_doc(0.9));
  write(b / "surface.json", surface_doc(0.6));
  const auto ta = report::format_summary(report::summarize(a.path()));
  const auto tb = report::format_summary(report::summarize(b.path()));
  EXPECT_NE(ta, tb);
  EXPECT_NE(ta.find("1-1 (0.90)"), std::string::npos) << ta;
  EXPECT_NE(tb.find("1-1 (0.60)"), std::string::npos) << tb;
}

// Issue 16's targets, printed by the main job: held-out MLM accuracy, and the last checkpoint's
// statistics against the targets the track document carries (reached or not, with counts).
TEST(Summary, TheModelsFiguresAgainstTheTargets) {
  test::TempDir dir("summary-model");
  write(dir / "mlm_eval.json",
        {{"method", "mlm_eval"},
         {"results", {{"files", {"held_out.txt"}}, {"mlm_accuracy", 0.362}, {"mlm_loss", 3.3}, {"positions", 1234},
                      {"sequences", 64}, {"unigram_accuracy", 0.054}, {"unigram_loss", 7.1}}}});
  json last = {{"step", 4750}, {"positional_heads", 6}, {"positional_best", 0.95}, {"sep_max", 0.032}, {"syntax_beats", 13},
               {"agreement_simple_agrmt", 0.9}, {"agreement_subj_rel", 0.45}};
  write(dir / "track.json",
        {{"method", "track"},
         {"params", {{"min_relation_count", 100}}},
         {"data", {{"agreement", {{{"task", "simple_agrmt"}, {"examples", 40}}, {{"task", "subj_rel"}, {"examples", 1000}}}}}},
         {"results",
          {{"by_step", {{{"step", 250}}, last}},
           {"targets", {{"positional", 0.5}, {"sep", 0.2}, {"syntax_margin", 0.05}, {"syntax_relations", 3}, {"agreement", 0.8}, {"chance", 0.5}}},
           {"agreement", {{"tasks", {"simple_agrmt", "subj_rel"}}}}}}});
  const auto rel = [](int count, double best, double base) {
    return json{{"count", count}, {"best", {{"accuracy", best}, {"label", "2-1"}, {"direction", "dep_to_head"}}},
                {"baseline", {{"accuracy", base}, {"offset", -1}}}};
  };
  const json relations = {{"all", rel(5000, 0.4, 0.2)}, {"nsubj", rel(200, 0.6, 0.5)}, {"det", rel(150, 0.52, 0.5)},
                          {"rare", rel(50, 0.9, 0.1)}};
  write(dir / "syntax.json", {{"method", "syntax"}, {"results", {{"sentences", 10}, {"relations", relations}}}});
  const auto s = report::summarize(dir.path());
  const auto text = report::format_summary(s);
  EXPECT_NE(text.find("by 5 points or more for 1 of 2 relations with at least 100 words: nsubj"), std::string::npos) << text;
  EXPECT_NE(text.find("top-1 accuracy 36.2% over 1234 positions replaced by the mask token"), std::string::npos) << text;
  EXPECT_NE(text.find("unigram baseline on the same positions: accuracy 5.4%"), std::string::npos) << text;
  EXPECT_NE(text.find("6 heads attend to the previous or next token with weight >= 0.50 (best 0.950; target: 2 such heads, reached)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("most attention to [SEP] in a layer: 3.2% (target 20.0%, not reached)"), std::string::npos) << text;
  EXPECT_NE(text.find("for 13 relations with >= 100 words (target 3, reached)"), std::string::npos) << text;
  EXPECT_NE(text.find("agreement simple_agrmt: 90.0% of 40 examples (target >= 80.0%, reached)"), std::string::npos) << text;
  EXPECT_NE(text.find("agreement subj_rel: 45.0% of 1000 examples (target above chance 50.0%, not reached)"), std::string::npos) << text;
  const auto* t = find(s, "track");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->numbers["step"], 4750);
  EXPECT_EQ(t->numbers["agreement"]["subj_rel"]["examples"], 1000);
}

// Found by fuzz_results (issue 21; the fix is in b35de68): a document of a known method without
// the fields its finding reads looked them up with const json::operator[] (undefined behaviour
// for a missing key, which nlohmann only asserts in debug builds), numbers beyond int's range
// were cast to int (undefined behaviour), and a field of another type was skipped with
// nlohmann's bare message, naming neither the file nor the method.
TEST(Summary, FuzzDocumentsWithMissingOrMistypedFieldsAreReadOrSkippedByName) {
  std::vector<std::pair<std::string, json>> docs;
  for (const char* method : {"surface", "gradsep", "syntax", "probe", "coref", "patterns", "compare", "ablate", "importance",
                             "saliency", "flow", "influence"}) {
    docs.emplace_back(std::string(method) + "_empty.json", json{{"method", method}, {"results", json::object()}});
    docs.emplace_back(std::string(method) + "_array.json", json{{"method", method}, {"results", json::array({1, "x"})}});
    docs.emplace_back(std::string(method) + "_number.json", json{{"method", method}, {"results", 7}});
  }
  docs.emplace_back("huge.json", json{{"method", "surface"},
                                      {"results", {{"inputs", 1e300},
                                                   {"heads", {{{"layer", 1e300}, {"head", -1e300}, {"behaviour", "prev"}, {"prev", 0.5}}}},
                                                   {"layers", {{{"layer", 1e300}, {"sep", 0.5}}}}}}});
  docs.emplace_back("typed.json", json{{"method", "ablate"}, {"results", {{"layer_delta", {"a"}}}}});
  const auto s = report::summarize(docs);
  for (const auto& reason : s.skipped) EXPECT_EQ(reason.find("json.exception"), std::string::npos) << reason;
  const auto* surface = find(s, "surface");
  ASSERT_NE(surface, nullptr);
  bool huge = false, typed = false;
  for (const auto& f : s.findings) huge |= f.document == "huge.json";
  for (const auto& reason : s.skipped)
    typed |= reason.rfind("typed.json: a ablate document the summary cannot read: type must be number", 0) == 0;
  EXPECT_TRUE(huge);
  EXPECT_TRUE(typed) << report::format_summary(s);
}
