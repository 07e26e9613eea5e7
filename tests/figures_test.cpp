// Every method's figure declarations (analysis/figure.hpp), checked on the documents the methods
// write for tiny random models: a chart never combines fields of different units, never draws a
// label, index, count of runs or timing as a value, and names only fields its results contain.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analysis/figure.hpp"
#include "bertscope/bertscope.hpp"
#include "figure_checks.hpp"
#include "test_util.hpp"

namespace bertscope {
namespace {

using test::document_problems;
using test::figure_problems;
using test::TempDir;

struct FigureModels {
  TempDir dir{"figures-models"};
  std::string mlm = test::make_model(dir, "mlm", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 48 "
                                                             "--seed 81 --init-std 0.2 --bias-std 0.1",
                                                             test::uncased_vocab()));
  std::string classifier = test::make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 "
                                                                    "--intermediate 48 --labels 2 --seed 83 --init-std 0.2 "
                                                                    "--bias-std 0.1",
                                                                    test::uncased_vocab()));
};

// The checks catch what they are meant to catch.
TEST(Figure, TheChecksCatchMixedUnitsLabelsAndMissingFields) {
  const nlohmann::json results = {{"layers", {{{"layer", 0}, {"cls", 0.2}, {"entropy", 4.5}, {"label", "1"}}}},
                                  {"seconds", 3.0}};
  nlohmann::json fig = {{"id", "t.mixed"},
                        {"kind", "lines"},
                        {"title", "t"},
                        {"caption", "c"},
                        {"axis", "proportion"},
                        {"rows", "layers"},
                        {"x", {{"path", "layer"}, {"label", "layer"}, {"unit", "index"}}},
                        {"x_axis", "layer"},
                        {"values",
                         {{{"path", "cls"}, {"label", "[CLS]"}, {"unit", "proportion"}},
                          {{"path", "entropy"}, {"label", "entropy"}, {"unit", "nats"}}}}};
  auto problems = figure_problems(fig, results);
  ASSERT_EQ(problems.size(), 1u) << nlohmann::json(problems).dump();
  EXPECT_NE(problems[0].find("combines units"), std::string::npos) << problems[0];

  fig["values"] = {{{"path", "label"}, {"label", "layer"}, {"unit", "label"}}};
  problems = figure_problems(fig, results);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("a label, as a value"), std::string::npos) << problems[0];

  fig["values"] = {{{"path", "sep"}, {"label", "[SEP]"}, {"unit", "proportion"}}};
  problems = figure_problems(fig, results);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("names 'sep'"), std::string::npos) << problems[0];

  fig.erase("rows");
  fig.erase("x");
  fig["values"] = {{{"path", "seconds"}, {"label", "time"}, {"unit", "seconds"}}};
  problems = figure_problems(fig, results);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("a seconds, as a value"), std::string::npos) << problems[0];

  // A table may list labels and counts beside its values.
  fig = {{"id", "t.table"},
         {"kind", "table"},
         {"title", "t"},
         {"caption", "c"},
         {"axis", "accuracy (%)"},
         {"rows", "layers"},
         {"values",
          {{{"path", "label"}, {"label", "layer"}, {"unit", "label"}}, {{"path", "cls"}, {"label", "cls"}, {"unit", "proportion"}}}}};
  EXPECT_TRUE(figure_problems(fig, results).empty()) << nlohmann::json(figure_problems(fig, results)).dump();
}

// Runs every method on tiny models and checks each declared figure against the results it made.
// BERTSCOPE_FIGURE_DOCUMENTS=DIR keeps the documents (the browser test's report draws them).
TEST(Figure, EveryMethodsDeclarationsMatchItsResults) {
  static const FigureModels models;
  TempDir dir("figures-methods");
  const auto lines = (dir / "lines.txt").string();
  std::ofstream(lines) << "the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\n"
                       << "a very long day , a very short night .\n";
  const auto masked = (dir / "masked.txt").string();
  std::ofstream(masked) << "the cat [MASK] on the mat .\nthe [MASK] are here .\n";
  const auto clark = test::data_dir() / "clark";
  const auto sst2 = (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string();
  const auto conllu = (clark / "en_ewt-ud-dev.first60.conllu").string();
  const auto mlm = Model::load(models.mlm);
  const auto clf = Model::load(models.classifier);
  set_threads(1);
  struct Case {
    std::string name;
    const Model* model;
    std::string method, data;
    Options options;
  };
  const std::vector<Case> cases{
      {"surface", &mlm, "surface", lines, {}},
      {"syntax", &mlm, "syntax", conllu, {}},
      {"gradsep", &mlm, "gradsep", lines, {{"mask_prob", 0.3}, {"mask_seed", std::int64_t{2}}}},
      {"importance-task", &clf, "importance", sst2, {}},
      {"importance-mlm", &mlm, "importance", lines, {{"masking_amount", 0.5}, {"mask_seed", std::int64_t{1}}, {"mask_prob", 0.5}}},
      {"importance-no-curve", &clf, "importance", sst2, {{"no_curve", true}}},
      {"ablate", &clf, "ablate", sst2, {{"batch_size", std::int64_t{8}}}},
      {"ablate-heads-only", &clf, "ablate", sst2, {{"batch_size", std::int64_t{8}}, {"no_layers", true}}},
      {"cluster", &mlm, "cluster", lines, {}},
      {"rollout", &mlm, "rollout", lines, {}},
      {"flow", &mlm, "flow", lines, {{"layer", std::int64_t{0}}, {"positions", std::string("0,-1")}}},
      {"coref", &mlm, "coref", (clark / "handmade_coref.jsonl").string(), {}},
      {"probe", &mlm, "probe", (clark / "handmade.conllu").string(), {{"dev", (clark / "handmade.conllu").string()}}},
      {"patterns", &mlm, "patterns", sst2, {}},
      {"features", &mlm, "features", sst2, {}},
      {"saliency", &mlm, "saliency", masked, {{"steps", std::int64_t{4}}}},
      {"saliency-task", &clf, "saliency", sst2, {{"steps", std::int64_t{2}}}},
      {"influence", &mlm, "influence", (test::data_dir() / "influence" / "subj_rel.excerpt.tsv").string(),
       {{"max_examples", std::int64_t{2}}, {"steps", std::int64_t{4}}, {"ablation_tokens", std::int64_t{2}}}},
  };
  const char* keep = std::getenv("BERTSCOPE_FIGURE_DOCUMENTS");
  std::set<std::string> methods_run, methods_declaring;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(analyze(*c.model, c.method, {c.data}, c.options).json());
    } catch (const Error& e) {
      // An option this method does not have (e.g. no_layers) is the case's mistake, not the figures'.
      ADD_FAILURE() << e.what();
      continue;
    }
    methods_run.insert(c.method);
    if (doc.contains("figures")) methods_declaring.insert(c.method);
    for (const auto& p : document_problems(doc)) ADD_FAILURE() << p;
    if (keep) std::ofstream(fmt::format("{}/{}.json", keep, c.name)) << doc.dump(1);
  }
  const auto compared = nlohmann::json::parse(compare(mlm, clf, sst2, {{"pad_to", std::int64_t{128}}}).json());
  EXPECT_TRUE(compared.contains("figures"));
  for (const auto& p : document_problems(compared)) ADD_FAILURE() << p;
  if (keep) std::ofstream(fmt::format("{}/compare.json", keep)) << compared.dump(1);
  set_threads(0);
  // Every method ran; the papers' figures are declared at least by these.
  for (const auto& m : analysis_methods()) EXPECT_TRUE(methods_run.count(m)) << m << " was not run";
  for (const char* m : {"surface", "syntax", "gradsep", "importance", "ablate", "coref", "probe", "patterns", "cluster",
                        "features", "influence", "saliency", "rollout", "flow"})
    EXPECT_TRUE(methods_declaring.count(m)) << m << " declares no figures";
}

// Figures are a function of the results: a document read back and written again declares the same.
TEST(Figure, DeclarationsFollowTheResults) {
  nlohmann::json results = {{"layers", nlohmann::json::array()}, {"heads", nlohmann::json::array()}, {"uniform_entropy", 4.0}};
  const auto figures = analysis::figures_json(analysis::declared_figures("surface", results));
  ASSERT_FALSE(figures.empty());
  EXPECT_EQ(figures[0]["id"], "surface.special_tokens");
  EXPECT_EQ(figures[0]["range"], nlohmann::json({0.0, 1.0}));
  EXPECT_EQ(figures[0]["values"][1]["unit"], "proportion");
  EXPECT_TRUE(analysis::declared_figures("no-such-method", results).empty());
}

}  // namespace
}  // namespace bertscope
