#include "cli/task_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>


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

}  // namespace bertscope::cli
