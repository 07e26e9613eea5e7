#include "cli/task_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/error.hpp"

namespace bertscope::cli {

void add_task_options(CLI::App& cmd, TaskArgs& args) {
  cmd.add_option("--task", args.task,
                 fmt::format("GLUE task whose file layout, labels and metric to use ({}); default: detected from the "
                             "TSV header",
                             fmt::join(analysis::builtin_task_names(), ", ")));
  cmd.add_option("--text-column", args.text_column, "TSV column with the text (a name, or a 0-based number with --no-header)");
  cmd.add_option("--pair-column", args.pair_column, "TSV column with the second sentence of a pair");
  cmd.add_option("--label-column", args.label_column, "TSV column with the gold label");
  cmd.add_option("--label-names", args.label_names, "Label strings in class order, comma-separated (e.g. entailment,not_entailment)");
  cmd.add_option("--metric", args.metric, "Metric: accuracy, f1, matthews, pearson or spearman (default: the task's)");
  cmd.add_flag("--no-header", args.no_header, "The TSV file has no header row");
  cmd.add_flag("--regression", args.regression, "The label is a number (a one-output regression head)");
}

std::optional<analysis::TaskSpec> task_spec(const TaskArgs& a) {
  const bool custom = !a.text_column.empty() || !a.pair_column.empty() || !a.label_column.empty() ||
                      !a.label_names.empty() || !a.metric.empty() || a.no_header || a.regression;
  if (a.task.empty() && !custom) return std::nullopt;
  analysis::TaskSpec s;
  if (!a.task.empty()) {
    s = analysis::builtin_task(a.task);
  } else {
    if (a.text_column.empty()) fail(ErrorKind::input, "without --task, give at least --text-column");
    s.name = "custom";
    s.label_column.reset();
  }
  if (a.no_header) s.header = false;
  if (!a.text_column.empty()) s.text_column = a.text_column;
  if (!a.pair_column.empty()) s.pair_column = a.pair_column;
  if (!a.label_column.empty()) s.label_column = a.label_column;
  if (!a.label_names.empty()) {
    s.label_names.clear();
    std::size_t start = 0;
    while (true) {
      const auto comma = a.label_names.find(',', start);
      s.label_names.push_back(a.label_names.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (a.regression) {
    s.regression = true;
    if (a.metric.empty()) s.metric = analysis::Metric::pearson;
  }
  if (!a.metric.empty()) s.metric = analysis::parse_metric(a.metric);
  return s;
}

}  // namespace bertscope::cli
