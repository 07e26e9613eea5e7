#include "cli/agreement_options.hpp"

namespace bertscope::cli {

void add_agreement_options(CLI::App& cmd, AgreementArgs& args) {
  cmd.add_option("--data", args.data,
                 "Data file (repeatable): Marvin & Linzen .tsv, BLiMP .jsonl, a template .json, or a GLUE task .tsv "
                 "for a fine-tuned classifier")
      ->required();
  cmd.add_option("--format", args.choice.format, "auto (from the extension and the TSV header), marvin-linzen, blimp, template or task")
      ->check(CLI::IsMember({"auto", "marvin-linzen", "blimp", "template", "task"}));
  cmd.add_option("--exclude", args.choice.exclude,
                 "Drop sentences containing these strings (comma-separated); default: Lu et al.'s \"taxi driver,admire,swim\" "
                 "for Marvin & Linzen, nothing otherwise; none: keep everything");
  cmd.add_flag("--who", args.choice.who, "Replace \"that\" by \"who\" (Lu et al.'s _who variants)");
  cmd.add_flag("--no-period", args.choice.no_period, "Do not append \".\" to Marvin & Linzen sentences");
  cmd.add_flag("--keep-duplicates", args.choice.keep_duplicates, "Keep identical examples (the M&L files repeat some)");
  cmd.add_flag("--truncate", args.choice.truncate, "Truncate over-long classifier inputs instead of failing");
  add_task_options(cmd, args.choice.task);
}

}  // namespace bertscope::cli
