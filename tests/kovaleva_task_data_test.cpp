// GLUE task layer: column layouts, label binding and the metrics, with known answers (the
// reference values come from numpy: correlations with np.corrcoef, multiclass Matthews as the
// correlation of one-hot class indicators).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "analysis/task_data.hpp"
#include "io/error.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

std::filesystem::path write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST(KovalevaTaskData, Metrics) {
  const std::vector<std::int64_t> pred{1, 0, 1, 1}, gold{1, 1, 1, 0};
  EXPECT_DOUBLE_EQ(accuracy(pred, gold), 0.5);
  EXPECT_DOUBLE_EQ(f1_score(pred, gold), 2.0 / 3.0);  // tp 2, fp 1, fn 1
  EXPECT_NEAR(matthews(pred, gold), -1.0 / 3.0, 1e-15);
  // Multiclass: numpy reference 0.375.
  const std::vector<std::int64_t> yp{0, 2, 2, 1, 1, 0, 0}, yt{0, 1, 2, 2, 1, 0, 2};
  EXPECT_NEAR(matthews(yp, yt), 0.375, 1e-15);
  EXPECT_DOUBLE_EQ(matthews(std::vector<std::int64_t>{1, 1, 1}, std::vector<std::int64_t>{0, 1, 0}), 0.0);
  EXPECT_DOUBLE_EQ(f1_score(std::vector<std::int64_t>{0, 0}, std::vector<std::int64_t>{0, 0}), 0.0);
  const std::vector<double> x{1, 2, 3, 4, 5}, y{2, 4, 5, 4, 5};
  EXPECT_NEAR(pearson(x, y), 0.7745966692414834, 1e-14);
  EXPECT_NEAR(spearman(x, y), 0.7378647873726218, 1e-14);  // ties get average ranks
  EXPECT_TRUE(std::isnan(pearson(x, std::vector<double>{1, 1, 1, 1, 1})));
  EXPECT_TRUE(metric_json(std::nan("")).is_null());
}

TEST(KovalevaTaskData, DetectsGlueLayouts) {
  const auto sst = read_task(test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv");
  EXPECT_EQ(sst.spec.name, "sst2");
  ASSERT_EQ(sst.examples.size(), 40u);
  EXPECT_FALSE(sst.examples[0].pair);
  EXPECT_EQ(sst.examples[0].line, 2u);
  const auto rte = read_task(test::data_dir() / "kovaleva" / "rte_dev.head12.tsv");
  EXPECT_EQ(rte.spec.name, "rte");
  ASSERT_EQ(rte.examples.size(), 12u);
  ASSERT_TRUE(rte.examples[0].pair);
  EXPECT_EQ(*rte.examples[0].pair, "Christopher Reeve had an accident.");
  EXPECT_EQ(*rte.examples[0].label, "1");
  EXPECT_EQ(rte.inputs().size(), 12u);

  TempDir dir("task");
  const auto qnli = read_task(write(dir, "qnli.tsv", "index\tquestion\tsentence\tlabel\n0\tWho?\tHim.\tentailment\n"));
  EXPECT_EQ(qnli.spec.name, "qnli");
  const auto stsb = read_task(write(dir, "stsb.tsv", "sentence1\tsentence2\tscore\na\tb\t3.5\n"));
  EXPECT_TRUE(stsb.spec.regression);
  const auto unlabelled = read_task(write(dir, "test.tsv", "index\tsentence\nx\thello\n"));
  EXPECT_FALSE(unlabelled.has_labels());
  const auto cola = read_task(write(dir, "cola.tsv", "src\t1\t\tgood sentence .\nsrc\t0\t*\tbad sentence .\n"),
                              builtin_task("cola"));
  ASSERT_EQ(cola.examples.size(), 2u);
  EXPECT_EQ(cola.examples[1].text, "bad sentence .");
  EXPECT_EQ(*cola.examples[1].label, "0");
  EXPECT_NE(test::error_message([&] { read_task(write(dir, "odd.tsv", "a\tb\n1\t2\n")); }).find("cannot tell the task"),
            std::string::npos);
  EXPECT_NE(test::error_message([] { builtin_task("squad"); }).find("built-in tasks are"), std::string::npos);
}

TEST(KovalevaTaskData, WrongColumnCountNamesTheLine) {
  TempDir dir("task");
  const auto path = write(dir, "bad.tsv", "sentence\tlabel\ngood\t1\nno label here\nfine\t0\n");
  const auto msg = test::error_message([&] { read_task(path); });
  EXPECT_NE(msg.find(path.string() + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 2 tab-separated columns, found 1"), std::string::npos) << msg;
}

TEST(KovalevaTaskData, BindsLabelsToTheModelsClasses) {
  TempDir dir("task");
  const auto rte = read_task(write(dir, "rte.tsv",
                                   "idx\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tc\td\t1\n2\te\tf\tNot_Entailment\n"));
  auto bound = bind_labels(rte, 2, {});
  EXPECT_EQ(bound.classes, (std::vector<std::int64_t>{0, 1, 1}));
  EXPECT_EQ(bound.class_names, (std::vector<std::string>{"entailment", "not_entailment"}));
  // A config that names its labels decides the order.
  bound = bind_labels(rte, 2, {{0, "not_entailment"}, {1, "entailment"}});
  EXPECT_EQ(bound.classes, (std::vector<std::int64_t>{1, 1, 0}));

  const auto sst = read_task(write(dir, "sst.tsv", "sentence\tlabel\nok\t1\nbad\t0\nodd\t2\n"));
  auto msg = test::error_message([&] { bind_labels(sst, 2, {}); });
  EXPECT_NE(msg.find(":4: label \"2\" is not one of the model's 2 classes"), std::string::npos) << msg;
  msg = test::error_message([&] { bind_labels(sst, 1, {}); });
  EXPECT_NE(msg.find("regression head"), std::string::npos) << msg;

  const auto stsb = read_task(write(dir, "stsb.tsv", "sentence1\tsentence2\tscore\na\tb\t3.5\nc\td\thigh\n"));
  msg = test::error_message([&] { bind_labels(stsb, 1, {}); });
  EXPECT_NE(msg.find(":3: label \"high\" is not a number"), std::string::npos) << msg;
  EXPECT_NE(test::error_message([&] { bind_labels(stsb, 2, {}); }).find("regression"), std::string::npos);
}

TEST(KovalevaTaskData, ScoresOutputs) {
  TempDir dir("task");
  const auto mrpc = read_task(write(dir, "mrpc.tsv",
                                    "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n0\t3\t4\tc\td\n1\t5\t6\te\tf\n"));
  EXPECT_EQ(mrpc.spec.name, "mrpc");
  const auto gold = bind_labels(mrpc, 2, {});
  // Predictions 1, 1, 0 (argmax per row).
  const std::vector<float> logits{0.1f, 0.9f, -1.0f, 2.0f, 3.0f, 1.0f};
  const auto s = score_task(mrpc.spec, gold, logits, 2);
  EXPECT_DOUBLE_EQ(s.values.at("accuracy"), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.values.at("f1"), 0.5);
  EXPECT_DOUBLE_EQ(s.primary, 0.5);  // MRPC's metric is F1

  const auto stsb = read_task(write(dir, "stsb.tsv", "sentence1\tsentence2\tscore\na\tb\t1\nc\td\t2\ne\tf\t3\n"));
  const auto targets = bind_labels(stsb, 1, {});
  const auto r = score_task(stsb.spec, targets, std::vector<float>{0.5f, 0.7f, 2.0f}, 1);
  EXPECT_NEAR(r.values.at("spearman"), 1.0, 1e-12);
  EXPECT_EQ(r.primary, r.values.at("pearson"));

  auto spec = mrpc.spec;
  spec.metric = Metric::pearson;
  EXPECT_NE(test::error_message([&] { score_task(spec, gold, logits, 2); }).find("does not apply"), std::string::npos);
  EXPECT_EQ(parse_metric("matthews"), Metric::matthews);
  EXPECT_THROW(parse_metric("auc"), Error);
}
