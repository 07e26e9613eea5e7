// Held-out MLM evaluation (model/mlm_eval.hpp): every evaluated position is the mask token in
// the input, the counts are what the report says, a perfect predictor scores 100%, the unigram
// baseline matches a hand computation, and `evaluate mlm` fails cleanly on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/generator.hpp"
#include "model/mlm_eval.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;
namespace fs = std::filesystem;

namespace {

model::Tokenizer eval_tokenizer() {
  return model::Tokenizer::from_vocab(test::data_dir() / "tiny-vocab.txt", model::TokenizerSettings{});
}

fs::path write_eval_text(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string held_out_text() {
  std::string text;
  const char* lines[] = {"the man was in the city.", "the people had been at the time.", "it is for the world!",
                         "would the state be with the people?"};
  for (int i = 0; i < 60; ++i) text += std::string(lines[i % 4]) + (i % 5 == 4 ? "\n\n" : "\n");
  return text;
}

model::Model eval_model(const model::Tokenizer& tok) {
  model::GeneratorOptions g;
  g.layers = 2;
  g.hidden = 32;
  g.heads = 2;
  g.intermediate = 48;
  g.max_positions = 64;
  g.seed = 5;
  const auto config = model::generator_config(g, static_cast<std::int64_t>(tok.vocab_size()));
  return model::Model(config, model::Weights::from_tensors(config, model::random_parameters(config, g)), std::nullopt);
}

// The tokenizer, a random model and the held-out text of the protocol tests.
struct HeldOut {
  TempDir dir{"mlm-eval"};
  model::Tokenizer tok = eval_tokenizer();
  model::Model m = eval_model(tok);
  model::MlmCorpus corpus = model::MlmCorpus::from_files({write_eval_text(dir, "held.txt", held_out_text())}, tok);
};

// `bertscope evaluate mlm ARGS` fails with one error line mentioning `words`, and writes no `out`.
void expect_evaluate_failure(const std::string& args, const fs::path& out, const std::vector<std::string>& words) {
  const auto r = test::run_command(test::cli() + " evaluate mlm " + args + " --out " + out.string());
  EXPECT_NE(r.status, 0) << r.output;
  std::string text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 0) << r.output;
  EXPECT_TRUE(text.starts_with("bertscope: error: ")) << r.output;
  for (const auto& w : words) EXPECT_NE(text.find(w), std::string::npos) << "no '" << w << "' in: " << text;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace

TEST(MlmEval, EveryEvaluatedPositionIsMaskedAndCounted) {
  const HeldOut h;
  const auto& [tok, m, corpus] = std::tie(h.tok, h.m, h.corpus);
  model::MlmEvalOptions o;
  o.sequences = 40;
  o.seq_len = 24;
  const auto insts = model::mlm_eval_instances(corpus, tok, m.config(), o);
  ASSERT_EQ(insts.size(), 40u);
  std::int64_t positions = 0, candidates = 0, tokens = 0;
  for (const auto& in : insts) {
    EXPECT_LE(static_cast<std::int64_t>(in.ids.size()), o.seq_len);
    std::int64_t n = 0;
    for (auto id : in.ids) n += tok.role(id) != model::TokenRole::cls_or_bos && tok.role(id) != model::TokenRole::sep_or_eos;
    EXPECT_EQ(static_cast<std::int64_t>(in.positions.size()), std::max<std::int64_t>(1, std::llround(0.15 * static_cast<double>(n))));
    for (std::size_t k = 0; k < in.positions.size(); ++k) {
      EXPECT_EQ(tok.role(in.ids[static_cast<std::size_t>(in.positions[k])]), model::TokenRole::mask);
      EXPECT_NE(tok.role(in.labels[k]), model::TokenRole::mask);
    }
    // Nothing else is masked, and the 80/10/10 instances select the same positions.
    EXPECT_EQ(std::count(in.ids.begin(), in.ids.end(), tok.mask_id()), static_cast<std::ptrdiff_t>(in.positions.size()));
    positions += static_cast<std::int64_t>(in.positions.size());
    candidates += n;
    tokens += static_cast<std::int64_t>(in.ids.size());
  }
  const auto bert = model::mlm_eval_instances(corpus, tok, m.config(), o, model::MaskScheme::bert_80_10_10);
  for (std::size_t i = 0; i < insts.size(); ++i) {
    EXPECT_EQ(bert[i].positions, insts[i].positions);
    EXPECT_EQ(bert[i].labels, insts[i].labels);
  }
  o.bert_masking = true;
  const auto r = model::evaluate_mlm(m, tok, corpus, &corpus, o);
  EXPECT_EQ(r.sequences, 40);
  EXPECT_EQ(r.model.count, positions);
  EXPECT_EQ(r.candidate_positions, candidates);
  EXPECT_EQ(r.tokens, tokens);
  ASSERT_TRUE(r.bert_masking);
  EXPECT_EQ(r.bert_masking->count, positions);
  EXPECT_EQ(r.bert_masked + r.bert_random + r.bert_kept, positions);
  EXPECT_GT(r.bert_masked, positions / 2);
  const auto j = model::mlm_eval_json(r, o, tok);
  EXPECT_EQ(j["positions"], positions);
  EXPECT_EQ(j["sequences"], 40);
  EXPECT_EQ(j["protocol"], "every selected position replaced by the mask token");
  EXPECT_TRUE(j.contains("bert_masking_80_10_10"));
}

TEST(MlmEval, ScoresEqualTheFullForwardAtTheSamePositions) {
  const HeldOut h;
  const auto& [tok, m, corpus] = std::tie(h.tok, h.m, h.corpus);
  model::MlmEvalOptions o;
  o.sequences = 12;
  o.seq_len = 20;
  o.batch = 5;
  const auto r = model::evaluate_mlm(m, tok, corpus, nullptr, o);
  EXPECT_FALSE(r.unigram);
  // The whole-sequence logits of the plain forward pass, read at the evaluated positions.
  model::MlmTally want;
  model::RunOptions run;
  run.mlm_logits = true;
  for (const auto& in : model::mlm_eval_instances(corpus, tok, m.config(), o)) {
    model::ModelInput mi;
    mi.ids = in.ids;
    mi.type_ids = in.type_ids;
    const auto full = m.forward(std::vector<model::ModelInput>{mi}, run)[0].mlm_logits;
    const auto vocab = full.shape[1];
    core::Tensor rows({static_cast<std::int64_t>(in.positions.size()), vocab});
    for (std::size_t k = 0; k < in.positions.size(); ++k)
      std::copy_n(full.ptr() + in.positions[k] * vocab, vocab, rows.ptr() + static_cast<std::int64_t>(k) * vocab);
    model::tally_mlm_logits(want, rows, in.labels);
  }
  EXPECT_EQ(r.model.count, want.count);
  EXPECT_EQ(r.model.correct, want.correct);
  EXPECT_NEAR(r.model.loss(), want.loss(), 1e-4);
}

TEST(MlmEval, PerfectPredictorScoresEverything) {
  const std::vector<std::int32_t> labels{3, 0, 7, 7};
  core::Tensor logits({4, 9});
  for (std::size_t k = 0; k < labels.size(); ++k) logits.ptr()[k * 9 + static_cast<std::size_t>(labels[k])] = 40.0f;
  model::MlmTally t;
  model::tally_mlm_logits(t, logits, labels);
  EXPECT_EQ(t.count, 4);
  EXPECT_EQ(t.correct, 4);
  EXPECT_DOUBLE_EQ(t.accuracy(), 1.0);
  EXPECT_LT(t.loss(), 1e-15);
  // Uniform logits: loss log(V); the first maximal id is the prediction.
  model::MlmTally u;
  model::tally_mlm_logits(u, core::Tensor({4, 9}), labels);
  EXPECT_NEAR(u.loss(), std::log(9.0), 1e-12);
  EXPECT_EQ(u.correct, 1);
}

TEST(MlmEval, UnigramBaselineByHand) {
  TempDir dir("mlm-eval");
  const auto tok = eval_tokenizer();
  const auto corpus = model::MlmCorpus::from_files({write_eval_text(dir, "train.txt", "the man the city the man.\n")}, tok);
  ASSERT_EQ(corpus.tokens(), 7);
  const model::UnigramBaseline u(corpus, tok, static_cast<std::int64_t>(tok.vocab_size()));
  const double denom = 7.0 + static_cast<double>(tok.vocab_size());
  EXPECT_EQ(tok.token(u.guess()), "the");
  EXPECT_NEAR(u.neg_log_prob(*tok.find("the")), -std::log(4.0 / denom), 1e-12);
  EXPECT_NEAR(u.neg_log_prob(*tok.find("man")), -std::log(3.0 / denom), 1e-12);
  EXPECT_NEAR(u.neg_log_prob(*tok.find("people")), -std::log(1.0 / denom), 1e-12);

  // On the evaluated positions: the mean of those terms, and the share of labels equal to "the".
  const auto m = eval_model(tok);
  const auto held = model::MlmCorpus::from_files({write_eval_text(dir, "held.txt", held_out_text())}, tok);
  model::MlmEvalOptions o;
  o.sequences = 16;
  o.seq_len = 16;
  const auto r = model::evaluate_mlm(m, tok, held, &corpus, o);
  double loss = 0;
  std::int64_t hits = 0, n = 0;
  for (const auto& in : model::mlm_eval_instances(held, tok, m.config(), o))
    for (auto label : in.labels) {
      loss += u.neg_log_prob(label);
      hits += tok.token(label) == "the";
      ++n;
    }
  ASSERT_TRUE(r.unigram);
  EXPECT_EQ(r.unigram->count, n);
  EXPECT_NEAR(r.unigram->loss(), loss / static_cast<double>(n), 1e-12);
  EXPECT_EQ(r.unigram->correct, hits);
  EXPECT_EQ(r.unigram_corpus_tokens, 7);
}

TEST(MlmEval, CommandWritesReportInstancesAndCard) {
  TempDir dir("mlm-eval");
  const auto model_dir = test::make_model(dir, "m", fmt::format("--layers 2 --hidden 32 --heads 2 --intermediate 40 --seed 3 --vocab {}",
                                                                (test::data_dir() / "tiny-vocab.txt").string()));
  const auto held = write_eval_text(dir, "held.txt", held_out_text());
  const auto train = write_eval_text(dir, "train.txt", "the man the city the man.\n");
  // A report from before the protocol, with a machine's absolute paths.
  io::write_file_atomic(fs::path(model_dir) / "train_report.json",
                        nlohmann::json{{"steps", 3},
                                       {"hyperparameters", {{"task", "mlm"}, {"steps", 10}}},
                                       {"train_corpus", {{"files", {"/work/shared/data/train.txt"}}, {"documents", 1}, {"tokens", 7}}},
                                       {"held_out", {{"files", {"/work/shared/data/held.txt"}}, {"mlm_loss", 5.0}, {"mlm_accuracy", 0.2}, {"predictions", 9}}}}
                            .dump());
  const auto r = test::run_command(fmt::format("{} evaluate mlm --model {} --corpus {} --unigram-corpus {} --instances 20 "
                                               "--seq-len 24 --bert-masking --dump-instances {} --out {} --update-model-card",
                                               test::cli(), model_dir, held.string(), train.string(), (dir / "inst.npz").string(),
                                               (dir / "eval.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("every selected position masked"), std::string::npos) << r.output;
  const auto doc = io::read_json(dir / "eval.json");
  const auto& res = doc["results"];
  EXPECT_EQ(res["sequences"], 20);
  EXPECT_EQ(res["files"], nlohmann::json::array({"held.txt"}));
  const io::NpzReader npz(dir / "inst.npz");
  const auto ids = npz.read("input_ids").to_i64(), seq = npz.read("sequence").to_i64(), pos = npz.read("position").to_i64();
  const auto width = npz.read("input_ids").shape[1];
  ASSERT_EQ(static_cast<std::int64_t>(pos.size()), res["positions"].get<std::int64_t>());
  for (std::size_t k = 0; k < pos.size(); ++k) EXPECT_EQ(ids[static_cast<std::size_t>(seq[k] * width + pos[k])], 4);  // [MASK]
  EXPECT_TRUE(npz.contains("bert_input_ids"));
  // The folder's report keeps the old figure under its own name; no absolute path survives.
  const auto report_text = io::read_file(fs::path(model_dir) / "train_report.json");
  const auto card = io::read_file(fs::path(model_dir) / "README.md");
  EXPECT_EQ(report_text.find("/work"), std::string::npos);
  EXPECT_EQ(card.find("/work"), std::string::npos);
  const auto report = nlohmann::json::parse(report_text);
  EXPECT_EQ(report["held_out"]["mlm_accuracy"], res["mlm_accuracy"]);
  EXPECT_EQ(report["held_out_80_10_10_at_training"]["mlm_accuracy"], 0.2);
  EXPECT_NE(card.find("every selected position is replaced by [MASK]"), std::string::npos) << card;
  EXPECT_NE(card.find(fmt::format("{:.1f}%", 100 * res["mlm_accuracy"].get<double>())), std::string::npos) << card;
  // A run stopped before its schedule's end (train --stop-after) says so.
  EXPECT_NE(card.find("stopped at step 3 of a 10-step schedule"), std::string::npos) << card;
}

TEST(MlmEval, CommandBadInput) {
  TempDir dir("mlm-eval");
  const auto vocab = (test::data_dir() / "tiny-vocab.txt").string();
  const auto mlm = test::make_model(dir, "mlm", "--layers 1 --hidden 16 --heads 2 --intermediate 20 --seed 1 --vocab " + vocab);
  const auto clf = test::make_model(dir, "clf", "--layers 1 --hidden 16 --heads 2 --intermediate 20 --seed 2 --labels 2 --vocab " + vocab);
  const auto held = write_eval_text(dir, "held.txt", held_out_text());
  const auto out = dir / "eval.json";
  expect_evaluate_failure(fmt::format("--model {} --corpus {}", mlm, (dir / "missing.txt").string()), out, {"missing.txt"});
  const auto bad = write_eval_text(dir, "bad.txt", "the man.\nthe city.\nthe \xff world.\n");
  expect_evaluate_failure(fmt::format("--model {} --corpus {}", mlm, bad.string()), out, {"bad.txt:3:", "invalid UTF-8"});
  expect_evaluate_failure(fmt::format("--model {} --corpus {} --dump-instances {}", clf, held.string(), (dir / "i.npz").string()),
                          out, {"masked-LM head", "BertForSequenceClassification"});
  EXPECT_FALSE(fs::exists(dir / "i.npz"));
  expect_evaluate_failure(fmt::format("--model {} --corpus {} --update-model-card", mlm, held.string()), out, {"train_report.json"});
}
