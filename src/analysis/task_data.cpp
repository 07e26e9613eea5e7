#include "analysis/task_data.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <ranges>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/tsv.hpp"

namespace bertscope::analysis {

namespace {

constexpr std::string_view kMetricNames[] = {"accuracy", "f1", "matthews", "pearson", "spearman"};

TaskSpec make_spec(std::string name, std::string text, std::optional<std::string> pair, std::string label,
                   std::vector<std::string> names, Metric metric, bool regression = false, bool header = true) {
  TaskSpec s;
  s.name = std::move(name);
  s.header = header;
  s.text_column = std::move(text);
  s.pair_column = std::move(pair);
  s.label_column = std::move(label);
  s.label_names = std::move(names);
  s.metric = metric;
  s.regression = regression;
  return s;
}

// Most specific first: detection takes the first task whose columns are all in the header.
const std::vector<TaskSpec>& builtins() {
  static const std::vector<TaskSpec> tasks = {
      make_spec("mnli", "sentence1", "sentence2", "gold_label", {"contradiction", "entailment", "neutral"},
                Metric::accuracy),
      make_spec("stsb", "sentence1", "sentence2", "score", {}, Metric::pearson, true),
      make_spec("qqp", "question1", "question2", "is_duplicate", {}, Metric::f1),
      make_spec("mrpc", "#1 String", "#2 String", "Quality", {}, Metric::f1),
      make_spec("qnli", "question", "sentence", "label", {"entailment", "not_entailment"}, Metric::accuracy),
      make_spec("rte", "sentence1", "sentence2", "label", {"entailment", "not_entailment"}, Metric::accuracy),
      make_spec("wnli", "sentence1", "sentence2", "label", {}, Metric::accuracy),
      make_spec("sst2", "sentence", std::nullopt, "label", {}, Metric::accuracy),
      make_spec("cola", "3", std::nullopt, "1", {}, Metric::matthews, false, false),
  };
  return tasks;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::size_t resolve_column(const io::TsvTable& table, const std::string& column) {
  if (!table.header.empty()) return table.column_index(column);
  const auto index = parse_int(column);
  if (!index || *index < 0)
    fail(ErrorKind::input, "{}: the file has no header, so column {} must be a 0-based column number", table.source,
         io::quote(column));
  if (static_cast<std::size_t>(*index) >= table.num_columns())
    fail(ErrorKind::input, "{}: no column {} (0-based); the file has {} columns", table.source, *index,
         table.num_columns());
  return static_cast<std::size_t>(*index);
}

void check_same_size(std::size_t a, std::size_t b) {
  if (a != b) fail(ErrorKind::internal, "metric: {} predictions for {} gold labels", a, b);
}

bool is_default_label_name(const std::string& name, std::int64_t id) { return name == fmt::format("LABEL_{}", id); }

// Ranks 1..n with ties given their average rank (scipy.stats.rankdata "average").
std::vector<double> average_ranks(std::span<const double> x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

std::string_view metric_name(Metric metric) { return kMetricNames[static_cast<int>(metric)]; }

Metric parse_metric(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kMetricNames); ++i)
    if (kMetricNames[i] == name) return static_cast<Metric>(i);
  fail(ErrorKind::input, "unknown metric {}; expected one of {}", io::quote(name), fmt::join(kMetricNames, ", "));
}

nlohmann::json TaskSpec::to_json() const {
  nlohmann::json j = {{"name", name},         {"header", header},          {"text_column", text_column},
                      {"metric", metric_name(metric)}, {"regression", regression}};
  j["pair_column"] = pair_column ? nlohmann::json(*pair_column) : nlohmann::json(nullptr);
  j["label_column"] = label_column ? nlohmann::json(*label_column) : nlohmann::json(nullptr);
  if (!label_names.empty()) j["label_names"] = label_names;
  return j;
}

TaskSpec builtin_task(std::string_view name) {
  for (const auto& t : builtins())
    if (t.name == name) return t;
  fail(ErrorKind::input, "unknown task {}; built-in tasks are {}", io::quote(name), fmt::join(builtin_task_names(), ", "));
}

std::vector<std::string> builtin_task_names() {
  std::vector<std::string> names;
  for (const auto& t : builtins()) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  return names;
}

TaskSpec detect_task(const std::vector<std::string>& header, std::string_view source) {
  auto has = [&](const std::string& c) { return std::find(header.begin(), header.end(), c) != header.end(); };
  for (const auto& t : builtins()) {
    if (!t.header) continue;
    if (has(t.text_column) && (!t.pair_column || has(*t.pair_column)) && has(*t.label_column)) return t;
  }
  // Unlabelled files (GLUE test splits): the same layouts without the label column.
  for (const auto& t : builtins()) {
    if (!t.header) continue;
    if (has(t.text_column) && (!t.pair_column || has(*t.pair_column))) {
      TaskSpec u = t;
      u.label_column.reset();
      return u;
    }
  }
  std::vector<std::string> names;
  for (const auto& h : header) names.push_back(io::quote(h));
  fail(ErrorKind::input,
       "{}: cannot tell the task from the header ({}); give the task name or the text/pair/label columns", source,
       fmt::join(names, ", "));
}

std::vector<AnalysisInput> TaskData::inputs() const {
  std::vector<AnalysisInput> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.push_back(AnalysisInput{e.text, e.pair, {}});
  return out;
}

TaskData read_task(const std::filesystem::path& path, const std::optional<TaskSpec>& spec) {
  const bool header = spec ? spec->header : true;
  const auto table = io::read_tsv(path, io::TsvOptions{header});
  TaskData data;
  data.source = path;
  data.spec = spec ? *spec : detect_task(table.header, path.string());
  const auto text = resolve_column(table, data.spec.text_column);
  constexpr auto none = static_cast<std::size_t>(-1);
  const auto pair = data.spec.pair_column ? resolve_column(table, *data.spec.pair_column) : none;
  const auto label = data.spec.label_column ? resolve_column(table, *data.spec.label_column) : none;
  data.examples.reserve(table.rows.size());
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    TaskExample e;
    e.text = row[text];
    if (pair != none) e.pair = row[pair];
    if (label != none) e.label = row[label];
    e.line = table.lines[r];
    data.examples.push_back(std::move(e));
  }
  return data;
}

TaskLabels bind_labels(const TaskData& data, std::int64_t num_labels, const std::map<std::int64_t, std::string>& id2label) {
  const auto& spec = data.spec;
  const auto source = data.source.string();
  if (!data.has_labels()) fail(ErrorKind::input, "{}: the task has no label column, so it cannot be scored", source);
  TaskLabels out;
  out.regression = spec.regression;
  out.num_classes = num_labels;
  if (spec.regression) {
    if (num_labels != 1)
      fail(ErrorKind::input, "{}: task {} is a regression, but the model has {} outputs (expected 1)", source, spec.name,
           num_labels);
    for (const auto& e : data.examples) {
      const auto v = parse_double(*e.label);
      if (!v) fail(ErrorKind::input, "{}:{}: label {} is not a number (task {} is a regression)", source, e.line,
                   io::quote(*e.label), spec.name);
      out.values.push_back(*v);
    }
    out.class_names = {"score"};
    return out;
  }
  if (num_labels < 2)
    fail(ErrorKind::input, "{}: task {} is a classification, but the model has {} output (a regression head)", source,
         spec.name, num_labels);
  // Names: the config's when it names its labels, else the task's, else the numbers.
  bool config_named = false;
  for (const auto& [id, name] : id2label)
    if (id >= 0 && id < num_labels && !is_default_label_name(name, id)) config_named = true;
  for (std::int64_t k = 0; k < num_labels; ++k) {
    std::string name = std::to_string(k);
    if (config_named && id2label.count(k)) name = id2label.at(k);
    else if (!config_named && static_cast<std::size_t>(k) < spec.label_names.size()) name = spec.label_names[static_cast<std::size_t>(k)];
    out.class_names.push_back(name);
  }
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& e : data.examples) {
    const auto& field = *e.label;
    std::optional<std::int64_t> cls;
    for (std::int64_t k = 0; k < num_labels && !cls; ++k)
      if (lower(out.class_names[static_cast<std::size_t>(k)]) == lower(field)) cls = k;
    if (!cls) {
      const auto n = parse_int(field);
      if (n && *n >= 0 && *n < num_labels) cls = *n;
    }
    if (!cls) {
      std::vector<std::string> names;
      for (std::int64_t k = 0; k < num_labels; ++k)
        names.push_back(fmt::format("{}={}", k, io::quote(out.class_names[static_cast<std::size_t>(k)])));
      fail(ErrorKind::input, "{}:{}: label {} is not one of the model's {} classes ({})", source, e.line,
           io::quote(field), num_labels, fmt::join(names, ", "));
    }
    out.classes.push_back(*cls);
  }
  return out;
}

double accuracy(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold) {
  check_same_size(pred.size(), gold.size());
  if (gold.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::size_t right = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) right += pred[i] == gold[i];
  return static_cast<double>(right) / static_cast<double>(gold.size());
}

double f1_score(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold, std::int64_t positive) {
  check_same_size(pred.size(), gold.size());
  double tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    const bool p = pred[i] == positive, g = gold[i] == positive;
    tp += p && g;
    fp += p && !g;
    fn += !p && g;
  }
  if (tp == 0) return 0.0;
  return 2 * tp / (2 * tp + fp + fn);
}

double matthews(std::span<const std::int64_t> pred, std::span<const std::int64_t> gold) {
  check_same_size(pred.size(), gold.size());
  // Gorodkin's R_K from the confusion matrix, as scikit-learn computes it.
  std::map<std::int64_t, double> t, p;
  double correct = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    t[gold[i]] += 1;
    p[pred[i]] += 1;
    correct += pred[i] == gold[i];
  }
  const double s = static_cast<double>(gold.size());
  double tp = 0, tt = 0, pp = 0;
  for (const auto& [k, v] : t) {
    tt += v * v;
    if (p.count(k)) tp += v * p[k];
  }
  for (const auto& [k, v] : p) pp += v * v;
  const double cov_ytyp = correct * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
  if (cov_ypyp * cov_ytyt == 0) return 0.0;
  return cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);
}

double pearson(std::span<const double> x, std::span<const double> y) {
  check_same_size(x.size(), y.size());
  const double n = static_cast<double>(x.size());
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

double spearman(std::span<const double> x, std::span<const double> y) {
  check_same_size(x.size(), y.size());
  const auto rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

TaskScores score_task(const TaskSpec& spec, const TaskLabels& gold, std::span<const float> outputs, std::int64_t width) {
  const auto n = gold.regression ? gold.values.size() : gold.classes.size();
  if (width <= 0 || outputs.size() != n * static_cast<std::size_t>(width))
    fail(ErrorKind::internal, "score_task: {} outputs of width {} for {} examples", outputs.size(), width, n);
  TaskScores s;
  if (gold.regression) {
    std::vector<double> pred(n);
    for (std::size_t i = 0; i < n; ++i) pred[i] = outputs[i * static_cast<std::size_t>(width)];
    s.values["pearson"] = pearson(pred, gold.values);
    s.values["spearman"] = spearman(pred, gold.values);
  } else {
    std::vector<std::int64_t> pred(n);
    for (std::size_t i = 0; i < n; ++i) {
      const float* row = outputs.data() + i * static_cast<std::size_t>(width);
      pred[i] = std::max_element(row, row + width) - row;
    }
    s.values["accuracy"] = accuracy(pred, gold.classes);
    s.values["matthews"] = matthews(pred, gold.classes);
    if (gold.num_classes == 2) s.values["f1"] = f1_score(pred, gold.classes, 1);
  }
  const std::string primary(metric_name(spec.metric));
  if (!s.values.count(primary))
    fail(ErrorKind::input, "metric {} does not apply to task {} ({}); it has {}", primary, spec.name,
         gold.regression ? "a regression" : fmt::format("{} classes", gold.num_classes),
         fmt::join(std::views::keys(s.values), ", "));
  s.primary = s.values[primary];
  return s;
}

nlohmann::json metric_json(double value) { return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value); }

}  // namespace bertscope::analysis
