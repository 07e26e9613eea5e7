// The public API's analyses write the documents the CLI writes for the same inputs and options
// (numbers and keys; timings aside), and report bad methods and options as exceptions.
#include <fstream>
#include <functional>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bertscope/bertscope.hpp"
#include "io/files.hpp"
#include "test_util.hpp"

namespace bertscope {
namespace {

using test::TempDir;

struct ApiAnalysisModels {
  TempDir dir{"api-analysis-models"};
  std::string mlm = test::make_model(dir, "mlm", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 48 "
                                                             "--seed 81 --init-std 0.2 --bias-std 0.1",
                                                             test::uncased_vocab()));
  std::string classifier = test::make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 "
                                                                    "--intermediate 48 --labels 2 --seed 83 --init-std 0.2 "
                                                                    "--bias-std 0.1",
                                                                    test::uncased_vocab()));
};

const ApiAnalysisModels& api_analysis_models() {
  static const ApiAnalysisModels m;
  return m;
}

// Timings differ from run to run; everything else must not. `execution` says how the command ran
// (its processes, docs/distributed.md), which the API's in-process run does not record.
nlohmann::json api_without_seconds(nlohmann::json j) {
  j.erase("execution");
  std::function<void(nlohmann::json&)> drop = [&](nlohmann::json& v) {
    if (v.is_object()) {
      for (const char* key : {"seconds", "seconds_per_output_node"}) v.erase(key);
      for (auto& [k, x] : v.items()) drop(x);
    } else if (v.is_array()) {
      for (auto& x : v) drop(x);
    }
  };
  drop(j);
  return j;
}

// Runs `bertscope ARGS --out FILE` and returns the document it wrote.
nlohmann::json api_cli_document(const TempDir& dir, const std::string& args) {
  const auto out = dir / "cli.json";
  const auto r = test::run_command(fmt::format("{} {} --out {}", test::cli(), args, out.string()));
  EXPECT_EQ(r.status, 0) << r.output;
  return io::read_json(out);
}

void api_expect_same_document(const Document& doc, const nlohmann::json& cli, const std::string& method) {
  EXPECT_EQ(doc.method(), method);
  const auto api = api_without_seconds(nlohmann::json::parse(doc.json()));
  const auto expected = api_without_seconds(cli);
  for (const char* key : {"method", "model", "data", "params", "results"}) EXPECT_EQ(api[key], expected[key]) << method << " " << key;
  EXPECT_EQ(api, expected) << method;
  EXPECT_FALSE(doc.table().empty());
}

TEST(ApiAnalysis, SurfaceDocumentEqualsTheCommands) {
  TempDir dir("api-surface");
  const auto data = (dir / "lines.txt").string();
  std::ofstream(data) << "the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\n"
                      << "a very long day , a very short night .\n";
  const auto& folder = api_analysis_models().mlm;
  const auto cli = api_cli_document(
      dir, fmt::format("analyze surface --model {} --data {} --broad-entropy 2.5 --punct-tokens . , \"?\" --batch-size 2", folder, data));
  const auto m = Model::load(folder);
  std::size_t last_done = 0, last_total = 0;
  const auto doc = analyze(m, "surface", {data}, {{"broad_entropy", 2.5}, {"punct_tokens", std::string(". , ?")}, {"batch_size", std::int64_t{2}}},
                           [&](std::size_t done, std::size_t total) {
                             last_done = done;
                             last_total = total;
                           });
  api_expect_same_document(doc, cli, "surface");
  EXPECT_EQ(last_done, 3u);
  EXPECT_EQ(last_total, 3u);
  // A different option gives a different document: the comparison can fail.
  const auto other = analyze(m, "surface", {data}, {{"broad_entropy", 0.5}});
  EXPECT_NE(api_without_seconds(nlohmann::json::parse(other.json()))["params"], api_without_seconds(cli)["params"]);

  // Traces written by `bertscope run --input` give the same results as the model.
  const auto traces = dir / "traces";
  const auto r = test::run_command(fmt::format("{} run --model {} --input {} --out {}", test::cli(), folder, data, traces.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto cli_traces = api_cli_document(dir, fmt::format("analyze surface --traces {} --data {}", traces.string(), data));
  api_expect_same_document(analyze_traces(traces.string(), "surface", {data}), cli_traces, "surface");

  // save() writes the document atomically: the file and nothing beside it.
  TempDir saved("api-save");
  doc.save((saved / "surface.json").string());
  EXPECT_EQ(saved.entries(), std::vector<std::string>{"surface.json"});
  EXPECT_EQ(io::read_json(saved / "surface.json"), nlohmann::json::parse(doc.json()));
}

// Attention held in memory (the maps of Model::run, as any framework would hand them over)
// gives the model's results; the document says where the attention came from.
TEST(ApiAnalysis, AttentionInMemoryGivesTheModelsResults) {
  TempDir dir("api-memory");
  const auto data = (dir / "lines.txt").string();
  std::ofstream(data) << "the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\n";
  const auto m = Model::load(api_analysis_models().mlm);
  std::vector<AttentionView> views;
  for (const auto& [text, pair] : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"the cat sat on the mat , and then it slept .", std::nullopt}, {"who is there ?", "nobody ."}}) {
    AttentionView v{.encoding = m.encode(text, pair), .text = text, .pair = pair};
    const auto out = m.run(v.encoding, {.record = "attn.probs"});
    for (int l = 0; l < 2; ++l) v.attention.push_back(out.site(fmt::format("layer.{}.attn.probs", l)));
    views.push_back(std::move(v));
  }
  for (const char* method : {"surface", "rollout", "patterns"}) {
    const auto from_model = api_without_seconds(nlohmann::json::parse(analyze(m, method, {data}).json()));
    const auto from_memory = api_without_seconds(nlohmann::json::parse(analyze_attention(views, method, {data}).json()));
    EXPECT_EQ(from_memory["results"], from_model["results"]) << method;
    EXPECT_EQ(from_memory["model"], (nlohmann::json{{"attention", "in memory"}, {"layers", 2}, {"heads", 2}})) << method;
  }
  auto msg = test::error_message([&] { analyze_attention({views[0]}, "surface", {data}); });
  EXPECT_NE(msg.find("1 inputs for 2 data inputs"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze_attention(views, "importance", {data}); });
  EXPECT_NE(msg.find("runs the model"), std::string::npos) << msg;
  auto bad = views;
  bad[1].attention.pop_back();
  bad[1].attention.push_back(Array::from_values({2, 3, 3}, std::vector<float>(18, 0.f)));
  msg = test::error_message([&] { analyze_attention(bad, "surface", {data}); });
  EXPECT_NE(msg.find("attention input 1: attention: layer 1's maps have shape [2, 3, 3]"), std::string::npos) << msg;
}

TEST(ApiAnalysis, SyntaxDocumentEqualsTheCommands) {
  TempDir dir("api-syntax");
  const auto data = (test::data_dir() / "clark" / "en_ewt-ud-dev.first60.conllu").string();
  const auto& folder = api_analysis_models().mlm;
  const auto cli = api_cli_document(dir, fmt::format("analyze syntax --model {} --data {} --from first --base-relations", folder, data));
  const auto m = Model::load(folder);
  api_expect_same_document(analyze(m, "syntax", {data}, {{"from", std::string("first")}, {"base_relations", true}}), cli, "syntax");
}

TEST(ApiAnalysis, AblateDocumentEqualsTheCommands) {
  TempDir dir("api-ablate");
  const auto data = (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string();
  const auto& folder = api_analysis_models().classifier;
  const auto cli = api_cli_document(
      dir, fmt::format("ablate --model {} --data {} --mode zero --random-draws 2 --random-size 2 --seed 4 --batch-size 8", folder, data));
  const auto m = Model::load(folder);
  std::size_t calls = 0;
  const auto doc = analyze(m, "ablate", {data},
                           {{"mode", std::string("zero")}, {"random_draws", std::int64_t{2}}, {"random_size", std::int64_t{2}},
                            {"seed", std::int64_t{4}}, {"batch_size", std::int64_t{8}}},
                           [&](std::size_t, std::size_t) { ++calls; });
  api_expect_same_document(doc, cli, "ablate");
  EXPECT_GT(calls, 0u);
}

TEST(ApiAnalysis, InfluenceDocumentEqualsTheCommands) {
  TempDir dir("api-influence");
  const auto data = (test::data_dir() / "influence" / "subj_rel.excerpt.tsv").string();
  const auto& folder = api_analysis_models().mlm;
  const auto cli = api_cli_document(
      dir, fmt::format("analyze influence --model {} --data {} --max-examples 3 --steps 8 --ablation-tokens 2 --threads 1", folder, data));
  set_threads(1);
  const auto m = Model::load(folder);
  const auto doc = analyze(m, "influence", {data},
                           {{"max_examples", std::int64_t{3}}, {"steps", std::int64_t{8}}, {"ablation_tokens", std::int64_t{2}}});
  set_threads(0);
  api_expect_same_document(doc, cli, "influence");
}

// Every other method: the API's document equals the command's for the same options.
TEST(ApiAnalysis, EveryMethodsDocumentEqualsTheCommands) {
  TempDir dir("api-methods");
  const auto lines = (dir / "lines.txt").string();
  std::ofstream(lines) << "the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\n";
  const auto masked = (dir / "masked.txt").string();
  std::ofstream(masked) << "the cat [MASK] on the mat .\nthe [MASK] are here .\n";
  const auto clark = test::data_dir() / "clark";
  const auto sst2 = (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string();
  const auto& mlm_folder = api_analysis_models().mlm;
  const auto& clf_folder = api_analysis_models().classifier;
  const auto mlm = Model::load(mlm_folder);
  const auto clf = Model::load(clf_folder);
  struct Case {
    std::string cli;
    const Model* model;
    std::string method, data;
    Options options;
  };
  const std::vector<Case> cases{
      {fmt::format("analyze cluster --model {} --data {} --smoothing 0.01", mlm_folder, lines), &mlm, "cluster", lines,
       {{"smoothing", 0.01}}},
      {fmt::format("analyze rollout --model {} --data {} --positions all --residual 0.3", mlm_folder, lines), &mlm, "rollout",
       lines, {{"positions", std::string("all")}, {"residual", 0.3}}},
      {fmt::format("analyze flow --model {} --data {} --layer 0 --positions 0,-1", mlm_folder, lines), &mlm, "flow", lines,
       {{"layer", std::int64_t{0}}, {"positions", std::string("0,-1")}}},
      {fmt::format("analyze coref --model {} --data {} --from first", mlm_folder, (clark / "handmade_coref.jsonl").string()),
       &mlm, "coref", (clark / "handmade_coref.jsonl").string(), {{"from", std::string("first")}}},
      {fmt::format("analyze probe --model {} --data {} --dev {} --seed 3", mlm_folder, (clark / "handmade.conllu").string(),
                   (clark / "handmade.conllu").string()),
       &mlm, "probe", (clark / "handmade.conllu").string(),
       {{"dev", (clark / "handmade.conllu").string()}, {"seed", std::int64_t{3}}}},
      {fmt::format("analyze patterns --model {} --data {} --threshold vertical=0.4 --threshold block=0.5", mlm_folder, sst2),
       &mlm, "patterns", sst2, {{"threshold", std::string("vertical=0.4 block=0.5")}}},
      {fmt::format("analyze features --model {} --data {} --pairing zip", mlm_folder, sst2), &mlm, "features", sst2,
       {{"pairing", std::string("zip")}}},
      {fmt::format("analyze saliency --model {} --data {} --steps 4 --baseline mask", mlm_folder, masked), &mlm, "saliency",
       masked, {{"steps", std::int64_t{4}}, {"baseline", std::string("mask")}}},
      {fmt::format("analyze gradsep --model {} --data {} --mask-prob 0.3 --mask-seed 2", mlm_folder, lines), &mlm, "gradsep",
       lines, {{"mask_prob", 0.3}, {"mask_seed", std::int64_t{2}}}},
      {fmt::format("analyze importance --model {} --data {} --no-curve", clf_folder, sst2), &clf, "importance", sst2,
       {{"no_curve", true}}},
      {fmt::format("analyze importance --model {} --data {} --masking-amount 0.5 --mask-seed 1 --mask-prob 0.5", mlm_folder, lines),
       &mlm, "importance", lines, {{"masking_amount", 0.5}, {"mask_seed", std::int64_t{1}}, {"mask_prob", 0.5}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.cli);
    const auto cli = api_cli_document(dir, c.cli);
    api_expect_same_document(analyze(*c.model, c.method, {c.data}, c.options), cli, c.method);
  }
  const auto cli = api_cli_document(dir, fmt::format("compare --model {} --model-b {} --data {} --pad-to 128", mlm_folder,
                                                     clf_folder, sst2));
  api_expect_same_document(compare(mlm, clf, sst2, {{"pad_to", std::int64_t{128}}}), cli, "compare");
}

TEST(ApiAnalysis, BadMethodsAndOptionsAreExceptions) {
  const auto m = Model::load(api_analysis_models().mlm);
  const auto data = (test::data_dir() / "clark" / "en_ewt-ud-dev.first60.conllu").string();
  auto msg = test::error_message([&] { analyze(m, "sintax", {data}); });
  EXPECT_NE(msg.find("unknown analysis method 'sintax'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("syntax"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "syntax", {data}, {{"form", std::string("first")}}); });
  EXPECT_NE(msg.find("unknown option 'form' for syntax"), std::string::npos) << msg;
  EXPECT_NE(msg.find("from"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "syntax", {data}, {{"base_relations", std::int64_t{1}}}); });
  EXPECT_NE(msg.find("option 'base_relations' of syntax: expected true or false"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "syntax", {data}, {{"from", std::string("last")}}); });
  EXPECT_NE(msg.find("last"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "syntax", {data, data}); });
  EXPECT_NE(msg.find("one data file, 2 given"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "syntax", {"/nonexistent/file.conllu"}); });
  EXPECT_NE(msg.find("/nonexistent/file.conllu"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "ablate", {(test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string()}); });
  EXPECT_NE(msg.find("not a sequence classifier"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze(m, "influence", {data}, {{"baseline", std::string("random")}}); });
  EXPECT_NE(msg.find("baseline 'random'"), std::string::npos) << msg;
  msg = test::error_message([&] { analyze_traces("/nonexistent/traces", "influence", {data}); });
  EXPECT_NE(msg.find("runs the model"), std::string::npos) << msg;
  EXPECT_THROW(analyze_traces("/nonexistent/traces", "surface", {data}), Error);
  EXPECT_EQ(analysis_methods(), (std::vector<std::string>{"ablate", "cluster", "coref", "features", "flow", "gradsep",
                                                        "importance", "influence", "patterns", "probe", "rollout",
                                                        "saliency", "surface", "syntax"}));
}

}  // namespace
}  // namespace bertscope
