// GLUE-style task data: which TSV columns hold the text, the pair and the label, how label
// strings map to a model's classes, and the task's metric (accuracy, F1, Matthews correlation,
// Pearson/Spearman), computed as scikit-learn / scipy compute them.
//
// Built-in tasks use the column names of the GLUE distribution files:
//   sst2   sentence / label                              accuracy
//   cola   no header: 0 source, 1 label, 3 sentence      matthews
//   mrpc   #1 String, #2 String / Quality                f1 (accuracy also reported)
//   qqp    question1, question2 / is_duplicate           f1 (accuracy also reported)
//   stsb   sentence1, sentence2 / score                  pearson (spearman also reported); regression
//   mnli   sentence1, sentence2 / gold_label             accuracy; contradiction, entailment, neutral
//   qnli   question, sentence / label                    accuracy; entailment, not_entailment
//   rte    sentence1, sentence2 / label                  accuracy; entailment, not_entailment
//   wnli   sentence1, sentence2 / label                  accuracy
// Without a task name the columns are detected from the header (see detect_task).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"

namespace bertscope::analysis {

enum class Metric { accuracy, f1, matthews, pearson, spearman };
std::string_view metric_name(Metric metric);
Metric parse_metric(std::string_view name);  // throws Error(input) listing the names

struct TaskSpec {
  std::string name;  // "sst2", ..., or "custom"
  bool header = true;
  // Columns by header name, or by 0-based index written as a number when the file has no header.
  std::string text_column;
  std::optional<std::string> pair_column;
  std::optional<std::string> label_column;  // absent: the file has no labels (e.g. a test split)
  // Label strings in class order (class k is label_names[k]); a label may also be written as
  // its class number. Empty: labels are class numbers 0..K-1.
  std::vector<std::string> label_names;
  bool regression = false;
  Metric metric = Metric::accuracy;

  nlohmann::json to_json() const;
};

// The built-in task of that name; throws Error(input) listing the known names.
TaskSpec builtin_task(std::string_view name);
std::vector<std::string> builtin_task_names();
// The first built-in task whose columns the header has (most specific first); Error(input)
// naming the file and its columns when none fits.
TaskSpec detect_task(const std::vector<std::string>& header, std::string_view source);

struct TaskExample {
  std::string text;
  std::optional<std::string> pair;
  std::optional<std::string> label;  // the label field as written
  std::size_t line = 0;              // 1-based line in the file
};

struct TaskData {
  std::filesystem::path source;
  TaskSpec spec;
  std::vector<TaskExample> examples;

  bool has_labels() const { return spec.label_column.has_value(); }
  std::vector<AnalysisInput> inputs() const;
};

// Reads a TSV file for a task. `spec` empty: detect the task from the header. Wrong column
// counts are Error(format) "FILE:LINE: ..." (from the TSV reader); a missing column names the
// file and the columns it has.
TaskData read_task(const std::filesystem::path& path, const std::optional<TaskSpec>& spec = {});

// Gold labels bound to a model's label set.
struct TaskLabels {
  bool regression = false;
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;  // class k's name
  std::vector<std::int64_t> classes;     // classification: one class per example
  std::vector<double> values;            // regression: one target per example
};

// Binds the data's labels to a model with `num_labels` outputs whose config names them
// `id2label` (may be empty). Class names come from the config when it names its labels (not
// the default "LABEL_k"), else from the task. A label that is neither a class name nor a class
// number below num_labels is Error(input) "FILE:LINE: label "x" is not one of the model's N
// classes (...)"; a regression task needs num_labels == 1 and numeric labels.
TaskLabels bind_labels(const TaskData& data, std::int64_t num_labels,
                       const std::map<std::int64_t, std::string>& id2label);

// Metrics. Predictions and gold have the same length (Error(internal) otherwise).
double accuracy(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold);
// Binary F1 of class `positive` (scikit-learn f1_score; 0 when there are no true or predicted positives).
double f1_score(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold, std::int64_t positive = 1);
// Matthews correlation for any number of classes (scikit-learn matthews_corrcoef; 0 when undefined).
double matthews(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold);
// Pearson and Spearman correlation (Spearman ranks ties by their average rank, as scipy);
// NaN when a side is constant.
double pearson(std::span<const double> x, std::span<const double> y);
double spearman(std::span<const double> x, std::span<const double> y);

// Every metric that applies to the task (classification: accuracy, matthews, and f1 when there
// are two classes; regression: pearson, spearman), plus the task's primary one.
struct TaskScores {
  std::map<std::string, double> values;
  double primary = 0.0;
};
// `outputs`: one row of model outputs per example ([n, classes] logits; argmax is the
// prediction, ties to the lowest class) or [n, 1] for regression.
TaskScores score_task(const TaskSpec& spec, const TaskLabels& gold, std::span<const float> outputs,
                      std::int64_t width);

// JSON for a metric value: NaN becomes null.
nlohmann::json metric_json(double value);

}  // namespace bertscope::analysis
