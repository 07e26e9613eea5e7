// Training dynamics: `train mlm --keep-every` keeps loadable step folders (kept across a resume,
// identical to an uninterrupted run's), and `track` over them gives, per step, the numbers the
// single-model commands give on that checkpoint; bad checkpoint folders fail with one error
// naming the folder and write nothing.
#include <gtest/gtest.h>

#include <fstream>

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "figure_checks.hpp"
#include "io/files.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;

namespace {

std::filesystem::path repo_data() { return test::data_dir().parent_path().parent_path() / "data"; }

std::string track_prose() { return (repo_data() / "prose" / "a_tale_of_two_cities.sentences.txt").string(); }
std::string track_treebank() { return (test::data_dir() / "clark" / "en_ewt-ud-dev.first60.conllu").string(); }
std::string track_agreement(const std::string& name) { return (repo_data() / "marvin_linzen" / (name + ".sample.tsv")).string(); }

// Three kept steps (2, 4, 6) of a tiny model, trained once for every test of this file.
struct TrackRun {
  TempDir dir{"track"};
  std::string init = test::make_model(dir, "init",
                                      fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 48 "
                                                  "--max-positions 128 --seed 12",
                                                  test::uncased_vocab()));
  std::string corpus = (dir / "corpus.txt").string();
  std::filesystem::path out = dir / "out";

  std::string train_command(const std::filesystem::path& into, const std::string& extra = "") const {
    return fmt::format("{} train mlm --model {} --corpus {} --out {} --steps 6 --batch 4 --seq-len 32 --warmup 1 --lr 1e-2 "
                       "--checkpoint-every 2 --keep-every 2 --keep-dtype f16 {}",
                       test::cli(), init, corpus, into.string(), extra);
  }
  TrackRun() {
    std::filesystem::copy_file(track_prose(), corpus);
    const auto r = test::run_command(train_command(out));
    EXPECT_EQ(r.status, 0) << r.output;
  }
};

const TrackRun& track_run() {
  static const TrackRun run;
  return run;
}

std::string track_command(const std::filesystem::path& checkpoints, const std::filesystem::path& out) {
  return fmt::format("{} track --checkpoints {} --data {} --max-segments 16 --ud {} --agreement {} --agreement {} "
                     "--min-relation-count 20 --out {}",
                     test::cli(), checkpoints.string(), track_prose(), track_treebank(), track_agreement("simple_agrmt"),
                     track_agreement("subj_rel"), out.string());
}

}  // namespace

TEST(Track, KeepEveryWritesLoadableStepFolders) {
  const auto& run = track_run();
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(run.out / "steps")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names, (std::vector<std::string>{"step-000002", "step-000004", "step-000006"}));  // no staging left
  std::int64_t tokens = 0;
  for (const auto& name : names) {
    const auto folder = run.out / "steps" / name;
    for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "step.json"})
      EXPECT_TRUE(std::filesystem::exists(folder / f)) << folder << " " << f;
    const auto step = io::read_json(folder / "step.json");
    EXPECT_EQ(step.at("step").get<std::int64_t>(), std::stoll(name.substr(5)));
    EXPECT_GT(step.at("tokens_seen").get<std::int64_t>(), tokens);
    tokens = step.at("tokens_seen").get<std::int64_t>();
    EXPECT_TRUE(step.at("loss").is_number());
    const auto info = test::run_command(test::cli() + " info --model " + folder.string());
    EXPECT_EQ(info.status, 0) << info.output;
  }
}

TEST(Track, ResumeKeepsEarlierStepsAndContinuesExactly) {
  const auto& run = track_run();
  TempDir dir("track-resume");
  const auto resumed = dir / "resumed";
  auto r = test::run_command(run.train_command(resumed, "--stop-after 3"));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto kept = resumed / "steps" / "step-000002";
  ASSERT_TRUE(std::filesystem::exists(kept / "model.safetensors"));
  const auto before = std::filesystem::last_write_time(kept / "model.safetensors");
  // What a crash while keeping step 4 would leave: a hidden half folder, which track ignores and
  // the resumed run replaces.
  const auto half = resumed / "steps" / ".step-000004.staging";
  std::filesystem::create_directories(half);
  std::filesystem::copy_file(kept / "config.json", half / "config.json");
  const auto listed = test::run_command(track_command(resumed, dir / "partial.json"));
  ASSERT_EQ(listed.status, 0) << listed.output;
  EXPECT_EQ(io::read_json(dir / "partial.json").at("results").at("steps"), nlohmann::json::parse("[2]"));
  r = test::run_command(run.train_command(resumed));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(half));
  EXPECT_EQ(std::filesystem::last_write_time(kept / "model.safetensors"), before);  // not rewritten
  for (const char* name : {"step-000002", "step-000004", "step-000006"})
    for (const char* f : {"model.safetensors", "step.json"})
      EXPECT_EQ(test::fnv1a64_file(resumed / "steps" / name / f), test::fnv1a64_file(run.out / "steps" / name / f))
          << name << "/" << f;
}

TEST(Track, EachStepEqualsTheSingleModelAnalyses) {
  const auto& run = track_run();
  TempDir dir("track-doc");
  const auto doc_path = dir / "track.json";
  // The training folder itself: track reads its steps/.
  auto r = test::run_command(track_command(run.out, doc_path));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto doc = io::read_json(doc_path);
  EXPECT_EQ(doc.at("method"), "track");
  const auto& res = doc.at("results");
  EXPECT_EQ(res.at("steps"), nlohmann::json::parse("[2, 4, 6]"));
  ASSERT_EQ(res.at("positional").at("prev").size(), 3u);
  ASSERT_EQ(res.at("positional").at("prev")[0].size(), 2u);     // layers
  ASSERT_EQ(res.at("positional").at("prev")[0][0].size(), 2u);  // heads
  ASSERT_EQ(res.at("sep").at("per_layer")[0].size(), 2u);
  ASSERT_FALSE(res.at("syntax").at("relations").empty());
  EXPECT_EQ(res.at("agreement").at("tasks"), nlohmann::json::parse(R"(["simple_agrmt.sample", "subj_rel.sample"])"));
  // The figures' records: one per step, with the statistics beside it; no machine paths.
  ASSERT_EQ(res.at("by_step").size(), 3u);
  EXPECT_EQ(res.at("by_step")[1].at("step"), 4);
  EXPECT_EQ(res.at("by_step")[1].at("sep_max"), res.at("sep").at("max")[1]);
  EXPECT_EQ(res.at("by_step")[1].at("sep_layer_1"), res.at("sep").at("per_layer")[1][1]);
  EXPECT_EQ(res.at("by_step")[1].at("agreement_subj_rel_sample"), res.at("agreement").at("accuracy")[1][1]);
  EXPECT_EQ(res.at("checkpoints")[1].at("folder"), "step-000004");
  std::set<std::string> figure_ids;
  for (const auto& f : doc.at("figures")) figure_ids.insert(f.at("id").get<std::string>());
  for (const char* id : {"track.loss", "track.positional", "track.sep", "track.syntax_margin", "track.agreement"})
    EXPECT_TRUE(figure_ids.count(id)) << id;
  for (const auto& p : test::document_problems(doc)) ADD_FAILURE() << p;
  EXPECT_EQ(res.at("checkpoints")[2].at("step"), 6);
  EXPECT_TRUE(res.at("checkpoints")[2].at("loss").is_number());

  // The steps differ (a large learning rate), so a wrong step would not match.
  EXPECT_NE(res.at("syntax").at("best")[0], res.at("syntax").at("best")[2]);
  // Step 4 (index 1) against analyze surface / syntax / influence on step-000004.
  const auto ckpt = (run.out / "steps" / "step-000004").string();
  r = test::run_command(fmt::format("{} analyze surface --model {} --data {} --segments --max-segments 16 --out {}",
                                    test::cli(), ckpt, track_prose(), (dir / "surface.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto surface = io::read_json(dir / "surface.json").at("results");
  for (const auto& h : surface.at("heads")) {
    const int l = h.at("layer"), k = h.at("head");
    EXPECT_EQ(res.at("positional").at("prev")[1][l][k], h.at("prev"));
    EXPECT_EQ(res.at("positional").at("next")[1][l][k], h.at("next"));
  }
  double max_sep = 0;
  for (const auto& l : surface.at("layers")) {
    EXPECT_EQ(res.at("sep").at("per_layer")[1][l.at("layer").get<int>()], l.at("sep"));
    max_sep = std::max(max_sep, l.at("sep").get<double>());
  }
  EXPECT_EQ(res.at("sep").at("max")[1].get<double>(), max_sep);

  r = test::run_command(fmt::format("{} analyze syntax --model {} --data {} --out {}", test::cli(), ckpt, track_treebank(),
                                    (dir / "syntax.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto syntax = io::read_json(dir / "syntax.json").at("results").at("relations");
  std::size_t expected_relations = 0;
  for (const auto& [name, rel] : syntax.items())
    expected_relations += name != "all" && name != "root" && rel.at("count").get<std::size_t>() >= 20;
  const auto& names = res.at("syntax").at("relations");
  EXPECT_EQ(names.size(), expected_relations);
  std::size_t beats = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& rel = syntax.at(names[i].get<std::string>());
    EXPECT_EQ(res.at("syntax").at("best")[1][i], rel.at("best").at("accuracy")) << names[i];
    EXPECT_EQ(res.at("syntax").at("baseline")[1][i], rel.at("baseline").at("accuracy")) << names[i];
    beats += rel.at("best").at("accuracy").get<double>() - rel.at("baseline").at("accuracy").get<double>() >= 0.05 - 1e-12;
  }
  EXPECT_EQ(res.at("syntax").at("beats_baseline")[1].get<std::size_t>(), beats);

  r = test::run_command(fmt::format("{} analyze influence --model {} --data {} --data {} --no-patterns --steps 1 --out {}",
                                    test::cli(), ckpt, track_agreement("simple_agrmt"), track_agreement("subj_rel"),
                                    (dir / "influence.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto tasks = io::read_json(dir / "influence.json").at("results").at("tasks");
  ASSERT_EQ(tasks.size(), 2u);
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_GT(tasks[t].at("examples").get<std::size_t>(), 0u);
    EXPECT_NEAR(res.at("agreement").at("accuracy")[1][t].get<double>(),
                tasks[t].at("accuracy").at("all").at("accuracy").get<double>(), 1e-12);
  }
}

TEST(Track, BadCheckpointFoldersFailNamingTheFolder) {
  const auto& run = track_run();
  TempDir dir("track-bad");
  const auto out = dir / "track.json";
  auto expect_failure = [&](const std::filesystem::path& checkpoints, const std::string& names) {
    const auto r = test::run_command(track_command(checkpoints, out));
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(names), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
  };
  std::filesystem::create_directories(dir / "empty");
  expect_failure(dir / "empty", (dir / "empty").string() + ": no checkpoint folders");

  // Two folders of one step.
  const auto dup = dir / "dup";
  std::filesystem::create_directories(dup);
  std::filesystem::copy(run.out / "steps" / "step-000002", dup / "step-000002");
  std::filesystem::copy(run.out / "steps" / "step-000002", dup / "again-2");
  expect_failure(dup, "both are step 2");

  // A folder that does not load (its weights are missing): named, nothing written, though the
  // earlier steps loaded.
  const auto broken = dir / "broken";
  std::filesystem::create_directories(broken);
  std::filesystem::copy(run.out / "steps" / "step-000002", broken / "step-000002");
  std::filesystem::copy(run.out / "steps" / "step-000004", broken / "step-000004");
  std::filesystem::remove(broken / "step-000004" / "model.safetensors");
  expect_failure(broken, (broken / "step-000004").string());

  // A folder with no step anywhere.
  const auto nameless = dir / "nameless";
  std::filesystem::create_directories(nameless);
  std::filesystem::copy(run.out / "steps" / "step-000002", nameless / "final");
  std::filesystem::remove(nameless / "final" / "step.json");
  expect_failure(nameless, (nameless / "final").string() + ": no step.json and no step number");
}
