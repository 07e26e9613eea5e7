// Gradient x input and integrated gradients (`bertscope analyze saliency`): completeness
// (sum of IG attributions = F(x) - F(baseline) within 2% at 50 steps) for class logits, MLM
// logit differences and every baseline; the gradient against finite differences of F; the
// quadrature converging as steps grow; [CLS]/[SEP] kept on the baseline get exactly 0; and
// the command end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <span>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/saliency.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

struct Models {
  TempDir dir{"saliency-models"};
  std::string classifier = make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 4 --intermediate 48 "
                                                              "--labels 3 --seed 41 --init-std 0.15 --bias-std 0.1",
                                                              test::uncased_vocab()));
  std::string mlm = make_model(dir, "mlm", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 4 --intermediate 48 "
                                                       "--seed 42 --init-std 0.15 --bias-std 0.1",
                                                       test::uncased_vocab()));
};

const Models& models() {
  static Models m;
  return m;
}

const std::vector<std::string> kTexts = {"the film is a charming and often affecting journey .",
                                         "unflinchingly bleak and desperate", "a gorgeous , witty , seductive movie ."};

}  // namespace

TEST(SaliencyCompleteness, IntegratedGradientsSumToTheOutputDifferenceAt50Steps) {
  const auto clf = model::Model::load(models().classifier);
  const auto mlm = model::Model::load(models().mlm);
  int checked = 0;
  for (const auto baseline : {saliency::Baseline::zero, saliency::Baseline::pad, saliency::Baseline::mask}) {
    for (const auto& text : kTexts) {
      saliency::Options o;
      o.baseline = baseline;
      o.steps = 50;
      const auto in = model::ModelInput::from_encoding(clf.encode(text));
      const auto a = saliency::attribute(clf, in, o);
      const double delta = a.f_input - a.f_baseline;
      EXPECT_GT(std::abs(delta), 1e-2) << "the output barely moves; the check would be weak";
      EXPECT_LT(std::abs(a.integrated_sum - delta), 0.02 * std::abs(delta)) << text << " " << saliency::baseline_name(baseline);
      EXPECT_LT(a.completeness_error, 0.02);
      // F(x) and F(b) are the model's own outputs.
      auto target = o.target;
      target.index = a.index;
      EXPECT_NEAR(a.f_input, saliency::output_at(clf, in, saliency::input_embeddings(clf, in), target), 1e-5);
      EXPECT_NEAR(a.f_baseline, saliency::output_at(clf, in, saliency::baseline_embeddings(clf, in, baseline, false), target), 1e-5);
      ++checked;
    }
    // An MLM logit difference at the [MASK] position.
    saliency::Options o;
    o.baseline = baseline;
    o.target.kind = saliency::Target::Kind::mlm_logit;
    o.target.index = *mlm.tokenizer().find("is");
    o.target.minus = *mlm.tokenizer().find("are");
    const auto in = model::ModelInput::from_encoding(mlm.encode("the keys to the cabinet [MASK] on the table ."));
    const auto a = saliency::attribute(mlm, in, o);
    EXPECT_EQ(a.position, 6);
    const double delta = a.f_input - a.f_baseline;
    EXPECT_GT(std::abs(delta), 1e-2);
    EXPECT_LT(std::abs(a.integrated_sum - delta), 0.02 * std::abs(delta)) << saliency::baseline_name(baseline);
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

TEST(SaliencyCompleteness, QuadratureErrorShrinksWithStepsAndEveryRuleConverges) {
  const auto clf = model::Model::load(models().classifier);
  const auto in = model::ModelInput::from_encoding(clf.encode(kTexts[0]));
  saliency::Options o;
  o.target.index = 1;
  o.steps = 1;
  o.rule = saliency::Rule::trapezoid;
  const auto coarse = saliency::attribute(clf, in, o);
  o.steps = 200;
  const auto fine = saliency::attribute(clf, in, o);
  // One trapezoid is far off on this model: the completeness measure can fail.
  EXPECT_GT(coarse.completeness_error, 0.05);
  EXPECT_LT(fine.completeness_error, coarse.completeness_error / 10);
  for (const auto rule : {saliency::Rule::midpoint, saliency::Rule::uniform}) {
    o.rule = rule;
    o.steps = 200;
    EXPECT_LT(saliency::attribute(clf, in, o).completeness_error, 0.02) << saliency::rule_name(rule);
  }
  // Attributions of the fine and coarse runs agree token by token only at high resolution.
  o.rule = saliency::Rule::trapezoid;
  o.steps = 100;
  const auto mid = saliency::attribute(clf, in, o);
  for (std::size_t i = 0; i < mid.integrated.size(); ++i)
    EXPECT_NEAR(mid.integrated[i], fine.integrated[i], 0.02 * std::abs(fine.f_input - fine.f_baseline));
}

TEST(SaliencyGradient, GradientTimesInputMatchesFiniteDifferences) {
  const auto clf = model::Model::load(models().classifier);
  const auto in = model::ModelInput::from_encoding(clf.encode(kTexts[1]));
  saliency::Options o;
  o.target.index = 2;
  o.target.minus = 0;
  o.integrated = false;
  const auto a = saliency::attribute(clf, in, o);
  // d/ds F(x + s x_i e_i) at s = 0 is gradient x input of token i; central differences in s.
  const auto x = saliency::input_embeddings(clf, in);
  const auto hidden = clf.config().hidden_size;
  for (std::size_t i = 0; i < a.grad_x_input.size(); ++i) {
    const double s = 1e-2;
    auto shifted = [&](double sign) {
      auto e = x;
      for (std::int64_t d = 0; d < hidden; ++d)
        e.data[i * static_cast<std::size_t>(hidden) + static_cast<std::size_t>(d)] *= static_cast<float>(1 + sign * s);
      auto t = o.target;
      t.index = a.index;
      return saliency::output_at(clf, in, e, t);
    };
    const double fd = (shifted(1) - shifted(-1)) / (2 * s);
    EXPECT_NEAR(a.grad_x_input[i], fd, 2e-3 * std::abs(fd) + 2e-4) << "token " << i;
  }
  EXPECT_TRUE(a.integrated.empty());
}

TEST(SaliencyBaselines, SpecialTokensKeptOnTheBaselineGetNothing) {
  const auto clf = model::Model::load(models().classifier);
  const auto in = model::ModelInput::from_encoding(clf.encode(kTexts[2]));
  saliency::Options o;
  o.baseline = saliency::Baseline::mask;
  o.keep_special = true;
  const auto a = saliency::attribute(clf, in, o);
  EXPECT_EQ(a.integrated.front(), 0.0);
  EXPECT_EQ(a.integrated.back(), 0.0);
  EXPECT_LT(a.completeness_error, 0.02);
  const auto b = saliency::baseline_embeddings(clf, in, saliency::Baseline::pad, false);
  const auto pad = clf.tokenizer().pad_id();
  const auto hidden = clf.config().hidden_size;
  for (std::int64_t d = 0; d < hidden; ++d)
    EXPECT_EQ(b.data[static_cast<std::size_t>(d)], clf.params().word_emb.data[pad * hidden + d]);
  EXPECT_THROW(saliency::parse_baseline("unk"), Error);
}

TEST(SaliencyCli, ClassAndMlmTargetsEndToEnd) {
  TempDir dir("saliency-cli");
  const auto data = (dir / "texts.txt").string();
  io::write_file_atomic(data, kTexts[0] + "\n" + kTexts[1] + "\n");
  auto run = [&](const std::string& args) {
    const auto r = test::run_command(fmt::format("{} analyze saliency {}", test::cli(), args));
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  };
  run(fmt::format("--model {} --data {} --class 1 --minus-class 0 --steps 50 --out {}", models().classifier, data,
                  (dir / "clf.json").string()));
  const auto doc = io::read_json(dir / "clf.json");
  const auto& ex = doc["results"]["examples"];
  ASSERT_EQ(ex.size(), 2u);
  for (const auto& e : ex) {
    EXPECT_EQ(e["integrated_gradients"].size(), e["tokens"].size());
    EXPECT_EQ(e["grad_x_input"].size(), e["tokens"].size());
    EXPECT_LT(e["completeness_error"].get<double>(), 0.02);
    EXPECT_EQ(e["name"], "class LABEL_1 - LABEL_0");
  }
  const auto mlm_data = (dir / "mlm.txt").string();
  io::write_file_atomic(mlm_data, "the keys to the cabinet [MASK] on the table .\n");
  const auto out = run(fmt::format("--model {} --data {} --token is --minus-token are --baseline mask --rule midpoint --out {}",
                                   models().mlm, mlm_data, (dir / "mlm.json").string()));
  const auto mdoc = io::read_json(dir / "mlm.json");
  EXPECT_EQ(mdoc["results"]["examples"][0]["position"], 6);
  EXPECT_EQ(mdoc["results"]["examples"][0]["name"], "mlm[6] is - are");
  EXPECT_NE(out.find("completeness error"), std::string::npos);
  // Errors: an unknown token, a text without [MASK].
  auto bad = test::run_command(fmt::format("{} analyze saliency --model {} --data {} --token qqqzz", test::cli(), models().mlm, mlm_data));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("qqqzz"), std::string::npos) << bad.output;
  bad = test::run_command(fmt::format("{} analyze saliency --model {} --data {}", test::cli(), models().mlm, data));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find(":1: no mask token ([MASK])"), std::string::npos) << bad.output;
}

// A task file: its header is not an input, each example carries its gold label (the class name
// bound to the model) beside the prediction, which is the argmax of the logits at the input.
TEST(SaliencyCli, TaskFileGivesGoldLabelsAndPredictions) {
  TempDir dir("saliency-task");
  const auto data = (dir / "dev.tsv").string();
  io::write_file_atomic(data, "sentence\tlabel\n" + kTexts[0] + "\t1\n" + kTexts[1] + "\t0\n" + kTexts[2] + "\t2\n");
  const auto r = test::run_command(fmt::format("{} analyze saliency --model {} --data {} --steps 4 --out {}", test::cli(),
                                               models().classifier, data, (dir / "out.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto doc = io::read_json(dir / "out.json");
  const auto& ex = doc["results"]["examples"];
  ASSERT_EQ(ex.size(), 3u);
  const auto m = model::Model::load(models().classifier);
  // The config names no labels, so the classes are named as the task file writes them.
  const std::vector<std::string> gold{"1", "0", "2"};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ex[i]["gold"], gold[i]);
    EXPECT_EQ(ex[i]["gold_class"], std::stoi(gold[i]));
    EXPECT_EQ(ex[i]["text"], kTexts[i]);
    // The default target is the prediction, whose logit is F(x).
    const auto enc = m.encode(kTexts[i]);
    const auto input = model::ModelInput::from_encoding(enc);
    model::RunOptions run;
    run.classifier_logits = true;
    const auto out = m.forward(std::span(&input, 1), run);
    const auto& lg = out[0].classifier_logits.data;
    const auto best = std::max_element(lg.begin(), lg.end()) - lg.begin();
    EXPECT_EQ(ex[i]["predicted"], best);
    EXPECT_EQ(ex[i]["predicted_name"], std::to_string(best));
    EXPECT_NEAR(ex[i]["f_input"].get<double>(), lg[static_cast<std::size_t>(best)], 1e-4);
    double z = 0;
    for (const auto v : lg) z += std::exp(v - lg[static_cast<std::size_t>(best)]);
    EXPECT_NEAR(ex[i]["predicted_probability"].get<double>(), 1.0 / z, 1e-5);
  }
  EXPECT_EQ(doc["data"]["task"]["name"], "sst2");
  // A label the model does not have: one error naming the file and line.
  io::write_file_atomic(data, "sentence\tlabel\n" + kTexts[0] + "\t7\n");
  const auto bad = test::run_command(fmt::format("{} analyze saliency --model {} --data {} --steps 2 --out {}", test::cli(),
                                                 models().classifier, data, (dir / "bad.json").string()));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("dev.tsv:2"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
}
