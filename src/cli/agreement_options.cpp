#include "cli/agreement_options.hpp"

namespace bertscope::cli {

void add_agreement_options(CLI::App& cmd, AgreementArgs& args) {
  cmd.add_option("--data", args.data,
                 "Data file (repeatable): Marvin & Linzen .tsv, BLiMP .jsonl, a template .json, or a GLUE task .tsv "
                 "for a fine-tuned classifier")
      ->required();
  cmd.add_option("--format", args.format, "auto (from the extension and the TSV header), marvin-linzen, blimp, template or task")
      ->check(CLI::IsMember({"auto", "marvin-linzen", "blimp", "template", "task"}));
  cmd.add_option("--exclude", args.exclude,
                 "Drop sentences containing these strings (comma-separated); default: Lu et al.'s \"taxi driver,admire,swim\" "
                 "for Marvin & Linzen, nothing otherwise; none: keep everything");
  cmd.add_flag("--who", args.who, "Replace \"that\" by \"who\" (Lu et al.'s _who variants)");
  cmd.add_flag("--no-period", args.no_period, "Do not append \".\" to Marvin & Linzen sentences");
  cmd.add_flag("--keep-duplicates", args.keep_duplicates, "Keep identical examples (the M&L files repeat some)");
  cmd.add_flag("--truncate", args.truncate, "Truncate over-long classifier inputs instead of failing");
  add_task_options(cmd, args.task);
}

analysis::influence::DataOptions data_options(const AgreementArgs& args) {
  analysis::runs::AgreementChoice c;
  c.format = args.format;
  c.exclude = args.exclude;
  c.who = args.who;
  c.no_period = args.no_period;
  c.keep_duplicates = args.keep_duplicates;
  c.truncate = args.truncate;
  c.task = args.task;
  return analysis::runs::data_options(c);
}

}  // namespace bertscope::cli
